r"""A CPU socket as an LLM inference device (layer 1): its memory bandwidth and usable matrix peak.

carbonsim evaluates CPU inference with the same roofline step model as GPUs
(:mod:`carbonsim.models.perf.llm`): decode steps are bound by the socket's memory bandwidth
(every weight read once per step), prefill steps by its matrix units (AMX tiles, AVX-512 or
AVX2 FMAs). Only the device rows change: peak FLOP/s, bandwidth and memory come from the CPU
and the host's DRAM, and the achieved efficiencies from CPU measurements
(``docs/validation_perf.md``, section "CPU inference").

.. math::

    \beta = N_{ch} \cdot R \cdot 8\ \mathrm{B}, \qquad
    \Pi_{usable} = \Pi \cdot \frac{C_{free}}{C}

with :math:`N_{ch}` memory channels, :math:`R` the DIMMs' transfer rate [MT/s] (a DDR channel
is 64 bits wide), :math:`\Pi` the socket's peak at the math precision and :math:`C_{free}` of
its :math:`C` cores left to inference (the rest drive the GPUs' serving engines). Bandwidth is
not divided: the engines' host threads move little memory.

References
----------
.. [1] JEDEC JESD79-4 (DDR4) and JESD79-5 (DDR5): a channel is 64 data bits (two 32-bit
   sub-channels in DDR5), so peak bandwidth is 8 bytes per transfer.
.. [2] S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful visual performance model
   for multicore architectures", CACM 52(4), 2009.
"""

from __future__ import annotations

import numpy as np

#: Bytes a DDR channel moves per transfer (64 data bits).
BYTES_PER_TRANSFER = 8.0


def memory_bandwidth_gb_s(channels, mt_s):
    r"""Peak memory bandwidth of a socket, :math:`\beta = N_{ch} R \cdot 8` [GB/s].

    Parameters
    ----------
    channels : array_like
        Memory channels of the socket.
    mt_s : array_like
        Transfer rate of the DIMMs [MT/s].

    Returns
    -------
    ndarray or float
        [GB/s] (1 GB = 1e9 bytes). An 8-channel DDR5-4800 Sapphire Rapids socket: 307.2 GB/s.
    """
    return np.asarray(channels, float) * np.asarray(mt_s, float) * BYTES_PER_TRANSFER / 1000.0


def usable_peak_tflops(peak_tflops, cores, free_cores):
    r"""The share of a socket's matrix peak its free cores supply, :math:`\Pi C_{free} / C` [TFLOP/s].

    Parameters
    ----------
    peak_tflops : array_like
        Peak of the whole socket at the math precision [TFLOP/s].
    cores, free_cores : array_like
        Cores of the socket, and those left to inference (clipped to ``[0, cores]``).
    """
    cores = np.asarray(cores, float)
    return np.asarray(peak_tflops, float) * np.clip(np.asarray(free_cores, float), 0.0, cores) / cores
