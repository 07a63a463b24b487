"""A transformer shape from a parameter count (carbonsim.models.perf.shapes): the proportions are
those of the Llama 3 family, so Llama-3-8B's published shape must come back exactly, and any
requested size within the rounding of width, depth and expert count."""

import pytest

from carbonsim.models.perf.shapes import shape_params, transformer_shape


def test_llama_3_8b_comes_back_exactly():
    # meta-llama/Meta-Llama-3-8B config.json: hidden 4096, 32 layers, 32 heads, 8 KV heads,
    # intermediate 14336, vocab 128256, untied; 8.03 B parameters (hardware_db/models/llama-3-8b.yaml)
    s = transformer_shape(8.03e9, 128256)
    assert (s["hidden"], s["layers"], s["heads"], s["kv_heads"], s["ffn"]) == (4096, 32, 32, 8, 14336)
    total, active = shape_params(s)
    assert total == active and total == pytest.approx(8.03e9, rel=0.002)


@pytest.mark.parametrize("active_b,total_b", [(44, 200), (88, 440), (132, 440), (8, None), (28, None), (405, None)])
def test_requested_sizes_within_rounding(active_b, total_b):
    # width in steps of 1,024 and depth and experts in whole units: a few per cent at most
    s = transformer_shape(active_b * 1e9, 200000, None if total_b is None else total_b * 1e9)
    total, active = shape_params(s)
    assert active == pytest.approx(active_b * 1e9, rel=0.01)
    assert total == pytest.approx((total_b or active_b) * 1e9, rel=0.02)
    assert s["heads"] % 8 == 0  # tensor parallelism over 1, 2, 4 or 8 GPUs divides the heads
    assert ("moe" in s) == (total_b is not None)
