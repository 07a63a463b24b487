"""The fleet MILP (carbonsim.models.planning.milp) against a brute-force enumeration.

The oracle enumerates every integer part of the program (servers on per candidate and slot; the
servers bought are then the most on in any slot, as every price is non-negative) and solves the
rest, a linear program, with scipy's ``linprog``; its least total is the optimum. Random small
plans with the structure of carbonsim's (embodied carbon per server amortised over a horizon,
idle power per server on, marginal energy per unit served, an offline service that host CPUs
may share) are priced on a coal grid (820 g/kWh) and a wind grid (11 g/kWh), where the optimum
leans on energy and on embodied carbon respectively.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from carbonsim.models.planning.milp import (
    FleetCosts, FleetProblem, build_constraints, objective_vector, prune_dominated, server_bounds, solve_fleet,
)

GRIDS = {"coal": 820.0, "wind": 11.0}
HORIZON_S = 4 * 365 * 86400.0


def random_plan(seed: int, ci: float, idle_on: bool, reuse: bool):
    """A small plan: one online service (and an offline one when ``reuse``), 2-3 candidates."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(1, 3)) if not idle_on else int(rng.integers(1, 4))
    slot_s = np.full(T, 86400.0 / T)
    K_on = 2 if not idle_on else int(rng.integers(2, 4))
    K_off = 1 if reuse else 0
    S = 2 if reuse else 1
    service = np.array([0] * K_on + [1] * K_off)
    cap = np.concatenate([rng.uniform(1.0, 4.0, K_on), rng.uniform(500.0, 2000.0, K_off)])
    demand = np.zeros((S, T))
    demand[0] = rng.uniform(1.0, 7.0, T)
    online = np.array([True] + [False] * (S - 1))
    work = np.zeros(S)
    window = np.ones((len(cap), T), bool)
    if reuse:
        work[1] = rng.uniform(0.5, 2.0) * cap[-1] * 86400.0
        if T > 1:
            window[-1, 1:] = False   # the offline GPUs may only work in slot 0
    reuse_host = np.array([0, 1]) if reuse else np.zeros(0, np.int64)
    reuse_service = np.array([1, 1]) if reuse else np.zeros(0, np.int64)
    reuse_cap = rng.uniform(200.0, 900.0, 2) if reuse else np.zeros(0)
    problem = FleetProblem(service, cap, window, online, demand, work, slot_s, reuse_host, reuse_service, reuse_cap,
                           idle_on=idle_on)
    # prices: embodied kg over the horizon; idle W; J per unit served
    K = len(cap)
    emb = rng.uniform(500.0, 3000.0, K)
    idle_w = rng.uniform(300.0, 1500.0, K)
    j_per_unit = np.concatenate([rng.uniform(100.0, 600.0, K_on), rng.uniform(0.5, 2.0, K_off)])
    kg_per_j = ci / 3.6e9
    days = HORIZON_S / 86400.0
    on = idle_w[:, None] * slot_s[None, :] * days * kg_per_j
    unit = np.repeat((j_per_unit * kg_per_j * days)[:, None], T, axis=1) * slot_s[None, :]
    r_unit = (np.repeat((rng.uniform(1.0, 4.0, len(reuse_cap)) * kg_per_j * days)[:, None], T, axis=1)
              * slot_s[None, :]) if reuse else np.zeros((0, T))
    return problem, FleetCosts(emb, on, unit, r_unit)


def levelled_plan(seed: int, ci: float):
    """One online service, two candidates, one of them levelled (power concave in its load)."""
    rng = np.random.default_rng(100 + seed)
    T = int(rng.integers(1, 3))
    slot_s = np.full(T, 86400.0 / T)
    levels = np.array([0.4, 1.0])
    cap = rng.uniform(1.0, 3.0, 2)
    problem = FleetProblem([0, 0], cap, np.ones((2, T), bool), [True], [rng.uniform(1.0, 4.0, T)], [0.0], slot_s,
                           load_levels=levels, levelled=[True, False])
    kg_per_j = ci / 3.6e9
    days = HORIZON_S / 86400.0
    emb = rng.uniform(500.0, 3000.0, 2)
    idle_w = rng.uniform(300.0, 1500.0, 2)
    on = idle_w[:, None] * slot_s[None, :] * days * kg_per_j
    # the levelled candidate: a concave curve (0.4 of capacity draws 70 % of the full-load increment)
    full_w = rng.uniform(200.0, 800.0)
    level = np.zeros((2, T, 2))
    level[0] = np.array([0.7 * full_w, full_w])[None, :] * slot_s[:, None] * days * kg_per_j
    unit = np.zeros((2, T))
    unit[1] = rng.uniform(100.0, 600.0) * slot_s * days * kg_per_j
    return problem, FleetCosts(emb, on, unit, np.zeros((0, T)), level)


def brute_force(problem: FleetProblem, costs: FleetCosts) -> float:
    """Least total over every integer assignment of servers on (module docstring)."""
    from scipy.optimize import linprog

    p = problem
    K, T = p.n_candidates, p.n_slots
    n_max = server_bounds(p).astype(int)
    A, lb, ub, lower, upper, integ = build_constraints(p, n_max)
    A = A.toarray()
    c = objective_vector(p, costs)
    ints = np.flatnonzero(integ)
    cont = np.flatnonzero(integ == 0)
    best = np.inf
    # the integer variables: n (idle on) or a[k, t] with n = max_t a[k, t] (idle off)
    if p.n_levelled:    # idle on: servers bought, and per slot the servers at each level
        choices = [range(m + 1) for m in n_max] + [range(n_max[k] + 1) for k in np.flatnonzero(p.levelled)
                                                   for _ in range(T * p.n_levels)]
    elif p.idle_on:
        choices = [range(m + 1) for m in n_max]
    else:
        choices = [range(n_max[k] + 1) for k in range(K) for _ in range(T)]
    for combo in itertools.product(*choices):
        v_int = np.zeros(len(c))
        if p.n_levelled:
            v_int[:K] = combo[:K]
            v_int[len(c) - (len(combo) - K):] = combo[K:]
        elif p.idle_on:
            v_int[:K] = combo
        else:
            a = np.array(combo, float).reshape(K, T)
            v_int[:K] = a.max(axis=1)
            v_int[K:K + K * T] = a.ravel()
        fixed_cost = c[ints] @ v_int[ints]
        if fixed_cost >= best:
            continue
        # rows: lb <= A_int v_int + A_cont v_cont <= ub
        rhs = A[:, ints] @ v_int[ints]
        A_c = A[:, cont]
        A_ub, b_ub = [], []
        for i in range(len(lb)):
            if np.isfinite(ub[i]):
                A_ub.append(A_c[i])
                b_ub.append(ub[i] - rhs[i])
            if np.isfinite(lb[i]):
                A_ub.append(-A_c[i])
                b_ub.append(rhs[i] - lb[i])
        bounds = list(zip(lower[cont], upper[cont]))
        res = linprog(c[cont], A_ub=np.array(A_ub), b_ub=np.array(b_ub), bounds=bounds, method="highs")
        if res.status == 0:
            best = min(best, fixed_cost + res.fun)
    return best


CASES = [(seed, grid, idle_on, reuse) for seed in range(3) for grid in GRIDS
         for idle_on, reuse in ((True, False), (True, True), (False, False))]


@pytest.mark.parametrize("seed,grid,idle_on,reuse", CASES)
def test_milp_equals_brute_force(seed, grid, idle_on, reuse):
    problem, costs = random_plan(seed, GRIDS[grid], idle_on, reuse)
    sol = solve_fleet(problem, [costs], mip_rel_gap=1e-9)
    assert sol.status == "optimal"
    oracle = brute_force(problem, costs)
    # both solve the same program exactly (HiGHS to a relative gap of 1e-9, linprog to its
    # default feasibility tolerance 1e-7); 1e-6 relative is the tolerance of the two solvers
    assert sol.objectives[0] == pytest.approx(oracle, rel=1e-6)
    # the solution meets every demand
    on = problem.online
    for s in np.flatnonzero(on):
        served = sol.x[problem.service == s].sum(axis=0)
        assert np.all(served >= problem.demand[s] * (1 - 1e-7))
    assert np.all(sol.x <= problem.cap[:, None] * sol.a + 1e-6)
    assert np.all(sol.a <= sol.n[:, None])


@pytest.mark.parametrize("seed,grid", [(seed, grid) for seed in range(2) for grid in GRIDS])
def test_levelled_milp_equals_brute_force(seed, grid):
    """Servers at load levels (concave power): the MILP's optimum is the enumeration's, and a server
    is never charged less than the level that covers its load."""
    problem, costs = levelled_plan(seed, GRIDS[grid])
    sol = solve_fleet(problem, [costs], mip_rel_gap=1e-9)
    assert sol.status == "optimal"
    assert sol.objectives[0] == pytest.approx(brute_force(problem, costs), rel=1e-6)
    lam = problem.load_levels
    assert np.all(sol.x[0] <= problem.cap[0] * (sol.y[0] @ lam) + 1e-6)
    assert np.all(sol.y[0].sum(axis=1) <= sol.n[0])


@pytest.mark.parametrize("grid", list(GRIDS))
def test_pruning_keeps_the_optimum(grid):
    """Adding dominated copies (dearer in one term, or smaller) changes neither optimum nor plan cost."""
    problem, costs = random_plan(7, GRIDS[grid], True, True)
    K = problem.n_candidates
    # copies of candidate 0: one with 10 % more embodied carbon, one with 20 % less capacity
    dup = np.array([0, 0])
    cap = np.concatenate([problem.cap, problem.cap[dup] * np.array([1.0, 0.8])])
    big = FleetProblem(np.concatenate([problem.service, problem.service[dup]]), cap,
                       np.concatenate([problem.window, problem.window[dup]]), problem.online, problem.demand,
                       problem.work, problem.slot_s, problem.reuse_host, problem.reuse_service, problem.reuse_cap,
                       problem.reuse_window, problem.idle_on)
    big_costs = FleetCosts(np.concatenate([costs.fixed, costs.fixed[dup] * np.array([1.1, 1.0])]),
                           np.concatenate([costs.on, costs.on[dup]]), np.concatenate([costs.unit, costs.unit[dup]]),
                           costs.reuse_unit)
    keep = prune_dominated(big, [big_costs])
    assert not keep[K] and not keep[K + 1]
    sub, r_keep = big.subset(keep)
    a = solve_fleet(big, [big_costs], mip_rel_gap=1e-9).objectives[0]
    b = solve_fleet(sub, [big_costs.subset(keep, r_keep)], mip_rel_gap=1e-9).objectives[0]
    assert a == pytest.approx(b, rel=1e-7)


def test_lexicographic_second_level_breaks_ties():
    """Two candidates equal in the first objective: the second level picks the one it prefers."""
    problem = FleetProblem([0, 0], [2.0, 2.0], np.ones((2, 1), bool), [True], [[3.0]], [0.0], [86400.0])
    first = FleetCosts([1.0, 1.0], np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((0, 1)))
    second = FleetCosts([5.0, 1.0], np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((0, 1)))
    sol = solve_fleet(problem, [first, second], mip_rel_gap=1e-9)
    assert list(sol.n) == [0, 2]
    assert sol.objectives == pytest.approx([2.0, 2.0])


def test_infeasible_plan_is_reported():
    """An offline service whose only candidate may not work in any slot has no plan."""
    problem = FleetProblem([0], [10.0], np.zeros((1, 2), bool), [False], np.zeros((1, 2)), [1000.0],
                           [43200.0, 43200.0])
    sol = solve_fleet(problem, [FleetCosts([1.0], np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((0, 2)))])
    assert not sol.feasible and sol.status == "infeasible"
