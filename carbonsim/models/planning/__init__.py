"""Fleet planning (layer 1): the integer program that sizes a fleet, as pure functions over arrays.

* :mod:`carbonsim.models.planning.milp` builds the mixed-integer linear program of a fleet plan
  (servers bought per candidate, servers on and load served per time slot) from arrays, prunes
  dominated candidates and solves it lexicographically with HiGHS (``scipy.optimize.milp``).

Formulation, units and the engine that fills the arrays: ``docs/plan.md``.
"""

from carbonsim.models.planning.milp import FleetCosts, FleetProblem, FleetSolution, prune_dominated, solve_fleet

__all__ = ["FleetCosts", "FleetProblem", "FleetSolution", "prune_dominated", "solve_fleet"]
