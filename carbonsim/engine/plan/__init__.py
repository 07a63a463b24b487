"""``carbonsim plan PLAN.yaml``: a carbon-optimal fleet for online and offline LLM services (layer 2).

* :mod:`~carbonsim.engine.plan.spec` reads and checks a plan file;
* :mod:`~carbonsim.engine.plan.candidates` lists the server configurations that could serve each
  service (host variants: Reduce; tensor parallelism and scheduler limits: Rightsize; lifetimes:
  Recycle);
* :mod:`~carbonsim.engine.plan.capacity` finds each instance's capacity at its service's SLO with
  the serving simulator, an offline batch's throughput with the performance model, and the host
  CPUs' throughput for offline work (Reuse);
* :mod:`~carbonsim.engine.plan.carbon` prices one candidate's embodied and operational carbon
  through :class:`~carbonsim.engine.chain.CarbonChain`;
* :mod:`~carbonsim.engine.plan.run` builds the integer program
  (:mod:`carbonsim.models.planning.milp`), solves it for carbon and for the baselines, re-checks
  every chosen instance's SLO by simulation and returns a :class:`~carbonsim.engine.plan.run.PlanResult`.

Formulation and worked example: ``docs/plan.md``.
"""

from carbonsim.engine.plan.run import NoFeasiblePlan, PlanResult, plan

__all__ = ["NoFeasiblePlan", "PlanResult", "plan"]
