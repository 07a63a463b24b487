r"""The KV cache a serving engine gets from GPU memory (layer 1).

vLLM sizes its paged KV cache after loading the weights and running one profiling step of
``max_num_batched_tokens`` tokens: per GPU

.. math::

    N_b = \left\lfloor \frac{u\,M\,s - b_w P_{total}/t - M_{res} - a\,T_{budget}}
                            {b \cdot 2 L\,n_{kv} d\,b_{kv}\,\max(n_{kv}, t)/(n_{kv} t)} \right\rfloor

with :math:`u` vLLM's ``gpu_memory_utilization``, :math:`M` the GPU memory, :math:`s` the
share of it the instance may use (1 alone; 1/2 for each of two models sharing the GPUs),
:math:`M_{res}` the CUDA context and graphs, :math:`a` the live activation bytes per token of
the profiling step (the performance model's ``ACT_LIVE_H`` rule) and :math:`b` tokens per
block. The same terms make the offline model's memory limit (:func:`carbonsim.models.perf.llm.memory_gb`).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.perf.layout import ACT_LIVE_H, P
from carbonsim.models.perf.llm import _shape

GB = 1e9


def kv_bytes_per_token(p) -> np.ndarray:
    """KV-cache bytes one token takes on one GPU of the tensor-parallel group."""
    s = _shape(p)
    t = p[P["tp"]]
    nkv = p[P["n_kv_heads"]]
    return 2.0 * s["L"] * s["kvd"] * p[P["kv_bytes"]] * np.maximum(nkv, t) / (nkv * t)


def kv_cache_blocks(p, token_budget, block_size, memory_share=1.0):
    """KV blocks an instance gets (may be zero or negative: the model does not fit).

    Parameters
    ----------
    p : ndarray, shape (N_PARAMS,) or (N_PARAMS, n)
        Performance-model rows of the instance (memory_gb, memory_utilization,
        memory_reserve_gb, tp and the model shape are used).
    token_budget : array_like
        Tokens of vLLM's profiling step (``max_num_batched_tokens``).
    block_size : array_like
        Tokens per block.
    memory_share : array_like
        Share of each GPU's memory the instance may use.

    Returns
    -------
    blocks : ndarray
        :math:`N_b` (whole numbers, as floats).
    free_gb : ndarray
        Memory per GPU left for the KV cache [GB] (negative when the weights do not fit).
    """
    s = _shape(p)
    t = p[P["tp"]]
    weights_gb = p[P["weight_bytes"]] * s["total"] / t / GB
    live_gb = p[P["act_bytes"]] * (ACT_LIVE_H * s["h"] + s["m"] * s["ffn_width_active"] / t) / GB
    free_gb = (p[P["memory_utilization"]] * p[P["memory_gb"]] * memory_share - weights_gb
               - p[P["memory_reserve_gb"]] - live_gb * token_budget)
    blocks = np.floor(free_gb * GB / (np.asarray(block_size, dtype=float) * kv_bytes_per_token(p)))
    return blocks, free_gb
