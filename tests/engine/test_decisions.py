"""Decisions a planner can act on (issue 16 §1-3): constraints, held circumstances, Pareto fronts
(engine/sweep/decisions.py, docs/sweep.md "Constraints, circumstances and fronts")."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsim.engine.sweep.decisions import (
    HELD_BY_DEFAULT, Front, least_per_group, non_dominated, pareto_frame,
)
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import load_scenario, scenario_from_dict
from carbonsim.errors import InputError, NoFeasibleAnswer, OptionError

ROOT = Path(__file__).resolve().parents[2]

#: A small offline sweep over two circumstances (grid, PUE) and two choices (batch, TP).
OFFLINE = {
    "name": "decide", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b", "coefficients": "hotcarbon24",
    "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 8,
                 "tensor_parallel": 1},
    "datacenter": {"pue": 1.1, "grid": "coal"},
    "sweep": {"product": {"workload.batch_size": [1, 4, 16, 64, 256], "workload.tensor_parallel": [1, 2, 3, 4],
                          "datacenter.grid": ["coal", "ESP", "wind"], "datacenter.pue": [1.1, 1.4]}},
    "objectives": ["carbon_per_task", "latency", "edp"],
}


def sweep(doc, db, **kw):
    return run_sweep(scenario_from_dict(doc), db, None, collect=True, **kw)


# -- the non-dominated points ------------------------------------------------------------------------
def brute_front(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """O(n^2): the points no other point of their group dominates (all columns minimised)."""
    keep = []
    for i in range(len(values)):
        same = groups == groups[i]
        le = np.all(values <= values[i], axis=1)
        lt = np.any(values < values[i], axis=1)
        if not np.any(same & le & lt):
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


@st.composite
def point_sets(draw):
    n = draw(st.integers(0, 60))
    k = draw(st.sampled_from([2, 3]))
    # small integers: many ties and duplicates, the hard cases of a front
    vals = draw(st.lists(st.lists(st.integers(0, 6), min_size=k, max_size=k), min_size=n, max_size=n))
    groups = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    values = np.asarray(vals, dtype=float).reshape(n, k)
    return values, np.asarray(groups, dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(point_sets())
def test_front_equals_brute_force(case):
    values, groups = case
    assert list(non_dominated(values, groups)) == list(brute_front(values, groups))


@settings(max_examples=100, deadline=None)
@given(point_sets(), st.integers(1, 7), st.randoms(use_true_random=False))
def test_merging_fronts_chunk_by_chunk_in_any_order_gives_the_whole_front(case, parts, rnd):
    # what the sweep does: a front per chunk, joined as chunks arrive (Dask: in any order)
    values, groups = case
    n = len(values)
    cuts = sorted(rnd.sample(range(1, n), min(parts - 1, max(n - 1, 0)))) if n > 1 else []
    chunks = [np.arange(a, b) for a, b in zip([0, *cuts], [*cuts, n])]
    fronts = []
    for idx in chunks:
        keep = idx[non_dominated(values[idx], groups[idx])]
        fronts.append(Front(keep, groups[keep], values[keep], {"i": keep}))
    rnd.shuffle(fronts)
    joined = None
    for f in fronts:
        joined = Front.join(joined, f)
    whole = brute_front(values, groups)
    got = np.sort(joined.index) if joined is not None else np.zeros(0, dtype=np.int64)
    assert list(got) == list(whole)
    if joined is not None:
        assert list(joined.rows["i"]) == list(joined.index)  # rows travel with their points


@pytest.mark.parametrize("k, n_groups, ties", [(2, 25, False), (3, 25, False), (2, 5, False), (3, 5, False),
                                                (2, 3, True), (3, 3, True)])
def test_front_of_random_points_at_size(k, n_groups, ties):
    # 20,000 points, 2 and 3 columns, in 25 groups (no prefilter) or in a few (the pivot prefilter
    # first), real values or small integers (ties, duplicates): against the O(n^2) definition
    rng = np.random.default_rng(7)
    values = rng.integers(0, 30, size=(20_000, k)).astype(float) if ties else rng.lognormal(size=(20_000, k))
    groups = rng.integers(0, n_groups, size=20_000)
    fast = non_dominated(values, groups)
    sample = np.flatnonzero(groups < 2) if n_groups > 5 else np.arange(20_000)
    if len(sample) > 3000:  # brute force on a part of each group (n^2 stays small): a front of a part
        sample = sample[:3000]  # is checked on that part alone
        fast = sample[non_dominated(values[sample], groups[sample])]
    brute = sample[brute_front(values[sample], groups[sample])]
    assert list(fast[np.isin(fast, sample)]) == list(brute)


def test_least_per_group_takes_the_first_on_ties():
    v = np.array([3.0, 1.0, 1.0, np.inf, 2.0])
    g = np.array([0, 0, 0, 1, 1])
    assert least_per_group(v, g) == [(0, 1), (1, 4)]


# -- held circumstances ----------------------------------------------------------------------------
def test_the_best_never_changes_a_held_axis(db):
    r = sweep(OFFLINE, db)
    assert r.decisions["held"] == ["datacenter.grid", "datacenter.pue"]
    assert r.decisions["chosen"] == ["workload.batch_size", "workload.tensor_parallel"]
    assert r.decisions["own"] == {"datacenter.grid": "coal", "datacenter.pue": 1.1}
    df = r.frame
    for b in r.best.values():  # the scenario's own circumstances
        assert (b.params["datacenter.grid"], b.params["datacenter.pue"]) == ("coal", 1.1)
    assert len(r.best_by) == 3 * 3 * 2  # three objectives, every grid x PUE
    for b in r.best_by:  # every group's best is that group's, found by brute force on the table
        assert b.held == {k: b.params[k] for k in ("datacenter.grid", "datacenter.pue")}
        mine = df[df["feasible"] & (df["datacenter.grid"] == b.held["datacenter.grid"])
                  & (df["datacenter.pue"] == b.held["datacenter.pue"])]
        assert b.value == mine[b.column].min()
        base = mine[(mine["workload.batch_size"] == 8)] if 8 in mine["workload.batch_size"].values else None
        assert base is None  # batch 8 is not swept: no saving is claimed against a point never run
        assert b.baseline_note and "workload.batch_size" in b.baseline_note


def test_held_axes_by_default_and_by_choice(db):
    # across every value of a circumstance the best would move to wind; held, it never does
    across = sweep({**OFFLINE, "choose": ["datacenter.grid", "datacenter.pue"]}, db)
    assert across.decisions["held"] == [] and across.best["carbon_per_task"].params["datacenter.grid"] == "wind"
    assert across.decisions["chosen_circumstances"] == ["datacenter.grid", "datacenter.pue"]
    held = sweep(OFFLINE, db)
    assert held.best["carbon_per_task"].params["datacenter.grid"] == "coal"
    # hold: adds an axis (a choice by default) to the circumstances
    more = sweep({**OFFLINE, "hold": ["workload.tensor_parallel"]}, db)
    assert more.decisions["held"] == ["workload.tensor_parallel", "datacenter.grid", "datacenter.pue"]
    assert all(b.params["workload.tensor_parallel"] == 1 for b in more.best.values())


def test_default_circumstances_cover_the_issue_list():
    for path in ("datacenter.grid", "datacenter.region", "datacenter.pue", "period.start_year", "workload.qps",
                 "workload.trace.speedup", "lifecycle.demand.growth_per_yr", "lifecycle.start_year"):
        assert any(path == h or path.startswith(h + ".") for h in HELD_BY_DEFAULT), path


def test_best_by_adds_grouping_axes_to_the_held_ones(db):
    r = sweep(OFFLINE, db, best_by=["workload.tensor_parallel"])
    groups = {tuple(sorted(b.group.items())) for b in r.best_by}
    assert len(groups) == 3 * 2 * 3  # grid x PUE x feasible TP (3 does not divide 32 heads)
    assert all(set(b.group) == {"datacenter.grid", "datacenter.pue", "workload.tensor_parallel"} for b in r.best_by)
    # the scenario's own best is still chosen across TP (a choice), within its own grid and PUE
    own = r.best["carbon_per_task"]
    df = r.frame
    mine = df[df["feasible"] & (df["datacenter.grid"] == "coal") & (df["datacenter.pue"] == 1.1)]
    assert own.value == mine["total_g"].min()


def test_hold_and_choose_are_checked(db):
    with pytest.raises(InputError, match=r"hold\[0\].*not a sweep axis.*swept: workload.batch_size"):
        sweep({**OFFLINE, "hold": ["workload.batchsize"]}, db)
    with pytest.raises(InputError, match=r"choose\[0\].*both held"):
        sweep({**OFFLINE, "hold": ["datacenter.grid"], "choose": ["datacenter.grid"]}, db)
    with pytest.raises(InputError, match=r"hold\[0\]: expected a dotted field path"):
        scenario_from_dict({**OFFLINE, "hold": ["no way"]})


def test_own_held_value_not_swept_gives_group_bests_only(db):
    r = sweep({**OFFLINE, "datacenter": {"pue": 1.1, "grid": "FRA"}}, db)
    assert r.decisions["own"] is None and r.best == {} and len(r.best_by) == 18


# -- constraints ----------------------------------------------------------------------------------------
def test_constraints_change_the_best_and_it_meets_them(db):
    free = sweep(OFFLINE, db)
    assert free.best["carbon_per_task"].metrics["latency_s"] > 2.0  # batch 256: slow
    r = sweep({**OFFLINE, "constraints": {"latency_s": {"max": 2.0}, "throughput_tok_s": {"min": 300}}}, db)
    b = r.best["carbon_per_task"]
    assert b.params != free.best["carbon_per_task"].params
    assert b.metrics["latency_s"] <= 2.0 and b.metrics["throughput_tok_s"] >= 300
    df = r.frame
    ok = df["feasible"] & (df["latency_s"] <= 2.0) & (df["throughput_tok_s"] >= 300)
    assert (df["meets_constraints"] == ok).all()
    mine = df[ok & (df["datacenter.grid"] == "coal") & (df["datacenter.pue"] == 1.1)]
    assert b.value == mine["total_g"].min()
    for g in r.best_by:
        assert g.metrics["latency_s"] <= 2.0 and g.metrics["throughput_tok_s"] >= 300
    c = r.decisions["constraints"]
    assert c["meeting_points"] == int(ok.sum()) and c["feasible_points"] == int(df["feasible"].sum())
    excluded = {"latency_s <= 2": int((df["feasible"] & (df["latency_s"] > 2.0)).sum()),
                "throughput_tok_s >= 300": int((df["feasible"] & (df["throughput_tok_s"] < 300)).sum())}
    assert c["excluded"] == excluded and c["most_excluding"] == max(excluded, key=excluded.get)


def test_groups_where_no_point_meets_say_so_with_their_closest_point(db):
    # wind and coal give the same latency; only carbon per request differs: bound it so that only
    # the clean grids have points within it
    r = sweep({**OFFLINE, "constraints": {"total_g": {"max": 0.0005}}}, db)
    unmet = r.decisions["unmet_groups"]
    assert {u["held"]["datacenter.grid"] for u in unmet} == {"coal"}
    assert "carbon_per_task" not in r.best  # the scenario's own group (coal) has no answer
    for u in unmet:
        assert u["closest"]["values"]["total_g"] > 0.0005
        df = r.frame
        mine = df[df["feasible"] & (df["datacenter.grid"] == "coal")
                  & (df["datacenter.pue"] == u["held"]["datacenter.pue"])]
        assert u["closest"]["values"]["total_g"] == mine["total_g"].min()  # one bound: the least shortfall


def test_no_point_meets_is_no_feasible_answer_and_the_table_is_written(db, tmp_path):
    sc = scenario_from_dict({**OFFLINE, "constraints": {"latency_s": {"max": 0.01}, "total_g": {"max": 1e-6}}})
    with pytest.raises(NoFeasibleAnswer) as e:
        run_sweep(sc, db, tmp_path / "o")
    msg = str(e.value)
    assert "no point meets the constraints" in msg and "the tightest: latency_s <= 0.01" in msg
    assert "the closest point: workload.batch_size=" in msg and "points.parquet" in msg
    df = pd.read_parquet(tmp_path / "o" / "points.parquet")
    assert len(df) == 120 and not df["meets_constraints"].any()
    import json

    meta = json.loads((tmp_path / "o" / "meta.json").read_text())
    assert meta["decisions"]["constraints"]["meeting_points"] == 0


@pytest.mark.parametrize("constraints, words", [
    ({"slo_attainment": {"min": 0.9}}, "'slo_attainment' is not a numeric result column of offline sweeps"),
    ({"infeasible_reason": {"max": 1}}, "'infeasible_reason' is not a numeric result column"),
    ({"latency_s": {"min": 3, "max": 2}}, "min (3) is above max (2)"),
    ({"latency_s": {"max": float("nan")}}, "expected a finite number"),
    ({"latency_s": {}}, "expected min, max or both"),
    ({"latency_s": {"below": 3}}, "unknown key"),
    ({"latency_s": 3}, "expected {min: X}"),
])
def test_bad_constraints_name_the_field(db, constraints, words):
    with pytest.raises(InputError) as e:
        sweep({**OFFLINE, "constraints": constraints}, db)
    assert words in str(e.value) and "constraints." in str(e.value)
    if "numeric result column" in words:
        assert "latency_s" in str(e.value)  # the columns of this kind are listed


def test_constraints_by_set(tmp_path, db):
    import yaml

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(OFFLINE))
    sc = load_scenario(f, sets=["constraints.latency_s.max=2", "hold=[workload.tensor_parallel]"])
    assert sc.constraints == {"latency_s": {"max": 2.0}} and sc.hold == ["workload.tensor_parallel"]
    assert "constraints" not in sc.doc and "hold" not in sc.doc  # decisions, not point fields


# -- Pareto fronts ---------------------------------------------------------------------------------------
def test_the_front_is_per_held_group_among_points_meeting_the_constraints(db):
    doc = {**OFFLINE, "constraints": {"latency_s": {"max": 5.0}}}
    r = sweep(doc, db, pareto=["total_g", "latency_s"])
    df = r.frame
    ok = df["meets_constraints"].to_numpy()
    group = df.groupby(["datacenter.grid", "datacenter.pue"], sort=False).ngroup().to_numpy()
    values = df[["total_g", "latency_s"]].to_numpy()
    idx = np.flatnonzero(ok)
    expect = df.iloc[idx[brute_front(values[idx], group[idx])]]
    got = r.pareto
    key = ["datacenter.grid", "datacenter.pue", "workload.batch_size", "workload.tensor_parallel"]
    assert sorted(map(tuple, got[key].to_numpy().tolist())) == sorted(map(tuple, expect[key].to_numpy().tolist()))
    assert (got["latency_s"] <= 5.0).all() and got["meets_constraints"].all()
    assert r.decisions["pareto"] == {"columns": ["total_g", "latency_s"], "maximise": [], "points": len(got)}
    # the API's front from the points equals the engine's, chunk by chunk
    api = pareto_frame(df, ["total_g", "latency_s"], held=r.decisions["held"])
    pd.testing.assert_frame_equal(api.reset_index(drop=True), got.reset_index(drop=True), check_dtype=False)


def test_throughput_is_maximised_by_its_meaning(db):
    r = sweep(OFFLINE, db, pareto=["total_g", "throughput_tok_s"])
    assert r.decisions["pareto"]["maximise"] == ["throughput_tok_s"]
    coal = r.pareto[(r.pareto["datacenter.grid"] == "coal") & (r.pareto["datacenter.pue"] == 1.1)]
    df = r.frame
    mine = df[df["feasible"] & (df["datacenter.grid"] == "coal") & (df["datacenter.pue"] == 1.1)]
    assert coal["throughput_tok_s"].max() == mine["throughput_tok_s"].max()  # the fastest point is on it
    # a scenario can turn a direction round
    r2 = sweep({**OFFLINE, "pareto": {"columns": ["total_g", "throughput_tok_s"], "minimise": ["throughput_tok_s"]}},
               db)
    assert r2.decisions["pareto"]["maximise"] == []


def test_chunk_size_and_dask_give_the_same_decisions(db, tmp_path):
    pytest.importorskip("distributed")
    doc = {**OFFLINE, "constraints": {"latency_s": {"max": 3.0}}}
    sc = scenario_from_dict(doc)
    one = run_sweep(sc, db, None, pareto=["total_g", "latency_s", "energy_j"])
    small = run_sweep(sc, db, None, chunk=1024, pareto=["total_g", "latency_s", "energy_j"])
    dist = run_sweep(sc, db, tmp_path / "d", chunk=1024, executor="local", pareto=["total_g", "latency_s", "energy_j"])
    for r in (small, dist):
        pd.testing.assert_frame_equal(one.pareto, r.pareto)
        assert r.decisions == one.decisions
        assert {o: (b.index, b.value) for o, b in r.best.items()} == {o: (b.index, b.value) for o, b in one.best.items()}
    assert (tmp_path / "d" / "pareto.parquet").is_file()


def test_a_column_this_kind_does_not_give_is_found_in_the_first_chunk_on_dask_too(db, tmp_path):
    # slo_attainment is a result of online points: the offline table has none (known before the
    # run only as a name some kind gives); the error is the same one line, and nothing is written
    pytest.importorskip("distributed")
    sc = scenario_from_dict({**OFFLINE, "constraints": {"slo_attainment": {"min": 0.9}}})
    with pytest.raises(InputError, match=r"constraints.slo_attainment: 'slo_attainment' is not a numeric result "
                                         r"column of offline sweeps; constraints bound one of: latency_s"):
        run_sweep(sc, db, tmp_path / "o", chunk=1024, executor="local")
    assert not (tmp_path / "o").exists()
    with pytest.raises(OptionError, match="'mean_batch' is not a numeric result column of offline"):
        run_sweep(scenario_from_dict(OFFLINE), db, None, pareto=["total_g", "mean_batch"])


def test_pareto_columns_are_checked(db):
    with pytest.raises(OptionError, match="'slo_attainment' is not a numeric result column of offline"):
        sweep(OFFLINE, db, pareto=["total_g", "slo_attainment"])
    with pytest.raises(OptionError, match="two or three"):
        sweep(OFFLINE, db, pareto=["total_g"])
    with pytest.raises(InputError, match=r"pareto.columns.*two or three"):
        scenario_from_dict({**OFFLINE, "pareto": {"columns": ["a", "b", "c", "d"]}})
    with pytest.raises(InputError, match=r"pareto.maximise\[0\].*not one of"):
        scenario_from_dict({**OFFLINE, "pareto": {"columns": ["total_g", "latency_s"], "maximise": ["energy_j"]}})


# -- the shipped scenarios ------------------------------------------------------------------------------
def test_seed_sharing_best_meets_its_slo_constraint(db):
    sc = load_scenario(ROOT / "scenarios" / "seed-sharing.yaml")
    assert sc.constraints == {"slo_attainment": {"min": 0.99}}
    r = run_sweep(sc, db, None, collect=True)
    assert r.decisions["held"] == ["workload.qps"]
    for b in [*r.best.values(), *r.best_by]:
        assert b.metrics["slo_attainment"] >= 0.99
        assert b.params["workload.qps"] == b.held["workload.qps"]
    # the constraint binds: some points miss it (the synchronous horizontal engine at 4 and 8 requests/s)
    assert 0 < r.decisions["constraints"]["meeting_points"] < r.points


def test_server_configs_best_is_per_grid(db):
    r = run_sweep(load_scenario(ROOT / "scenarios" / "server-configs.yaml"), db, None)
    assert r.best["total_mg_per_s"].params["datacenter.grid"] == "coal"  # the scenario's own grid
    assert {b.held["datacenter.grid"] for b in r.best_by} == {"coal", "gas", "ESP", "wind"}


def test_budget_items_stay_on_the_budgets_grid(db, tmp_path):
    from carbonsim.engine.studies.budget import budget

    # the example plans on FRA: both sweep items run a100x4.yaml on FRA (its grid axis reduced to
    # FRA), and the best point keeps it (issue 16: it used to pick wind and "save" 99 %)
    r = budget(ROOT / "scenarios" / "budget-2025.yaml", db)
    tuned = next(i for i in r.items if i.name == "chat-serving-tuned")
    base = next(i for i in r.items if i.name == "chat-serving")
    assert "datacenter.grid=FRA (held)" in tuned.how and "on FRA (the budget's grid)" in base.how
    s = run_sweep(load_scenario(ROOT / "scenarios" / "a100x4.yaml", ["datacenter.grid=FRA",
                                                                     "sweep.product.datacenter.grid=[FRA]"]),
                  db, None, collect=True)
    assert set(s.frame["datacenter.grid"]) == {"FRA"}
    assert base.kg == pytest.approx(s.baseline["total_g"] * 3.0e7 / 1000, rel=1e-9)
    assert tuned.kg == pytest.approx(s.frame["total_g"].min() * 3.0e7 / 1000, rel=1e-9)
    # without a budget grid, the scenario's own grid (coal) is held, never wind
    f = tmp_path / "b.yaml"
    f.write_text(f"name: b\nbudget_kg: 1.0e6\nitems:\n  - {{name: t, kind: inference, sweep: "
                 f"{ROOT / 'scenarios' / 'a100x4.yaml'}, requests: 1.0e6, point: best}}\n")
    assert "datacenter.grid=coal (held)" in budget(f, db).items[0].how
