"""``carbonsim plan`` (carbonsim/engine/plan): checks of plan files, no-feasible-plan answers, and
what a solved plan promises (every online server's SLO re-checked, the user's grid held,
baselines over the same choices). The MILP itself is checked against brute force in
tests/models/test_plan_milp.py.
"""

from __future__ import annotations

import pytest

from carbonsim.engine.db import default_database
from carbonsim.engine.plan import NoFeasiblePlan, plan
from carbonsim.engine.plan.spec import plan_from_dict
from carbonsim.errors import InputError, NoFeasibleAnswer
from plan_cases import SMALL, small

DB = default_database()

@pytest.fixture(scope="module")
def solved():
    return plan(plan_from_dict(small(), db=DB), DB)


# --- bad plans: one line naming the field (exit 2 on the command line) ---------------------------
@pytest.mark.parametrize("changes, field", [
    ({"services.0.model": "llama-9"}, "services[0].model"),
    ({"services.0.qps": -1.0}, "services[0].qps"),
    ({"services.0.qps": [1.0] * 23}, "services[0].qps"),
    ({"services.0.qps": [0.0] * 24}, "services[0].qps"),
    ({"services.0.slo": None}, "services[0].slo"),
    ({"services.1.deadline_h": None}, "services[1].deadline_h"),
    ({"services.1.tokens_per_day": -5.0}, "services[1].tokens_per_day"),
    ({"services.1.qps": 2.0}, "services[1].qps"),
    ({"candidates.servers": ["no-such-server"]}, "candidates.servers[0]"),
    ({"prices.servers": {"azure-a100-x2": {"gpus_usd": 1, "host_usd": 1}}}, "prices.servers"),
    ({"datacenter.pue": 0.5}, "datacenter.pue"),
    ({"horizon_yr": 0}, "horizon_yr"),
])
def test_bad_plan_names_the_field(changes, field):
    with pytest.raises(InputError) as e:
        plan_from_dict(small(**changes), "p.yaml", db=DB)
    assert e.value.field == field
    assert "\n" not in str(e.value)


def test_set_overrides_are_checked_too():
    with pytest.raises(InputError) as e:
        plan_from_dict(small(), "p.yaml", ["datacenter.pue=9"], db=DB)
    assert e.value.field == "datacenter.pue"


# --- valid questions without a feasible answer (exit 3) ---------------------------------------
def test_an_slo_no_candidate_meets_is_no_feasible_plan():
    spec = plan_from_dict(small(**{"services.0.slo": {"ttft_s": 0.001, "attainment": 0.99}}), "p.yaml", db=DB)
    with pytest.raises(NoFeasiblePlan) as e:
        plan(spec, DB)
    assert isinstance(e.value, NoFeasibleAnswer) and e.value.EXIT_CODE == 3   # not bad input (2)
    assert e.value.field == "services[0].slo" and "no candidate serves chat" in e.value.message


def test_a_deadline_no_server_meets_is_no_feasible_plan():
    """llama-2-70b does not fit two A100s at batch 16: no candidate finishes a batch at all."""
    spec = plan_from_dict(small(**{"services.1.model": "llama-2-70b"}), "p.yaml", db=DB)
    with pytest.raises(NoFeasiblePlan) as e:
        plan(spec, DB)
    assert e.value.field == "services[1].deadline_h"


def test_a_batch_slower_than_its_deadline_is_left_out():
    """The deadline check itself: a batch that takes longer than the deadline is not a candidate."""
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.llm import model_spec
    from carbonsim.engine.plan.candidates import enumerate_candidates, variants
    from carbonsim.engine.plan.capacity import offline_throughput

    spec = plan_from_dict(small(), "p.yaml", db=DB)
    models = {"llama-2-7b": model_spec(DB, "llama-2-7b")}
    _, instances, _ = enumerate_candidates(spec, DB, models)
    offline = [i for i in instances if not i.service.online]
    offline[0].service.spec["deadline_h"] = 1e-6      # bypasses the file check (>= 1 h) on purpose
    got = offline_throughput(DB, load_coefficients(None, DB), spec, variants(spec, DB), offline, models)
    assert got == {} and all("beyond the" in i.reason for i in offline)


# --- a solved plan -------------------------------------------------------------------------------
def test_json_contract(solved):
    d = solved.as_dict()
    for key in ("fleet", "total_kg", "embodied_kg", "operational_kg", "baselines"):
        assert key in d
    assert set(d["baselines"]) == {"performance", "energy", "cost"}
    for b in d["baselines"].values():
        assert {"total_kg", "saving", "ratio", "fleet"} <= set(b)
    for row in d["fleet"]:
        assert {"service", "server", "count", "tensor_parallel", "max_num_seqs", "host_variant",
                "lifetime"} <= set(row)
    assert d["total_kg"] == pytest.approx(d["embodied_kg"] + d["operational_kg"])
    assert d["solver"]["status"] == "optimal"


def test_every_service_is_served(solved):
    fleet = solved.carbon.fleet
    chat = [f for f in fleet if f["service"] == "chat"]
    assert sum(f["capacity_per_server"] * f["count"] for f in chat) >= 3.0 * (1 - 1e-9)
    batch_tokens = sum(f["capacity_per_server"] * f["count"] for f in fleet if f["service"] == "batch") * 8 * 3600 \
        + sum(u["tokens_per_day"] for u in solved.carbon.reuse)
    assert batch_tokens >= 2.0e7 * (1 - 1e-6)


def test_every_online_server_is_rechecked_and_meets_its_slo(solved):
    for p in solved.plans.values():
        rc = p.recheck
        assert rc["simulated"] >= 1 and rc["met"] == rc["simulated"]
        assert rc["min_attainment"] >= 0.9
        assert "simulated again at its assigned load" in rc["statement"]


def test_carbon_plan_is_least_carbon(solved):
    """The program's carbon total of the carbon plan is no more than any baseline's (its objective)."""
    c = solved.carbon.total_kg
    for b in ("performance", "energy", "cost"):
        assert c <= solved.plans[b].total_kg * (1 + 1e-6)


def test_baselines_keep_the_listed_server_where_their_objective_is_indifferent(solved):
    """Fewest GPUs does not care about DRAM or lifetimes: the performance plan keeps each server as listed."""
    for f in solved.plans["performance"].fleet:
        own = DB.get("servers", f["server"])
        assert f["dram_gb"] == pytest.approx(float(own["host"]["dram"]["gb"].value))


def test_the_grid_is_held():
    """The plan's grid is the user's: the same plan on wind reports wind, and less operational carbon."""
    wind = plan(plan_from_dict(small(**{"datacenter.grid": "wind"}), db=DB), DB)
    assert wind.ci_g_per_kwh == pytest.approx(11.0)
    assert wind.carbon.operational_kg < 0.1 * plan(plan_from_dict(small(), db=DB), DB).carbon.operational_kg


def test_reuse_uses_host_cpus_only_for_offline_work_within_the_deadline():
    doc = small(**{"reuse": {"host_cpus": True, "batch_size": [4, 16]},
                   "candidates.servers": ["hgx-h100-x8"], "prices": None,
                   "services.1.tokens_per_day": 2.0e5})
    r = plan(plan_from_dict(doc, db=DB), DB)
    # an 8-GPU H100 server for the chat load has Xeon 8480 hosts with AMX: small offline work goes there
    assert r.carbon.reuse and all(u["service"] == "batch" for u in r.carbon.reuse)
    for u in r.carbon.reuse:
        assert u["cpu_batch_latency_s"] <= 8 * 3600
    assert sum(u["tokens_per_day"] for u in r.carbon.reuse) <= 2.0e5 * (1 + 1e-6)
    with pytest.raises(InputError) as e:
        plan_from_dict(small(**{"reuse": {"host_cpus": True}, "services": SMALL["services"][:1]}), db=DB)
    assert e.value.field == "reuse.host_cpus"
