"""Every point of a sweep is evaluated once per run (issue 19 §5).

A sweep used to evaluate some points again after the chunks: the first point to load the
kernels, then the best points, their baselines and the scenario's own point; a refresh-policy
sweep evaluated its best policies and every point once more for its per-year table. An
online-serving point is a whole simulation, so each of these was a simulation run again. The
chain's entry points are counted here, point by point (each evaluated column, by its numbers),
for every kind of point: each point of the space is evaluated exactly once, and the one point
outside it, the scenario's own when an axis leaves out the scenario's value, once too. For
online serving the simulations and the requests they handled are counted as well: one simulation
per point, and as many requests as the points' results say they served or rejected.
"""

import collections
import copy

import numpy as np
import pytest

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.sweep import kinds
from carbonsim.engine.sweep.kinds import kind_of
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import scenario_from_dict
from carbonsim.engine.sweep.space import Space

from test_point_kinds import SCENARIOS  # one scenario of each kind (this folder is on the test path)

#: Axes that leave out one of the scenario's own values (its point is one more to evaluate) ...
OUTSIDE = {
    "server": {"server.host.dram.gb": [256, 512], "datacenter.pue": [1.1, 1.3]},
    "offline": {"workload.batch_size": [1, 8]},
    "online": {"workload.qps": [1.0, 4.0]},
    "lifecycle": {"lifecycle.gpu_refresh_yr": [2, 4]},
    "training": {"training.gpus": [32, 128]},
}
#: ... and axes that hold them all (its point is one of the space's).
INSIDE = {
    "server": {"server.host.dram.gb": [256, 880], "datacenter.pue": [1.1, 1.2, 1.3]},
    "offline": {"workload.batch_size": [1, 4, 8]},
    "online": {"workload.qps": [1.0, 2.0, 4.0]},
    "lifecycle": {"lifecycle.gpu_refresh_yr": [2, 3]},
    "training": {"training.gpus": [64, 128]},
}
#: A second objective and a --best-by column, so that groups and their baselines are asked for.
BEST_BY = {"server": "datacenter.pue", "offline": "workload.batch_size", "online": "workload.qps",
           "lifecycle": "lifecycle.gpu_refresh_yr", "training": "training.gpus"}


class Counter:
    """Counts the points a chain's entry point evaluates (by each column's numbers) and, for online
    serving, the simulations and simulated requests."""

    def __init__(self, monkeypatch, mode: str):
        self.points = collections.Counter()
        self.simulations = self.requests = 0
        entry = f"run_{mode}"
        real = getattr(CarbonChain, entry)

        def counted(chain, mat, *args, **kw):
            for j in range(mat.shape[1]):
                self.points[mat[:, j].tobytes()] += 1
            return real(chain, mat, *args, **kw)

        monkeypatch.setattr(CarbonChain, entry, counted)
        if mode == "online":
            import carbonsim.models.serving as serving
            from carbonsim.models.serving.layout import OUT

            real_many = serving.simulate_many

            def simulate_many(systems, *args, **kw):
                out = real_many(systems, *args, **kw)
                self.simulations += len(systems)
                self.requests += int((out[OUT["served"]] + out[OUT["rejected"]]).sum())
                return out

            monkeypatch.setattr(serving, "simulate_many", simulate_many)


def _requests(metrics) -> int:
    """Requests a point's simulation handled (served or rejected)."""
    return int(np.nansum(np.asarray(metrics["served_requests"], dtype=float))
               + np.nansum(np.asarray(metrics["rejected_requests"], dtype=float)))


@pytest.mark.parametrize("inside", [True, False], ids=["own point swept", "own point outside"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_point_is_evaluated_once(db, tmp_path, monkeypatch, name, inside):
    doc = copy.deepcopy(SCENARIOS[name])
    doc["sweep"]["product"] = (INSIDE if inside else OUTSIDE)[name]
    sc = scenario_from_dict(doc, f"<{name}>")
    kind = kind_of(sc)
    space = Space(sc.doc, sc.product, sc.zipped, kind.points(db, sc.file))
    points = collections.Counter(space.chunk(0, space.size)[:, j].tobytes() for j in range(space.size))
    assert len(points) == space.size  # distinct points: each is recognised by its numbers
    own = space.base.tobytes()
    assert (own in points) == inside

    counter = Counter(monkeypatch, kind.mode)
    r = run_sweep(sc, db, tmp_path / "out", best_by=[BEST_BY[name]], collect=True)
    assert r.points == space.size and (r.best or r.best_by) and r.baseline
    expected = points + (collections.Counter() if inside else collections.Counter({own: 1}))
    assert counter.points == expected
    if name == "online":  # each point's requests simulated once: the table's, and the own point's if apart
        assert counter.simulations == space.size + (0 if inside else 1)
        assert counter.requests == _requests(r.frame) + (0 if inside else _requests(r.baseline)) > 0
    if name == "lifecycle":  # the per-year tables come from the same evaluation
        assert (tmp_path / "out" / "years.csv").exists() and all(g["years"] for g in r.lifecycle["groups"])


@pytest.mark.parametrize("name", ["server", "offline"])
def test_the_kernels_are_loaded_on_a_point_the_run_keeps(db, tmp_path, monkeypatch, name):
    # a compiled sweep loads its kernels on its first point outside the timed evaluation; that
    # point's results are the run's first row, not evaluated again
    for cls in (kinds._ChainKind, kinds.OfflineKind):
        monkeypatch.setattr(cls, "compiled", lambda self, scenario, space, samples=0: True)
    doc = copy.deepcopy(SCENARIOS[name])
    doc["sweep"]["product"] = INSIDE[name]
    sc = scenario_from_dict(doc, f"<{name}>")
    kind = kind_of(sc)
    space = Space(sc.doc, sc.product, sc.zipped, kind.points(db, sc.file))
    counter = Counter(monkeypatch, kind.mode)
    r = run_sweep(sc, db, None, collect=True)
    assert r.warm_points == 1 and sum(counter.points.values()) == space.size == len(r.frame)
    assert set(counter.points.values()) == {1}
