r"""A decoder-only transformer shape from a parameter count (layer 1), for models whose
architecture is not published (API models: docs/experiments.md).

The performance model needs layers, width, heads and FFN widths; a provider publishes at most a
parameter count. The shape is built on the proportions of the Llama 3 family (Dubey et al. 2024,
"The Llama 3 Herd of Models", Table 3: 8B, 70B and 405B), whose three sizes share them:

- head width :math:`d = 128`, query heads :math:`h/d`, 8 key/value heads (grouped-query attention);
- a gated FFN of width :math:`F = 3.5\,h` (70B: 28,672 / 8,192; 405B: 53,248 / 16,384 = 3.25);
- depth :math:`L = h/128` (8B: 4,096 and 32 layers; 70B: 8,192 and 80; 405B: 16,384 and 126);
- untied input embedding and output head of the vocabulary :math:`V`.

A layer then holds :math:`P_{attn} = 2h^2 + 2 \cdot 8d\,h` attention and :math:`3hF` FFN weights,
and the active parameters are

.. math::

    N_a(h) = L(h)\,\big(2h^2 + 2048\,h + 10.5\,h^2\big) + 2Vh,

solved for :math:`h`; the width is then rounded to whole groups of 8 query heads (1,024, so that
tensor parallelism over 1-8 GPUs divides the heads) and the depth re-solved from :math:`N_a` at
that width. A mixture of experts with :math:`k`
experts per token keeps the active FFN width (:math:`k F_e = 3.5h`) and takes the expert count
:math:`E` that makes the total

.. math::

    N_t = L\,\big(P_{attn} + E \cdot 3 h F_e\big) + 2Vh

closest to the stated total. The shape reproduces the stated counts to within the rounding of
:math:`h`, :math:`L` and :math:`E`; :func:`shape_params` gives the counts of the shape itself.
"""

from __future__ import annotations

import math

HEAD_DIM = 128
KV_HEADS = 8
FFN_PER_HIDDEN = 3.5
HIDDEN_PER_LAYER = 128.0
#: Width step: 8 query heads of 128 (the heads then divide over 1, 2, 4 or 8 GPUs).
HIDDEN_STEP = HEAD_DIM * KV_HEADS


def _active_of_hidden(h: float, vocab: float) -> float:
    layers = h / HIDDEN_PER_LAYER
    per_layer = 2 * h * h + 2 * KV_HEADS * HEAD_DIM * h + 3 * h * FFN_PER_HIDDEN * h
    return layers * per_layer + 2 * vocab * h


def transformer_shape(active_params: float, vocab: int, total_params: float | None = None, top_k: int = 2) -> dict:
    r"""Layers, width, heads and FFN widths of a Llama-3-proportioned model with ``active_params``
    parameters per token (and, for a mixture of experts, ``total_params`` in all).

    Parameters
    ----------
    active_params : float
        Parameters a token passes through :math:`N_a` (all of them for a dense model).
    vocab : int
        Vocabulary :math:`V`.
    total_params : float, optional
        :math:`N_t` of a mixture of experts; None (or equal to ``active_params``) for a dense model.
    top_k : int
        Experts per token :math:`k` of a mixture of experts.

    Returns
    -------
    dict
        ``layers, hidden, heads, kv_heads, head_dim, ffn, gated, vocab, tied_embeddings`` and, for
        a mixture of experts, ``moe: {experts, top_k, expert_ffn}`` (the keys of a model file).
    """
    lo, hi = float(HEAD_DIM), 1e6
    for _ in range(200):  # bisection: N_a(h) increases with h
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _active_of_hidden(mid, vocab) < active_params else (lo, mid)
    # the width in whole groups of 8 query heads (so that 1, 2, 4 or 8 GPUs divide the heads);
    # the depth then restores the active count
    hidden = max(HIDDEN_STEP, int(round(lo / HIDDEN_STEP)) * HIDDEN_STEP)
    per_layer = 2 * hidden * hidden + 2 * KV_HEADS * HEAD_DIM * hidden + 3 * hidden * FFN_PER_HIDDEN * hidden
    layers = max(1, int(round((active_params - 2 * vocab * hidden) / per_layer)))
    ffn = int(round(FFN_PER_HIDDEN * hidden))
    shape = {"layers": layers, "hidden": hidden, "heads": hidden // HEAD_DIM, "kv_heads": KV_HEADS,
             "head_dim": HEAD_DIM, "ffn": ffn, "gated": True, "vocab": int(vocab), "tied_embeddings": False}
    if total_params is not None and total_params > active_params * (1 + 1e-9):
        expert_ffn = int(round(ffn / top_k))
        attn = 2 * hidden * hidden + 2 * KV_HEADS * HEAD_DIM * hidden
        per_expert = layers * 3 * hidden * expert_ffn
        experts = (total_params - 2 * vocab * hidden - layers * attn) / per_expert
        shape["moe"] = {"experts": max(top_k + 1, int(round(experts))), "top_k": int(top_k), "expert_ffn": expert_ffn}
    return shape


def shape_params(shape: dict) -> tuple[float, float]:
    """Total and active parameters of a shape from :func:`transformer_shape`."""
    h, L, V = shape["hidden"], shape["layers"], shape["vocab"]
    attn = 2 * h * h + 2 * shape["kv_heads"] * shape["head_dim"] * h
    embed = V * h * (1 if shape["tied_embeddings"] else 2)
    moe = shape.get("moe")
    if moe:
        ffn_total = moe["experts"] * 3 * h * moe["expert_ffn"]
        ffn_active = moe["top_k"] * 3 * h * moe["expert_ffn"]
    else:
        ffn_total = ffn_active = 3 * h * shape["ffn"]
    return L * (attn + ffn_total) + embed, L * (attn + ffn_active) + embed


__all__ = ["transformer_shape", "shape_params"]
