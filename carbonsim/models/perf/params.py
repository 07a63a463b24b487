r"""Parameter counts of a decoder-only transformer from its shape (layer 1).

For :math:`L` layers of width :math:`h`, :math:`H` query and :math:`K` key/value heads of size
:math:`d`, an FFN of :math:`m` matrices (3 gated, 2 not) of width :math:`f` and a vocabulary
:math:`V`, one layer holds

.. math::

    P_{attn} = h\,(H d + 2 K d) + H d\,h \;[+\; (H + 2K) d + h \text{ biases}]

    P_{ffn} = m\,h\,f \;[+\; (m-1) f + h \text{ biases}]

and the model :math:`L (P_{attn} + P_{ffn} + P_{norm}) + V h (2 - \text{tied}) + P_{pos} + P_{final}`
(Kaplan et al. 2020, Sec. 2.1, counted matrix by matrix; Narayanan et al. 2021 Sec. 5.1 for
GQA-free models). A mixture-of-experts layer replaces the FFN with a router (:math:`h E`),
:math:`E` experts of width :math:`f_e` and an always-active shared expert of width :math:`f_s`
(with a one-output gate when ``shared_gate``); a token uses the router, :math:`k` experts and the
shared one, so the *active* count has :math:`k` expert FFNs in place of :math:`E`
(Fedus et al. 2022; Mixtral, Jiang et al. 2024: 46.7 B total, 12.9 B active).
"""

from __future__ import annotations


def parameter_count(layers, hidden, heads, kv_heads, head_dim, ffn, ffn_matrices, vocab, tied_embeddings, *,
                    attention_bias=False, mlp_bias=False, norms_per_layer=2, norm_params=1, final_norm=True,
                    learned_positions=0, experts=0, top_k=0, expert_ffn=0, shared_ffn=0, shared_gate=False,
                    qk_norm=False) -> tuple[float, float]:
    r"""Total and active parameters [count] (module docstring).

    Parameters
    ----------
    layers, hidden, heads, kv_heads, head_dim, ffn : int
        Shape (``ffn`` is the dense FFN width; ignored when ``experts`` > 0).
    ffn_matrices : int
        3 for a gated FFN (SwiGLU), 2 otherwise.
    vocab : int
    tied_embeddings : bool
        The LM head shares the input embedding.
    attention_bias, mlp_bias : bool
        Biases on the attention projections (q, k, v and output) and on the FFN matrices.
    norms_per_layer : int
        Normalisations per layer (2 in pre-norm decoders).
    norm_params : int
        Vectors of width ``hidden`` per normalisation: 1 (RMSNorm) or 2 (LayerNorm: scale and
        bias).
    final_norm : bool
        A normalisation after the last layer.
    learned_positions : int
        Rows of a learned position embedding (0 for RoPE).
    experts, top_k, expert_ffn, shared_ffn : int
        Mixture of experts (``experts`` = 0: dense).
    shared_gate : bool
        The shared expert has a sigmoid gate (a ``hidden`` x 1 projection; Qwen1.5-MoE).
    qk_norm : bool
        RMSNorm over each head's query and key (Qwen3): ``2 head_dim`` per layer.

    Returns
    -------
    (float, float)
        Total and active parameters.
    """
    q, kv = heads * head_dim, kv_heads * head_dim
    attn = hidden * (q + 2 * kv) + q * hidden
    if attention_bias:
        attn += q + 2 * kv + hidden
    if qk_norm:
        attn += 2 * head_dim
    norms = norms_per_layer * norm_params * hidden

    def ffn_params(width):
        return ffn_matrices * hidden * width + ((ffn_matrices - 1) * width + hidden if mlp_bias else 0)

    if experts:
        shared = ffn_params(shared_ffn) if shared_ffn else 0
        router = hidden * experts + (hidden if shared_gate and shared_ffn else 0)
        ffn_total = router + experts * ffn_params(expert_ffn) + shared
        ffn_active = router + top_k * ffn_params(expert_ffn) + shared
    else:
        ffn_total = ffn_active = ffn_params(ffn)
    outside = vocab * hidden * (1 if tied_embeddings else 2) + learned_positions * hidden
    if final_norm:
        outside += norm_params * hidden
    total = layers * (attn + ffn_total + norms) + outside
    active = layers * (attn + ffn_active + norms) + outside
    return float(total), float(active)
