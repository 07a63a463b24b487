"""The one definition of each tunable value (layer 2): its allowed range, used wherever the value
enters: a scenario or server file, ``--set``, a sweep axis, a command-line option or a keyword of
the Python API. A value gets the same check whichever way it comes in.
"""

from __future__ import annotations

from carbonsim.engine.db.schema import Checker, Count, Number
from carbonsim.errors import OptionError

#: Power usage effectiveness: 1 (IT energy only) to 5 (beyond any reported datacenter).
PUE = Number(1.0, 5.0)
#: PUE assumed when none is given, in every command, scenario and API function: 1 (IT energy
#: only, as the seed paper counts). The one definition; everything else refers to it.
DEFAULT_PUE = 1.0


def pue_or_default(pue: float | None) -> float:
    """``pue``, or :data:`DEFAULT_PUE` when none was given (command-line options and API keywords)."""
    return DEFAULT_PUE if pue is None else pue

#: A utilisation: fraction 0..1 (not per cent).
UTIL = Number(0.0, 1.0)
#: Utilisation assumed (CPU and GPU) when none is given; every output that uses it says so.
DEFAULT_UTIL = 0.5
#: A measured IT power [W]: up to 10 MW (a whole hall; no single server comes near).
POWER_W = Number(0.0, 1e7)
#: A period of use [yr].
YEARS = Number(0.0, 100.0, exclusive_min=True)
#: Monte-Carlo samples (a million draws of one server are about 600 MB of inputs).
SAMPLES = Count(0, 1_000_000)
#: Seed of a random generator (NumPy accepts 0..2**32-1 as one integer seed).
SEED = Count(0, 2**32 - 1)
#: A calendar year.
YEAR = Count(1990, 2100)
#: A GPU power limit [W].
POWER_CAP_W = Number(1.0, 5000.0)
#: The share of an energy source in a ``--grid`` mix (``coal:0.3,wind:0.7``): fractions, or per
#: cent (``coal:30,wind:70``); shares that do not sum to 1 are normalised with a warning.
MIX_SHARE = Number(0.0, 100.0)
#: A carbon intensity given as a number [g/kWh] (``--grid 57``): lignite is about 1,100-1,200.
GIVEN_CI = Number(0.0, 2000.0)

# -- lifecycle: refresh cycles, training runs, scheduling (docs/lifecycle.md) --------------------
#: Years a fleet is followed (whole years; the point vector holds at most this many).
HORIZON_YR = Count(1, 30)
#: A refresh period [yr]: a device is replaced this many years after purchase.
REFRESH_YR = Count(1, 30)
#: Mean demand of a fleet in its first year (output tokens or requests per second); > 0.
DEMAND_PER_S = Number(0.0, 1e12, exclusive_min=True)
#: Demand growth per year, a fraction (0.3 = +30 %/yr; -0.5 halves it every year).
GROWTH_PER_YR = Number(-0.9, 10.0)
#: Target mean utilisation of a fleet's capacity (headroom for peaks), 0..1.
TARGET_UTIL = Number(0.0, 1.0, exclusive_min=True)
#: Model parameters [billions].
PARAMS_B = Number(0.0, 1e6, exclusive_min=True)
#: Training tokens [billions].
TOKENS_B = Number(0.0, 1e7, exclusive_min=True)
#: Model FLOP utilisation, a fraction.
MFU = Number(0.0, 1.0, exclusive_min=True)
#: Devices (GPUs or accelerators) of a run.
DEVICES = Count(1, 10_000_000)
#: A training sequence length [tokens].
SEQ_LEN = Count(1, 10_000_000)
#: Device-hours of a run.
DEVICE_HOURS = Number(0.0, 1e12, exclusive_min=True)
#: Days of a run.
DAYS = Number(0.0, 36_500.0, exclusive_min=True)
#: Share of its life a device is in use, (0, 1].
USAGE = Number(0.0, 1.0, exclusive_min=True)
#: Energy of a job [kWh].
ENERGY_KWH = Number(0.0, 1e12, exclusive_min=True)
#: Duration of a job or a search window [h].
HOURS = Number(0.0, 87_600.0, exclusive_min=True)
#: Functional units counted for SCI per user.
REQUESTS_PER_USER = Number(0.0, 1e12, exclusive_min=True)

# --- online serving (workload.mode: online) ---
#: A request rate [requests/s]: above 0 (QPS <= 0 has no meaning); a million per second is far
#: beyond any one server.
QPS = Number(0.0, 1e6, exclusive_min=True)
#: Requests of a run (per model): at least one; ten million is hours of a busy server.
REQUESTS = Count(1, 10_000_000)
#: Length of a run's arrival window [s] (up to a year).
DURATION_S = Number(0.0, 3.2e7, exclusive_min=True)
#: vLLM max_num_seqs: at least one running sequence.
MAX_NUM_SEQS = Count(1, 1_000_000)
#: vLLM max_num_batched_tokens, max_model_len and block_size [tokens].
TOKEN_BUDGET = Count(1, 100_000_000)
MAX_MODEL_LEN = Count(1, 100_000_000)
BLOCK_SIZE = Count(1, 4096)
#: A latency target [s] (an hour is beyond any interactive service).
SLO_S = Number(0.0, 3600.0, exclusive_min=True)
#: Mean of a token-length distribution [tokens], and its shape (Pareto a > 1, lognormal sigma).
MEAN_TOKENS = Number(0.0, 100_000_000.0, exclusive_min=True)
PARETO_SHAPE = Number(1.0, 100.0, exclusive_min=True)
LOGNORMAL_SIGMA = Number(0.0, 10.0, exclusive_min=True)
#: Prefill or decode instances of a disaggregated deployment (each on tensor_parallel GPUs): at
#: least one of each; a thousand is far beyond one server (too many for the server's GPUs makes
#: the point infeasible).
ENGINE_INSTANCES = Count(1, 1024)

#: Keyword / option name -> spec. The command line spells each as ``--name-with-dashes``.
OPTIONS = {
    "pue": PUE, "cpu_util": UTIL, "gpu_util": UTIL, "util": UTIL, "power_w": POWER_W, "years": YEARS,
    "samples": SAMPLES, "seed": SEED, "year": YEAR,
    "horizon_yr": HORIZON_YR, "gpu_refresh_yr": REFRESH_YR, "host_refresh_yr": REFRESH_YR,
    "params_b": PARAMS_B, "active_params_b": PARAMS_B, "tokens_b": TOKENS_B, "mfu": MFU, "gpus": DEVICES,
    "seq_len": SEQ_LEN, "gpu_hours": DEVICE_HOURS, "days": DAYS, "usage": USAGE, "lifetime_yr": YEARS,
    "energy_kwh": ENERGY_KWH, "hours": HOURS, "window_hours": HOURS, "requests_per_user": REQUESTS_PER_USER,
    "rate": DEMAND_PER_S,
}


def check_options(**values):
    """Check keyword/option values by :data:`OPTIONS`; ``None`` means not given.

    Raises
    ------
    OptionError
        The first bad value, naming it (``--pue: ...`` on the command line).
    """
    for name, value in values.items():
        if value is None:
            continue
        ck = Checker("")
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            OPTIONS[name].check(v, "", ck)
            if ck.errors:
                raise OptionError(ck.errors[0].message, name)
