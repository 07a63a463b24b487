"""Properties of the embodied model that must hold for any valid input (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.engine.inputs.server import load_server

SETS = st.sampled_from(["hotcarbon24", "ecoserve", "act"])
SERVERS = st.sampled_from(["azure-a100-x4", "lambda-a6000-x2", "hgx-h100-x8", "aws-t4-x4",
                           "dell-poweredge-r740", "lambda-a100-x8"])


def _total(db, server, cs_id, over):
    return embodied(load_server(server, db, overrides=over), load_coefficients(cs_id, db))


@settings(max_examples=40, deadline=None)
@given(server=SERVERS, cs_id=SETS, dram=st.floats(0, 4096), ssd=st.floats(0, 60000))
def test_components_non_negative_and_sum_to_total(db, server, cs_id, dram, ssd):
    r = _total(db, server, cs_id, {"host.dram.gb": dram})
    comps = list(r.host_components_kg.values()) + list(r.gpu_components_kg.values())
    assert all(c >= 0 for c in comps)
    assert np.isclose(sum(comps), r.total_kg, rtol=1e-12)
    assert np.isclose(r.host_kg + r.gpu_kg, r.total_kg, rtol=1e-12)


GPU_INLINE = {"name": "test card", "dies": [{"area_mm2": 600, "node": "7nm"}], "memory": {"gb": 40, "technology": "hbm2e"},
              "board": {"pcb_area_cm2": 250, "suggested_psu_w": 700}, "tdp_w": 400}


def _inline(count=4, **changes):
    gpu = {k: (dict(v) if isinstance(v, dict) else v) for k, v in GPU_INLINE.items()}
    for path, value in changes.items():
        node = gpu
        *head, last = path.split("__")
        for h in head:
            node = node[h]
        node[last] = value
    return {"name": "inline", "source": "carbonsim-estimate", "lifetime_yr": 4,
            "gpus": {"count": count, **gpu},
            "host": {"cpus": {"die_area_mm2": 400, "node": "7nm", "count": 2},
                     "dram": {"gb": 512, "technology": "ddr4"}, "ssd_gb": 2000, "hdd_gb": 1000}}


@settings(max_examples=30, deadline=None)
@given(cs_id=SETS, a=st.floats(10, 800), b=st.floats(10, 800))
def test_grows_with_die_area(db, cs_id, a, b):
    lo, hi = sorted((a, b))
    # SoC from the die model in every set when the part has no published soc_kg
    e_lo = _total(db, _inline(dies=[{"area_mm2": lo, "node": "7nm"}]), cs_id, {}).total_kg
    e_hi = _total(db, _inline(dies=[{"area_mm2": hi, "node": "7nm"}]), cs_id, {}).total_kg
    assert e_hi >= e_lo


@settings(max_examples=30, deadline=None)
@given(cs_id=SETS, a=st.floats(0, 200), b=st.floats(0, 200))
def test_grows_with_memory_gb(db, cs_id, a, b):
    lo, hi = sorted((a, b))
    assert (_total(db, _inline(memory__gb=hi), cs_id, {}).total_kg
            >= _total(db, _inline(memory__gb=lo), cs_id, {}).total_kg)


@settings(max_examples=30, deadline=None)
@given(cs_id=SETS, a=st.floats(0, 1e5), b=st.floats(0, 1e5), kind=st.sampled_from(["ssd_gb", "hdd_gb"]))
def test_grows_with_storage_gb(db, cs_id, a, b, kind):
    lo, hi = sorted((a, b))
    assert (_total(db, _inline(), cs_id, {f"host.{kind}": hi}).total_kg
            >= _total(db, _inline(), cs_id, {f"host.{kind}": lo}).total_kg)


@settings(max_examples=30, deadline=None)
@given(cs_id=SETS, a=st.integers(1, 8), b=st.integers(1, 8))
def test_grows_with_gpu_count(db, cs_id, a, b):
    # From 1 GPU up: a VM's host share grows with its GPUs. (0 GPUs is a CPU-only server that
    # carries its whole chassis, so it is not on the same curve.)
    lo, hi = sorted((a, b))
    assert _total(db, _inline(count=hi), cs_id, {}).total_kg >= _total(db, _inline(count=lo), cs_id, {}).total_kg


@settings(max_examples=30, deadline=None)
@given(cs_id=SETS, a=st.floats(20, 1200), b=st.floats(20, 1200))
def test_grows_with_tdp(db, cs_id, a, b):
    lo, hi = sorted((a, b))
    assert _total(db, _inline(tdp_w=hi), cs_id, {}).total_kg >= _total(db, _inline(tdp_w=lo), cs_id, {}).total_kg


@given(kg=st.floats(0, 1e5), life=st.floats(0.1, 30), k=st.floats(1.01, 10))
def test_rate_scales_as_inverse_lifetime(kg, life, k):
    r1 = embodied_rate_mg_per_s(kg, life)
    r2 = embodied_rate_mg_per_s(kg, life * k)
    assert np.isclose(r1, r2 * k, rtol=1e-12)


def test_server_rate_uses_separate_lifetimes(db):
    base = _total(db, _inline(), "hotcarbon24", {})
    longer_host = embodied(load_server(_inline() | {"gpu_lifetime_yr": 4, "host_lifetime_yr": 8}, db),
                           load_coefficients("hotcarbon24", db))
    assert np.isclose(longer_host.host_mg_per_s, base.host_mg_per_s / 2)
    assert np.isclose(longer_host.gpu_mg_per_s, base.gpu_mg_per_s)
