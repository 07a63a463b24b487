"""carbonsim: lifecycle carbon (embodied + operational) of AI servers and the LLM work they run.

Layers (imports point downward only):

1. models  -- :mod:`carbonsim.models.embodied`, :mod:`carbonsim.models.grid`: pure functions over numbers/arrays.
2. engine  -- :mod:`carbonsim.engine.db`, :mod:`carbonsim.engine.inputs.server`, :mod:`carbonsim.engine.inputs.coefficients`,
   :mod:`carbonsim.footprint`: files to objects, objects to arrays, validation.
3. interfaces -- :mod:`carbonsim.cli`, :mod:`carbonsim.report`.
"""

__version__ = "0.1.0"
