"""Operational power models: pure functions over numbers and arrays (layer 1).

- :mod:`carbonsim.models.power.host`  -- host power vs CPU/memory utilisation (linear, power-law, log forms)
- :mod:`carbonsim.models.power.fit`   -- least-squares fits of those forms and the rule that chooses one
- :mod:`carbonsim.models.power.prior` -- host power from a spec sheet when nothing was measured, and the
  Boavizta and CodeCarbon curves it is compared with
- :mod:`carbonsim.models.power.gpu`   -- GPU power from roofline activity (MFU, MBU) and power caps

No file reading here; :mod:`carbonsim.engine.inputs.power` (layer 2) reads CSVs and database files.
"""
