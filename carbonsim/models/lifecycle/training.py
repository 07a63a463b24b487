r"""Training runs: FLOPs, device-hours, energy and carbon of pretraining an LLM (layer 1).

LLMCarbon-style estimation (Faiz et al., ICLR 2024), with three differences: attention FLOPs are
counted when the sequence length is known, the achieved efficiency can be predicted by a model
fitted to published runs instead of being an input, and device power comes from the activity
model rather than a measured average.

.. math::

    C = 6\,N_{act}\,D + 12\,L\,s\,d_{attn}\,D, \qquad
    T_{dev} = \frac{C}{\mathrm{MFU}\cdot F_{peak}}, \qquad
    E = T_{dev}\,(P_{GPU} + P_{host}/n)\,PUE, \qquad
    M = T_{dev}\left(\frac{E_{card}}{LT_{GPU}\,u} + \frac{E_{host}/n}{LT_{host}\,u}\right)

with :math:`N_{act}` the parameters active per token (all of them for a dense model; the shared
and routed-expert parameters one token uses for a mixture of experts), :math:`D` training tokens,
:math:`L` layers, :math:`s` sequence length, :math:`d_{attn}` the attention width (heads × head
dimension), :math:`F_{peak}` the device's dense peak FLOP/s, :math:`n` GPUs per server and
:math:`u` the share of its life a device is in use.

References
----------
.. [1] J. Kaplan et al., "Scaling Laws for Neural Language Models", arXiv 2001.08361, Sec. 2.1
   (:math:`C \approx 6ND`: forward 2N, backward 4N per token).
.. [2] A. Chowdhery et al., "PaLM", arXiv 2204.02311, Appendix B (model FLOPs utilisation;
   attention adds :math:`12 L H Q T` FLOPs per token, :math:`H Q = d_{attn}`, :math:`T = s`).
.. [3] A. Faiz et al., "LLMCarbon", ICLR 2024 (device-hours from FLOPs and hardware efficiency;
   embodied carbon amortised by time over lifetime).
.. [4] A. S. Luccioni, S. Viguier, A.-L. Ligozat, "Estimating the Carbon Footprint of BLOOM",
   JMLR 24 (2023) (dynamic, idle and embodied split; embodied per hour of use over 6 years at
   85 % use).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.grid.carbon import facility_energy_kwh
from carbonsim.models.lifecycle.amortisation import amortised_kg
from carbonsim.units import SECONDS_PER_HOUR

#: d_model / n_layers used to estimate a model's shape from its parameter count when the shape is
#: not given: GPT-3 175B has 12288/96 = 128, Llama 2 7B 4096/32 = 128 (Kaplan et al. find the loss
#: flat for ratios of about 50-200).
ASPECT_RATIO = 128.0


def training_flops(active_params, tokens, n_layers=0.0, seq_len=0.0, d_attn=0.0):
    r"""Training FLOPs: :math:`C = 6 N_{act} D + 12 L s d_{attn} D`.

    Parameters
    ----------
    active_params : array_like
        Parameters used per token (dense: all).
    tokens : array_like
        Training tokens.
    n_layers, seq_len, d_attn : array_like
        Transformer layers, training sequence length and attention width; with any of them 0
        the attention term is left out (:math:`6ND` only, LLMCarbon's count).

    Returns
    -------
    ndarray or float
        FLOPs.

    Examples
    --------
    >>> training_flops(175e9, 300e9)   # GPT-3's 6ND: 3.15e23 (Brown et al. report 3.14e23)
    3.15e+23
    """
    dense = 6.0 * np.asarray(active_params, float) * tokens
    attention = 12.0 * np.asarray(n_layers, float) * seq_len * d_attn * tokens
    out = dense + attention
    return float(out) if np.ndim(out) == 0 else out


def estimated_shape(params):
    r"""Layers and width of a decoder whose shape is not given, from :math:`N \approx 12 L d^2`
    and :math:`d = 128 L` (:data:`ASPECT_RATIO`): :math:`d = (128 N / 12)^{1/3}`.

    Returns
    -------
    (n_layers, d_model) : floats (not rounded)
    """
    d = (ASPECT_RATIO * np.asarray(params, float) / 12.0) ** (1.0 / 3.0)
    return d / ASPECT_RATIO, d


def device_hours(flops, peak_flops_per_s, mfu):
    r""":math:`T_{dev} = C / (\mathrm{MFU} \cdot F_{peak})` in device-hours."""
    return np.asarray(flops, float) / (np.asarray(mfu, float) * peak_flops_per_s) / 3600.0


def implied_mfu(flops, peak_flops_per_s, hours):
    r"""The efficiency a run achieved end to end: :math:`C / (T_{dev} F_{peak})`."""
    return np.asarray(flops, float) / (np.asarray(hours, float) * 3600.0 * peak_flops_per_s)


# -- the efficiency model learned from published runs ------------------------------------------------
def mfu_features(params_b, peak_tflops):
    r"""Design matrix of the efficiency model: :math:`[1,\ \log_{10} N_B,\ \log_{10} F_{peak}]`.

    Larger models keep GPUs busier (larger matrix products; Narayanan et al. 2021 report 44 %
    at 1.7 B and 52 % at 1 T parameters on A100), and faster devices are harder to keep busy
    (the Llama 3 runs on H100 reach lower end-to-end efficiency than the Llama 2 runs on A100).
    """
    p = np.atleast_1d(np.asarray(params_b, float))
    f = np.atleast_1d(np.asarray(peak_tflops, float))
    return np.stack([np.ones_like(p), np.log10(p), np.log10(f)], axis=1)


def fit_mfu(params_b, peak_tflops, mfu):
    r"""Least-squares coefficients of :math:`\mathrm{MFU} = a + b \log_{10} N_B + c \log_{10} F_{peak}`.

    Parameters
    ----------
    params_b : array_like
        Active parameters of each run [billions].
    peak_tflops : array_like
        Dense peak of its device [TFLOP/s].
    mfu : array_like
        End-to-end efficiency each run achieved (:func:`implied_mfu` from its device-hours).

    Returns
    -------
    ndarray, shape (3,)
    """
    coef, *_ = np.linalg.lstsq(mfu_features(params_b, peak_tflops), np.asarray(mfu, float), rcond=None)
    return coef


#: Predictions are clipped to this range (no run has achieved more than ~0.6 end to end).
MFU_RANGE = (0.05, 0.65)


def predict_mfu(coef, params_b, peak_tflops):
    """The efficiency model at new points, clipped to :data:`MFU_RANGE`."""
    out = np.clip(mfu_features(params_b, peak_tflops) @ np.asarray(coef, float), *MFU_RANGE)
    return float(out[0]) if np.ndim(params_b) == 0 else out


def leave_one_out(params_b, peak_tflops, mfu):
    """Each run's efficiency predicted by the model fitted to all the other runs (cross-validation).

    Returns
    -------
    ndarray
        Predicted MFU per run.
    """
    p, f, m = (np.asarray(a, float) for a in (params_b, peak_tflops, mfu))
    out = np.empty_like(m)
    for i in range(m.size):
        keep = np.arange(m.size) != i
        out[i] = predict_mfu(fit_mfu(p[keep], f[keep], m[keep]), p[i], f[i])
    return out


# -- energy and carbon --------------------------------------------------------------------------------
def training_energy_kwh(hours, gpu_w, host_w_per_gpu, pue):
    r"""Facility energy of a run: :math:`E = T_{dev} (P_{GPU} + P_{host}/n)\,PUE` [kWh].

    Parameters
    ----------
    hours : array_like
        Device-hours.
    gpu_w : array_like
        Mean power of one device while training [W].
    host_w_per_gpu : array_like
        Its share of its host's power [W].
    pue : array_like

    Returns
    -------
    dict of ndarray
        ``gpu_kwh``, ``host_kwh`` (IT energy) and ``total_kwh`` (× PUE).
    """
    gpu = np.asarray(hours, float) * gpu_w / 1000.0
    host = np.asarray(hours, float) * host_w_per_gpu / 1000.0
    return {"gpu_kwh": gpu, "host_kwh": host, "total_kwh": facility_energy_kwh(gpu + host, pue)}


def embodied_per_device_hour_kg(card_kg, host_kg_per_gpu, gpu_lifetime_yr, host_lifetime_yr, usage=1.0):
    r"""Embodied carbon charged to one device-hour:
    :math:`E_{card}/(8760\,LT_{GPU}\,u) + (E_{host}/n)/(8760\,LT_{host}\,u)` [kg/h].

    ``usage`` is the share of its life a device is in use (BLOOM: 0.85); the hours it is not used
    are charged to the hours it is.
    """
    life_s = SECONDS_PER_HOUR / np.asarray(usage, float)  # one hour of use, with the unused hours it carries
    return (amortised_kg(np.asarray(card_kg, float), life_s, gpu_lifetime_yr)
            + amortised_kg(np.asarray(host_kg_per_gpu, float), life_s, host_lifetime_yr))
