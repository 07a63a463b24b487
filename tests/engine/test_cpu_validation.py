"""CPU LLM inference (plan Reuse) against published CPU measurements (carbonsim/validation/cpu_inference.py).

Six rows (three decode, three prefill) of llama.cpp-family engines on EPYC, Threadripper PRO and
Sapphire Rapids CPUs; errors are held out (each row predicted with the constants fitted on the
other five) and written in docs/validation_perf.md, section "CPU inference".
"""

from __future__ import annotations

import numpy as np
import pytest

from carbonsim.engine.db import default_database
from carbonsim.engine.inputs.cpu_llm import cpu_constants
from carbonsim.models.perf.cpu import memory_bandwidth_gb_s, usable_peak_tflops

from carbonsim.validation import cpu_inference as cpu_cases


@pytest.fixture(scope="module")
def table():
    return cpu_cases.evaluate()


def test_bandwidth_of_a_ddr5_socket():
    # JEDEC: a DDR channel moves 8 bytes per transfer; 8 channels of DDR5-4800 (Sapphire Rapids,
    # Intel ark) = 307.2 GB/s, 12 of DDR5-4800 (Genoa) = 460.8 GB/s
    assert memory_bandwidth_gb_s(8, 4800) == pytest.approx(307.2)
    assert memory_bandwidth_gb_s(12, 4800) == pytest.approx(460.8)
    assert usable_peak_tflops(114.7, 56, 42) == pytest.approx(114.7 * 0.75)


def test_shipped_constants_are_the_fit(table):
    """hardware_db/perf/calibration.yaml holds what calibration/write_cpu_inference.py fits (rounded to 4 digits)."""
    c = cpu_constants(default_database())
    assert c["eta_compute"].value == pytest.approx(table.attrs["eta_compute"], abs=1e-4)
    assert c["eta_memory"].value == pytest.approx(table.attrs["eta_memory"], abs=1e-4)


def test_decode_held_out(table):
    """Batch-1 decode is memory-bound: held-out error within 50 % on every row.

    Tolerance: the three rows come from three machines whose DIMM population is partly assumed
    (the platforms' maxima; CSV column memory_note) and one splits its model over two sockets; the
    held-out errors are -45 %, -7 % and +42 %, so 50 % is the claim at its true size.
    """
    d = table[table.phase == "decode"]
    assert np.all(np.abs(d.heldout_err_pct) < 50.0), d[["id", "heldout_err_pct"]]


def test_prefill_held_out_within_an_order_of_magnitude(table):
    """Prefill on CPUs depends on the kernel library by an order of magnitude (docs/validation_perf.md):
    held out, every row is within a factor of 11 (the worst, an experimental AMX kernel at 3 % of
    peak, is predicted 9.9x too fast)."""
    p = table[table.phase == "prefill"]
    ratio = p.heldout_tok_s / p.measured_tok_s
    assert np.all((ratio > 1 / 11) & (ratio < 11)), p[["id", "heldout_err_pct"]]


@pytest.mark.xfail(strict=True, reason="CPU prefill efficiency differs by kernel library (3 % of the AMX peak for an "
                                       "experimental llama.cpp kernel, ~50 % of the int8 peak for ik_llama.cpp); one "
                                       "eta_compute cannot hold every row within 50 % (docs/validation_perf.md)")
def test_prefill_held_out_within_half(table):
    p = table[table.phase == "prefill"]
    assert np.all(np.abs(p.heldout_err_pct) < 50.0)
