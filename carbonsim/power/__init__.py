"""Operational power models: pure functions over numbers and arrays (layer 1).

- :mod:`carbonsim.power.host`  -- host power vs CPU/memory utilisation (linear, power-law, log forms)
- :mod:`carbonsim.power.fit`   -- least-squares fits of those forms and the rule that chooses one
- :mod:`carbonsim.power.prior` -- host power from a spec sheet when nothing was measured, and the
  Boavizta and CodeCarbon curves it is compared with
- :mod:`carbonsim.power.gpu`   -- GPU power from roofline activity (MFU, MBU) and power caps

No file reading here; :mod:`carbonsim.power_io` (layer 2) reads CSVs and database files.
"""
