r"""The mixed-integer linear program of a fleet plan (layer 1): arrays in, integer counts out.

A plan serves services :math:`s` (online: a request rate :math:`q_{s,t}` in every time slot
:math:`t` of a day; offline: :math:`W_s` units of work a day, done inside a window of slots)
with **candidates** :math:`k`: one server configuration serving one service at one setting, with
a capacity :math:`c_k` per server (requests/s or tokens/s at the service's target). Host CPUs of
installed servers may also do offline work (**reuse** options :math:`r`, each on the hosts of
one candidate :math:`h_r` for one offline service, :math:`c_r` per host).

Variables (all :math:`\ge 0`):

* :math:`n_k \in \mathbb{Z}` servers of candidate :math:`k` installed (bought for the peak);
* :math:`a_{k,t} \in \mathbb{Z}` of them powered on in slot :math:`t` (``idle_on``: every installed
  server stays on, :math:`a_{k,t} = n_k`, and these variables are not created);
* :math:`x_{k,t}` load served by candidate :math:`k` in slot :math:`t` [units/s];
* :math:`y_{k,t,j} \in \mathbb{Z}` servers of a *levelled* candidate running at load level
  :math:`\lambda_j` of their capacity in slot :math:`t` (below);
* :math:`z_{r,t}` offline work done by reuse option :math:`r` in slot :math:`t` [units/s].

A levelled candidate's power is not linear in its load (an online server's power rises steeply
with its first requests and then flattens), so its servers run at one of the load levels
:math:`\lambda_1 < \dots < \lambda_L = 1` and pay that level's price: exact at the levels, an
upper bound between them (a concave power curve lies below its next level's value).

Constraints:

.. math::

    \sum_{k \in s} x_{k,t} &\ge q_{s,t}  &&\text{online service } s, \text{ slot } t\\
    \sum_t \Delta_t \Big(\sum_{k \in s} x_{k,t} + \sum_{r \in s} z_{r,t}\Big) &\ge W_s
        &&\text{offline service } s \text{ (work a day)}\\
    x_{k,t} &\le c_k\, a_{k,t}  &&\text{capacity}\\
    x_{k,t} &\le c_k \sum_j \lambda_j\, y_{k,t,j}, \quad \sum_j y_{k,t,j} \le a_{k,t}
        &&\text{(levelled candidates, instead)}\\
    \sum_{r: h_r = k} z_{r,t} / c_r &\le a_{k,t}  &&\text{host CPU time}\\
    a_{k,t} &\le n_k, \quad x_{k,t} = 0 \text{ outside } k\text{'s window}, \quad z_{r,t} = 0
        \text{ outside } r\text{'s window}

with :math:`\Delta_t` the seconds slot :math:`t` lasts each day. An objective (a
:class:`FleetCosts`) prices every variable over the plan's horizon:

.. math::

    \min \sum_k F_k n_k + \sum_{k,t} O_{k,t} a_{k,t} + \sum_{k,t} U_{k,t} x_{k,t}
         + \sum_{k,t,j} Y_{k,t,j} y_{k,t,j} + \sum_{r,t} V_{r,t} z_{r,t}

(:math:`F`: per server installed, e.g. amortised embodied carbon; :math:`O`: per server on during
slot :math:`t` every day of the horizon, e.g. idle power's carbon; :math:`U, V`: per unit/s
served in slot :math:`t` every day of the horizon, e.g. the marginal energy's carbon; :math:`Y`:
per server at a load level beyond its idle price). Several
objectives are solved **lexicographically** (:func:`solve_fleet`): each later one is minimised
among the optima of the earlier ones.

Every coefficient is non-negative, so a server beyond what any slot needs never helps, which
bounds :math:`n_k` (:func:`server_bounds`), and a candidate that is no better than another in
any respect can be dropped without changing the optimum (:func:`prune_dominated`).
HiGHS solves the program through ``scipy.optimize.milp`` (Huangfu and Hall, Math. Prog. Comp.
2018). ``tests/models/test_plan_milp.py`` checks the optimum against a brute-force enumeration
of the integer variables on small random plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FleetProblem:
    r"""The constraints of a fleet plan as arrays (module docstring).

    Attributes
    ----------
    service : int ndarray, shape (K,)
        Service each candidate serves.
    cap : ndarray, shape (K,)
        Capacity of one server of the candidate [units/s], > 0.
    window : bool ndarray, shape (K, T)
        Slots the candidate may serve in.
    online : bool ndarray, shape (S,)
        Services with a rate per slot (True) or work per day (False).
    demand : ndarray, shape (S, T)
        Online services' rate in each slot [units/s] (offline rows unused).
    work : ndarray, shape (S,)
        Offline services' work a day [units] (online entries unused).
    slot_s : ndarray, shape (T,)
        Seconds each slot lasts in a day.
    reuse_host, reuse_service : int ndarray, shape (R,)
        Candidate whose hosts run the option, and the offline service it serves.
    reuse_cap : ndarray, shape (R,)
        Work rate one host does for that service [units/s], > 0.
    reuse_window : bool ndarray, shape (R, T)
    idle_on : bool
        Installed servers stay on in every slot (no ``a`` variables).
    uniform_windows : bool
        Every price is the same in every slot of a window (the engine's plans: one grid intensity all
        day), so offline work can always be spread evenly over its window; this tightens
        :func:`server_bounds`.
    load_levels : ndarray, shape (L,)
        Load levels :math:`\lambda_j` (fractions of capacity, increasing, the last 1).
    levelled : bool ndarray, shape (K,)
        Candidates whose servers run at the load levels (default: none).
    """

    service: np.ndarray
    cap: np.ndarray
    window: np.ndarray
    online: np.ndarray
    demand: np.ndarray
    work: np.ndarray
    slot_s: np.ndarray
    reuse_host: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reuse_service: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reuse_cap: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reuse_window: np.ndarray | None = None
    idle_on: bool = True
    uniform_windows: bool = False
    load_levels: np.ndarray | None = None
    levelled: np.ndarray | None = None

    def __post_init__(self):
        self.service = np.asarray(self.service, dtype=np.int64)
        self.cap = np.asarray(self.cap, dtype=float)
        self.window = np.asarray(self.window, dtype=bool)
        self.online = np.asarray(self.online, dtype=bool)
        self.demand = np.asarray(self.demand, dtype=float)
        self.work = np.asarray(self.work, dtype=float)
        self.slot_s = np.asarray(self.slot_s, dtype=float)
        self.reuse_host = np.asarray(self.reuse_host, dtype=np.int64)
        self.reuse_service = np.asarray(self.reuse_service, dtype=np.int64)
        self.reuse_cap = np.asarray(self.reuse_cap, dtype=float)
        if self.reuse_window is None:
            self.reuse_window = np.ones((len(self.reuse_host), self.n_slots), dtype=bool)
        self.reuse_window = np.asarray(self.reuse_window, dtype=bool).reshape(len(self.reuse_host), self.n_slots)
        self.load_levels = np.zeros(0) if self.load_levels is None else np.asarray(self.load_levels, dtype=float)
        if self.levelled is None or not len(self.load_levels):
            self.levelled = np.zeros(len(self.cap), dtype=bool)
        self.levelled = np.asarray(self.levelled, dtype=bool)

    @property
    def n_candidates(self) -> int:
        return len(self.cap)

    @property
    def n_slots(self) -> int:
        return len(self.slot_s)

    @property
    def n_reuse(self) -> int:
        return len(self.reuse_host)

    @property
    def n_levels(self) -> int:
        return len(self.load_levels)

    @property
    def n_levelled(self) -> int:
        return int(self.levelled.sum())

    def subset(self, keep: np.ndarray) -> tuple["FleetProblem", np.ndarray]:
        """The problem with only the candidates ``keep`` (bool, shape (K,)) and their reuse options,
        and the kept reuse options' indices."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        r_keep = keep[self.reuse_host] if self.n_reuse else np.zeros(0, dtype=bool)
        sub = FleetProblem(self.service[keep], self.cap[keep], self.window[keep], self.online, self.demand,
                           self.work, self.slot_s, new_index[self.reuse_host[r_keep]], self.reuse_service[r_keep],
                           self.reuse_cap[r_keep], self.reuse_window[r_keep], self.idle_on, self.uniform_windows,
                           self.load_levels, self.levelled[keep])
        return sub, np.flatnonzero(r_keep)


@dataclass
class FleetCosts:
    """One objective's prices (module docstring), all non-negative.

    Attributes
    ----------
    fixed : ndarray, shape (K,)
        Per server installed over the horizon.
    on : ndarray, shape (K, T)
        Per server powered on in slot t, every day of the horizon.
    unit : ndarray, shape (K, T)
        Per unit/s served in slot t, every day of the horizon.
    reuse_unit : ndarray, shape (R, T)
        Per unit/s of reused host CPU work in slot t, every day of the horizon.
    level : ndarray, shape (K, T, L), optional
        Per server running at load level j in slot t, every day of the horizon, beyond ``on``
        (used for levelled candidates; default zeros).
    """

    fixed: np.ndarray
    on: np.ndarray
    unit: np.ndarray
    reuse_unit: np.ndarray
    level: np.ndarray | None = None

    def __post_init__(self):
        self.fixed = np.asarray(self.fixed, dtype=float)
        self.on = np.asarray(self.on, dtype=float)
        self.unit = np.asarray(self.unit, dtype=float)
        self.reuse_unit = np.asarray(self.reuse_unit, dtype=float)
        if self.level is None:
            self.level = np.zeros((*self.on.shape, 0))
        self.level = np.asarray(self.level, dtype=float)
        for name in ("fixed", "on", "unit", "reuse_unit", "level"):
            v = getattr(self, name)
            if v.size and (not np.all(np.isfinite(v)) or np.any(v < 0)):
                raise ValueError(f"FleetCosts.{name} must be finite and non-negative")

    def subset(self, keep: np.ndarray, reuse_keep: np.ndarray) -> "FleetCosts":
        return FleetCosts(self.fixed[keep], self.on[keep], self.unit[keep], self.reuse_unit[reuse_keep],
                          self.level[keep])


@dataclass
class FleetSolution:
    """A solved plan.

    Attributes
    ----------
    n : int ndarray (K,); a : int ndarray (K, T); x : ndarray (K, T); z : ndarray (R, T)
        Servers installed, servers on, load served, reused host work (module docstring).
    status : str
        ``optimal``, ``time_limit`` (best found when the time ran out), ``infeasible`` or ``error``.
    message : str
        The solver's message.
    gap : float
        Relative gap between the solution and the solver's bound (0 when proven optimal; the
        last objective level's).
    objectives : list of float
        Each level's value at the solution.
    """

    n: np.ndarray
    a: np.ndarray
    x: np.ndarray
    z: np.ndarray
    status: str
    message: str
    gap: float
    objectives: list[float]
    y: np.ndarray | None = None     # (K, T, L): servers at each load level (levelled candidates)

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "time_limit")


def server_bounds(problem: FleetProblem, costs: FleetCosts | None = None) -> np.ndarray:
    r"""Most servers of each candidate an optimal plan needs (every price is non-negative).

    A server's GPUs and its host CPU are separate resources, so in slot :math:`t` a candidate needs
    :math:`\max(x_{k,t}/c_k,\ \sum_r z_{r,t}/c_r)` servers on; more cost without serving. In any
    slot it serves at most its service's demand, :math:`\max_t q_{s,t}/c_k` servers (offline:
    all the day's work in its shortest slot, :math:`W_s/(\Delta_{min} c_k)`, or spread over the
    window, :math:`W_s/(\sum_{t \in w} \Delta_t\, c_k)`, when prices are uniform within windows:
    spreading then costs the same and needs fewer servers); its reuse options add up likewise.

    With the objective's ``costs``, servers a candidate would buy for its host CPUs alone are
    bounded too: beyond what its own service needs, each costs at least :math:`F_k + \sum_t O_{k,t}`
    (idle on; :math:`F_k` otherwise), while all of an offline service's work done by its cheapest
    GPU candidate alone costs :math:`C_s`; more than :math:`\sum_s \lfloor C_s / (F_k + \dots)
    \rfloor` such servers would cost more than moving their work to GPUs, so no optimum has them.
    """
    p = problem
    dt = float(p.slot_s.min())

    def span(window_row):
        return float(p.slot_s[window_row].sum()) if p.uniform_windows else dt

    need = np.zeros(p.n_candidates)
    for k in range(p.n_candidates):
        s = p.service[k]
        if p.online[s]:
            need[k] = p.demand[s].max() / p.cap[k]
        elif p.window[k].any():
            need[k] = p.work[s] / (span(p.window[k]) * p.cap[k])
    need = np.ceil(need - 1e-9).clip(min=0.0)
    cpu = np.zeros(p.n_candidates)
    for r in range(p.n_reuse):
        if p.reuse_window[r].any():
            cpu[p.reuse_host[r]] += p.work[p.reuse_service[r]] / (span(p.reuse_window[r]) * p.reuse_cap[r])
    cpu = np.ceil(cpu - 1e-9).clip(min=0.0)
    if costs is not None and p.n_reuse:
        alone = {}   # offline service -> cost of all its work on its cheapest GPU candidate alone
        for s in np.flatnonzero(~p.online):
            best = np.inf
            for k in np.flatnonzero((p.service == s) & p.window.any(axis=1)):
                w = p.window[k] if p.uniform_windows else p.window[k] & (p.slot_s == dt)
                sp = float(p.slot_s[w].sum()) if p.uniform_windows else dt
                n = np.ceil(p.work[s] / (sp * p.cap[k]) - 1e-9)
                on = costs.on[k].sum() if p.idle_on else costs.on[k][w].sum()
                best = min(best, n * (costs.fixed[k] + on) + float(costs.unit[k][w].max()) * p.work[s] / sp)
            alone[s] = best
        per = costs.fixed + (costs.on.sum(axis=1) if p.idle_on else 0.0)
        for k in np.unique(p.reuse_host):
            extra = 0.0
            for s in np.unique(p.reuse_service[p.reuse_host == k]):
                extra += np.floor(alone[s] / per[k]) if per[k] > 0 and np.isfinite(alone[s]) else np.inf
            cpu[k] = min(cpu[k], need[k] + extra)
    return np.maximum(need, cpu)


def _layout(problem: FleetProblem):
    """Column offsets of the variable blocks: n | a (idle off) | x | z | y (levelled candidates,
    in their order, then slot, then level)."""
    K, T, R = problem.n_candidates, problem.n_slots, problem.n_reuse
    n0 = 0
    a0 = K
    x0 = a0 + (0 if problem.idle_on else K * T)
    z0 = x0 + K * T
    y0 = z0 + R * T
    return n0, a0, x0, z0, y0 + problem.n_levelled * T * problem.n_levels


def _y_start(problem: FleetProblem) -> int:
    n0, a0, x0, z0, nv = _layout(problem)
    return z0 + problem.n_reuse * problem.n_slots


def objective_vector(problem: FleetProblem, costs: FleetCosts) -> np.ndarray:
    """The objective's coefficients over the variables (n | a | x | z)."""
    K, T = problem.n_candidates, problem.n_slots
    n0, a0, x0, z0, nv = _layout(problem)
    c = np.zeros(nv)
    if problem.idle_on:
        c[n0:n0 + K] = costs.fixed + costs.on.sum(axis=1)
    else:
        c[n0:n0 + K] = costs.fixed
        c[a0:a0 + K * T] = costs.on.ravel()
    c[x0:x0 + K * T] = costs.unit.ravel()
    y0 = _y_start(problem)
    c[z0:y0] = costs.reuse_unit.ravel()
    if problem.n_levelled and costs.level.shape[-1] == problem.n_levels:   # else no level prices (zeros)
        c[y0:nv] = costs.level[problem.levelled].ravel()
    return c


def build_constraints(problem: FleetProblem, n_max: np.ndarray | None = None):
    """The program's rows and bounds.

    Returns
    -------
    A : scipy.sparse.csr_array
    lb, ub : ndarray
        Row bounds.
    lower, upper : ndarray
        Variable bounds.
    integrality : ndarray
        1 for the integer variables (n, a, y), 0 otherwise.
    """
    from scipy.sparse import coo_array

    p = problem
    K, T, R = p.n_candidates, p.n_slots, p.n_reuse
    n0, a0, x0, z0, nv = _layout(p)
    n_max = server_bounds(p) if n_max is None else np.asarray(n_max, float)

    def u_col(k, t):
        return (n0 + k) if p.idle_on else (a0 + k * T + t)

    rows, cols, vals, lb, ub = [], [], [], [], []
    row = 0
    kk, tt = np.meshgrid(np.arange(K), np.arange(T), indexing="ij")
    x_col = x0 + kk * T + tt
    # online demand: sum_k x[k, t] >= q[s, t]
    for s in np.flatnonzero(p.online):
        ks = np.flatnonzero(p.service == s)
        for t in range(T):
            if p.demand[s, t] <= 0:
                continue
            rows += [row] * len(ks)
            cols += list(x_col[ks, t])
            vals += [1.0] * len(ks)
            lb.append(p.demand[s, t])
            ub.append(np.inf)
            row += 1
    # offline work: sum_t dt (sum_k x + sum_r z) >= W
    for s in np.flatnonzero(~p.online):
        if p.work[s] <= 0:
            continue
        ks = np.flatnonzero(p.service == s)
        rs = np.flatnonzero(p.reuse_service == s) if R else np.zeros(0, dtype=np.int64)
        for t in range(T):
            rows += [row] * (len(ks) + len(rs))
            cols += list(x_col[ks, t]) + [z0 + r * T + t for r in rs]
            vals += [p.slot_s[t]] * (len(ks) + len(rs))
        lb.append(p.work[s])
        ub.append(np.inf)
        row += 1
    # capacity: x[k, t] - cap_k u[k, t] <= 0 (inside the window; outside x is fixed at 0)
    ki, ti = np.nonzero(p.window & ~p.levelled[:, None])
    m = len(ki)
    r_idx = row + np.arange(m)
    rows += list(r_idx) + list(r_idx)
    cols += list(x_col[ki, ti]) + [u_col(k, t) for k, t in zip(ki, ti)]
    vals += [1.0] * m + list(-p.cap[ki])
    lb += [-np.inf] * m
    ub += [0.0] * m
    row += m
    # levelled candidates: x[k, t] - cap_k sum_j lambda_j y[k, t, j] <= 0 and sum_j y[k, t, j] - u[k, t] <= 0
    L = p.n_levels
    y0 = _y_start(p)
    for i, k in enumerate(np.flatnonzero(p.levelled)):
        for t in range(T):
            if not p.window[k, t]:
                continue
            yc = [y0 + (i * T + t) * L + j for j in range(L)]
            rows += [row] * (1 + L) + [row + 1] * (L + 1)
            cols += [x_col[k, t]] + yc + yc + [u_col(k, t)]
            vals += [1.0] + list(-p.cap[k] * p.load_levels) + [1.0] * L + [-1.0]
            lb += [-np.inf, -np.inf]
            ub += [0.0, 0.0]
            row += 2
    # host CPU time: sum_{r on host k} z[r, t] / cap_r - u[k, t] <= 0
    if R:
        for k in np.unique(p.reuse_host):
            rs = np.flatnonzero(p.reuse_host == k)
            for t in range(T):
                on = [r for r in rs if p.reuse_window[r, t]]
                if not on:
                    continue
                rows += [row] * (len(on) + 1)
                cols += [z0 + r * T + t for r in on] + [u_col(k, t)]
                vals += [1.0 / p.reuse_cap[r] for r in on] + [-1.0]
                lb.append(-np.inf)
                ub.append(0.0)
                row += 1
    # cover rows (implied by the rows above, stated so that the solver's cuts see them): the servers
    # bought can serve each online service's peak, and each offline service's work within its window
    for s in np.flatnonzero(p.online):
        ks = np.flatnonzero(p.service == s)
        if p.demand[s].max() > 0 and len(ks):
            rows += [row] * len(ks)
            cols += list(n0 + ks)
            vals += list(p.cap[ks])
            lb.append(float(p.demand[s].max()))
            ub.append(np.inf)
            row += 1
    for s in np.flatnonzero(~p.online):
        ks = np.flatnonzero(p.service == s)
        rs = np.flatnonzero(p.reuse_service == s) if R else np.zeros(0, dtype=np.int64)
        if p.work[s] <= 0 or not (len(ks) or len(rs)):
            continue
        rows += [row] * (len(ks) + len(rs))
        cols += list(n0 + ks) + list(n0 + p.reuse_host[rs])
        vals += [p.cap[k] * float(p.slot_s[p.window[k]].sum()) for k in ks] + \
                [p.reuse_cap[r] * float(p.slot_s[p.reuse_window[r]].sum()) for r in rs]
        lb.append(float(p.work[s]))
        ub.append(np.inf)
        row += 1
    # servers on <= servers installed
    if not p.idle_on:
        r_idx = row + np.arange(K * T)
        rows += list(r_idx) + list(r_idx)
        cols += list(a0 + np.arange(K * T)) + list(np.repeat(n0 + np.arange(K), T))
        vals += [1.0] * (K * T) + [-1.0] * (K * T)
        lb += [-np.inf] * (K * T)
        ub += [0.0] * (K * T)
        row += K * T
    A = coo_array((np.asarray(vals, float), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                  shape=(row, nv)).tocsr()
    lower = np.zeros(nv)
    upper = np.empty(nv)
    upper[n0:n0 + K] = n_max
    if not p.idle_on:
        upper[a0:a0 + K * T] = np.repeat(n_max, T)
    upper[x0:x0 + K * T] = np.where(p.window, (p.cap * n_max)[:, None], 0.0).ravel()
    if R:
        upper[z0:y0] = np.where(p.reuse_window, (p.reuse_cap * n_max[p.reuse_host])[:, None], 0.0).ravel()
    kl = np.flatnonzero(p.levelled)
    if len(kl):
        upper[y0:nv] = (np.where(p.window[kl], n_max[kl][:, None], 0.0)[:, :, None] * np.ones(L)).ravel()
    integrality = np.zeros(nv)
    integrality[n0:n0 + K] = 1
    if not p.idle_on:
        integrality[a0:a0 + K * T] = 1
    integrality[y0:nv] = 1
    return A, np.asarray(lb, float), np.asarray(ub, float), lower, upper, integrality


_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}


def solve_fleet(problem: FleetProblem, levels: list[FleetCosts], *, time_limit_s: float = 60.0,
                mip_rel_gap: float = 1e-4, level_rtol: float = 1e-7, fix_n=None) -> FleetSolution:
    r"""Minimise ``levels[0]``, then each later level among the earlier levels' optima.

    Level :math:`i > 0` adds the rows :math:`c_j \cdot v \le f_j^* (1 + \rho) + 10^{-9}` for
    every earlier level :math:`j` with optimum :math:`f_j^*` (:math:`\rho` = ``level_rtol``, so a
    tie is a tie to solver precision).

    Parameters
    ----------
    problem : FleetProblem
    levels : list of FleetCosts
        Objectives, most important first.
    time_limit_s : float
        Time limit of each solve [s].
    mip_rel_gap : float
        Relative optimality gap at which HiGHS stops.
    fix_n : array_like, optional
        Servers installed, fixed: only how they run (servers on, load, levels, reuse) is chosen.

    Returns
    -------
    FleetSolution
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array, vstack

    p = problem
    K, T, R = p.n_candidates, p.n_slots, p.n_reuse
    n0, a0, x0, z0, nv = _layout(p)
    n_max = server_bounds(p, levels[0]) if fix_n is None else np.maximum(server_bounds(p), np.asarray(fix_n, float))
    A, lb, ub, lower, upper, integrality = build_constraints(p, n_max)
    if fix_n is not None:
        lower[n0:n0 + K] = upper[n0:n0 + K] = np.asarray(fix_n, float)
    vectors = [objective_vector(p, lv) for lv in levels]
    extra_rows, extra_ub = [], []
    objectives: list[float] = []
    best = None
    status, message, gap = "optimal", "", 0.0
    for c in vectors:
        if extra_rows:
            A_i = vstack([A, csr_array(np.vstack(extra_rows))]).tocsr()
            lb_i = np.concatenate([lb, np.full(len(extra_rows), -np.inf)])
            ub_i = np.concatenate([ub, extra_ub])
        else:
            A_i, lb_i, ub_i = A, lb, ub
        constraints = [LinearConstraint(A_i, lb_i, ub_i)] if A_i.shape[0] else []
        res = milp(c, integrality=integrality, bounds=Bounds(lower, upper), constraints=constraints,
                   options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap), "disp": False})
        st = _STATUS.get(res.status, "error")
        if res.x is None:
            if best is None:
                return FleetSolution(np.zeros(K, np.int64), np.zeros((K, T), np.int64), np.zeros((K, T)),
                                     np.zeros((R, T)), "infeasible" if st == "optimal" else st, res.message,
                                     float("nan"), [])
            break   # a later level failed: keep the earlier level's solution
        best = res.x
        if st != "optimal":
            status = st
        message = res.message
        gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
        f = float(c @ res.x)
        objectives.append(f)
        extra_rows.append(c)
        extra_ub.append(f * (1.0 + level_rtol) + 1e-9)
    v = best
    n = np.rint(v[n0:n0 + K]).astype(np.int64)
    a = np.repeat(n[:, None], T, axis=1) if p.idle_on else np.rint(v[a0:a0 + K * T]).reshape(K, T).astype(np.int64)
    x = np.maximum(v[x0:x0 + K * T].reshape(K, T), 0.0)
    y0 = _y_start(p)
    z = np.maximum(v[z0:y0].reshape(R, T), 0.0) if R else np.zeros((0, T))
    y = np.zeros((K, T, p.n_levels), dtype=np.int64)
    if p.n_levelled:
        y[p.levelled] = np.rint(v[y0:nv]).reshape(p.n_levelled, T, p.n_levels).astype(np.int64)
    objectives = [float(objective_vector(p, lv) @ v) for lv in levels[:len(objectives)]]
    return FleetSolution(n, a, x, z, status, message, gap, objectives, y)


#: Candidates tested at once against the kept ones in :func:`prune_dominated` (memory ~ kept x block x prices).
_PRUNE_BLOCK = 64


def prune_dominated(problem: FleetProblem, levels: list[FleetCosts], prefer=None) -> np.ndarray:
    """Candidates that no other candidate of the same service dominates (bool, shape (K,)).

    Candidate :math:`j` dominates :math:`k` when it serves the same service in the same slots, has
    at least the capacity and at least the reuse capacity for every offline service, and no higher
    price in any term of any level: replacing every server of :math:`k` by one of :math:`j` keeps
    the plan feasible and no dearer, so dropping :math:`k` leaves the optimum of the lexicographic
    program unchanged. Of equal candidates the one with the lowest ``prefer`` (then the first) is
    kept. Sort-filter skyline (Chomicki et al., ICDE 2003): sorted by a score that dominance can
    only lower, a candidate is compared with the kept ones before it.

    Parameters
    ----------
    prefer : array_like, shape (K,), optional
        Which of several equal candidates to keep (lowest first), e.g. 0 for a server as listed.
    """
    p = problem
    K, T = p.n_candidates, p.n_slots
    off = np.flatnonzero(~p.online)
    # benefits (higher is better) and prices (lower is better) per candidate
    rcap = np.zeros((K, len(off)))
    rprice = [np.full((K, len(off), T), np.inf) for _ in levels]
    if p.n_reuse:   # per host and offline service, its largest reuse option (the first of equal ones)
        j = np.searchsorted(off, p.reuse_service)
        cell = p.reuse_host * len(off) + j
        by = np.lexsort((np.arange(p.n_reuse), -p.reuse_cap, cell))
        _, first = np.unique(cell[by], return_index=True)
        best = by[first]
        best = best[p.reuse_cap[best] > 0]
        rcap[p.reuse_host[best], j[best]] = p.reuse_cap[best]
        for i, lv in enumerate(levels):
            rprice[i][p.reuse_host[best], j[best]] = np.asarray(lv.reuse_unit)[best]
    rprice = [rp.reshape(K, -1) for rp in rprice]
    benefit = np.column_stack([p.cap, rcap])
    price = np.column_stack([np.column_stack([lv.fixed, lv.on, lv.unit, lv.level.reshape(K, -1), rprice[i]])
                             for i, lv in enumerate(levels)])   # a level-free objective adds no columns
    keep = np.zeros(K, dtype=bool)
    if T <= 56:   # the slots a candidate serves as one integer (np.unique over rows is slow)
        win = p.window.astype(np.int64) @ (np.int64(1) << np.arange(T, dtype=np.int64))
        key = (np.asarray(p.service, np.int64) * 2 + p.levelled) * (np.int64(1) << np.int64(T)) + win
        _, group = np.unique(key, return_inverse=True)
    else:
        group_key = np.column_stack([p.service, p.levelled.astype(np.int64), p.window.astype(np.int64)])
        _, group = np.unique(group_key, axis=0, return_inverse=True)
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        B, C = benefit[idx], price[idx]
        scale_c = np.max(np.where(np.isfinite(C), np.abs(C), 0.0), axis=0)
        scale_c = np.where(scale_c > 0, scale_c, 1.0)
        scale_b = np.max(np.abs(B), axis=0)
        scale_b = np.where(scale_b > 0, scale_b, 1.0)
        score = (np.where(np.isfinite(C), C / scale_c, 2.0)).sum(axis=1) - (B / scale_b).sum(axis=1)
        rank = np.zeros(len(idx)) if prefer is None else np.asarray(prefer, float)[idx]
        order = np.lexsort((idx, rank, score))
        kb, kc = np.empty_like(B), np.empty_like(C)        # the kept ones so far, in order
        kept: list[int] = []
        for start in range(0, len(order), _PRUNE_BLOCK):
            block = order[start:start + _PRUNE_BLOCK]
            m = len(kept)
            if m:   # most are dominated by one kept before their block: test the block at once
                dom = ((kb[:m, None, :] >= B[block][None]).all(axis=2)
                       & (kc[:m, None, :] <= C[block][None]).all(axis=2)).any(axis=0)
                block = block[~dom]
            for o in block:   # the rest in order, against every kept one (those of this block too)
                m = len(kept)
                if m and np.any((kb[:m] >= B[o]).all(axis=1) & (kc[:m] <= C[o]).all(axis=1)):
                    continue
                kb[m], kc[m] = B[o], C[o]
                kept.append(o)
        keep[idx[kept]] = True
    return keep
