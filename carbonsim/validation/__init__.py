"""What carbonsim is checked against: published and measured values, and the cases that compare them.

Each module holds one family of cases: the values (copied, with their sources, into
:data:`DATA`), how carbonsim evaluates each case through the same engine a user runs, and the
tolerance a test allows with its reason. Three kinds of code share them, so the numbers a test
asserts are the numbers the documentation states and the data a calibration fits:

- the tests (``tests/``), which assert every case;
- the documentation generators (``docs/make_validation*.py``), which write ``docs/validation*.md``;
- the calibration scripts (``calibration/write_*.py``), which fit constants on a stated part of
  the data and write them into the shipped database.

Modules: :mod:`~carbonsim.validation.published` (the seed paper's, ACT's and EcoServe's published
numbers), :mod:`~carbonsim.validation.vendor_lca` (vendor server carbon footprints),
:mod:`~carbonsim.validation.gpu_lca` (GPU cards against component LCAs),
:mod:`~carbonsim.validation.energy` and :mod:`~carbonsim.validation.energy_report` (measured LLM
energy), :mod:`~carbonsim.validation.serving` (online serving), :mod:`~carbonsim.validation.training`
(training runs), :mod:`~carbonsim.validation.inventory_power` (inventory power on SPECpower),
:mod:`~carbonsim.validation.cpu_inference` (CPU LLM inference, for the plan's Reuse),
:mod:`~carbonsim.validation.gpu_activity` (the GPU activity-power calibration's shared steps).

Layer: this package uses the engine (layer 2) as the interfaces do; nothing in ``models/`` or
``engine/`` imports it. ``data/README.md`` lists every file and its source.
"""

from pathlib import Path

#: The reference values the cases use (sources in ``data/README.md``).
DATA = Path(__file__).resolve().parent / "data"
