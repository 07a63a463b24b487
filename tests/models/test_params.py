"""Parameter counts from a shape against the counts the model publishers state, and the resource
share a tenant of a machine is charged."""

import pytest

from carbonsim.models.lifecycle.amortisation import resource_share
from carbonsim.models.perf.params import parameter_count


def test_mixtral_total_and_active_match_mistral_ai():
    # Mixtral-8x7B: 46.7 B total, 12.9 B active per token (Jiang et al. 2024, arXiv 2401.04088);
    # both stated to one decimal, so 0.1 % covers the rounding
    total, active = parameter_count(32, 4096, 32, 8, 128, 14336, 3, 32000, False, experts=8, top_k=2,
                                    expert_ffn=14336)
    assert total / 1e9 == pytest.approx(46.7, rel=1e-3) and active / 1e9 == pytest.approx(12.9, rel=5e-3)


def test_qwen_moe_total_and_active_match_the_model_card():
    # Qwen1.5-MoE-A2.7B: 14.3 B total, 2.7 B activated (model card); qkv biases, a shared expert
    # of width 5632 with a sigmoid gate; stated to one decimal (0.4 % and 2 % of rounding)
    total, active = parameter_count(24, 2048, 16, 16, 128, 5632, 3, 151936, False, attention_bias=True,
                                    experts=60, top_k=4, expert_ffn=1408, shared_ffn=5632, shared_gate=True)
    assert total / 1e9 == pytest.approx(14.3, rel=4e-3) and active / 1e9 == pytest.approx(2.7, rel=2e-2)


def test_llama2_7b_and_opt_125m():
    # Llama-2-7B "6.74B" (Touvron et al. 2023, model card); OPT-125m "125M" (Zhang et al. 2022)
    assert parameter_count(32, 4096, 32, 32, 128, 11008, 3, 32000, False)[0] / 1e9 == pytest.approx(6.74, rel=1e-3)
    opt, _ = parameter_count(12, 768, 12, 12, 64, 3072, 2, 50272, True, attention_bias=True, mlp_bias=True,
                             norm_params=2, learned_positions=2050)
    assert opt / 1e6 == pytest.approx(125, rel=5e-3)


def test_gqa_shrinks_only_the_key_value_projections():
    mha, _ = parameter_count(1, 4096, 32, 32, 128, 1, 3, 1, True, norms_per_layer=0, final_norm=False)
    gqa, _ = parameter_count(1, 4096, 32, 8, 128, 1, 3, 1, True, norms_per_layer=0, final_norm=False)
    assert mha - gqa == 2 * 4096 * (32 - 8) * 128


def test_resource_share():
    assert resource_share(2, 256) == pytest.approx(2 / 256)
    assert resource_share(512, 256) == 1.0  # never more than the whole machine
