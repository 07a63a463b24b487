"""Layer-1 terms of the ``server-lca`` set: drives by year and count, unitemised electronics.

Values copied from their sources:
- Boavizta, boaviztapi 2.5.0 ``data/crowdsourcing/ssd_manufacture.csv``: the 12 rows that give a
  year (manufacturer, layers, density in the table's unit, year; sources TechInsights and Flash
  Memory Summit 2019, Choe);
- Teehan & Kandlikar, ES&T 47 (2013): products of ~2008-12 50-60 % below counterparts modelled
  about 8 years earlier.
"""

import math

import numpy as np
import pytest

from carbonsim.models.embodied.electronics import (
    decline_rate_per_yr,
    fit_unitemised_ref_kg,
    unitemised_electronics_kg,
)
from carbonsim.models.embodied.storage import density_growth_per_yr, flash_kg_per_gb, per_drive_kg

# (manufacturer, layers, density, year) -- the dated rows of Boavizta's NAND table
BOAVIZTA_NAND_DATED = [
    ("Intel", 32, 16.4, 2015), ("Intel", 64, 90.9, 2017), ("Samsung", 32, 19.0, 2015),
    ("Samsung", 36, 23.0, 2016), ("Samsung", 48, 33.0, 2017), ("Samsung", 64, 41.0, 2018),
    ("Samsung", 96, 57.0, 2019), ("Samsung", 64, 71.0, 2020), ("Toshiba/WD", 48, 31.0, 2016),
    ("Toshiba/WD", 64, 45.5, 2017), ("Toshiba/WD", 96, 76.1, 2019), ("Micron/Intel", 36, 28.5, 2016),
]


def test_nand_density_growth_from_boaviztas_table():
    year = [r[3] for r in BOAVIZTA_NAND_DATED]
    density = [r[2] for r in BOAVIZTA_NAND_DATED]
    # the server-lca set's ssd_kg_per_gb_trend.decline_per_yr (0.2834) is this fit, rounded
    assert density_growth_per_yr(year, density) == pytest.approx(0.2834, abs=5e-5)
    samsung = [r for r in BOAVIZTA_NAND_DATED if r[0] == "Samsung"]
    # its low end: the six Samsung rows alone
    assert density_growth_per_yr([r[3] for r in samsung], [r[2] for r in samsung]) == pytest.approx(0.2723, abs=5e-5)


def test_density_growth_recovers_an_exact_exponential():
    y = np.arange(2010, 2021)
    assert density_growth_per_yr(y, 3.0 * np.exp(0.31 * (y - 2010))) == pytest.approx(0.31, rel=1e-12)


def test_flash_kg_per_gb_by_year_floor_and_ceiling():
    k_2019, g, floor, ceil = 0.108342, 0.2834, 0.0056, 0.16
    assert flash_kg_per_gb(k_2019, 2019, 2019, g, floor, ceil) == pytest.approx(k_2019, rel=1e-15)
    assert flash_kg_per_gb(k_2019, 2021, 2019, g, floor, ceil) == pytest.approx(k_2019 * math.exp(-2 * g))
    assert flash_kg_per_gb(k_2019, 2035, 2019, g, floor, ceil) == floor  # 0.0012 before the floor
    assert flash_kg_per_gb(k_2019, 2014, 2019, g, floor, ceil) == ceil   # 0.45 before the ceiling
    # no trend, no bounds: the constant, bit for bit (the other sets rely on it)
    assert flash_kg_per_gb(0.10999, 2023.0, 0.0, 0.0, 0.0, 0.0) == 0.10999
    # ceiling 0 means none
    assert flash_kg_per_gb(k_2019, 2014, 2019, g, floor, 0.0) == pytest.approx(k_2019 * math.exp(5 * g))
    assert per_drive_kg(9, 6.34) == pytest.approx(57.06)


def test_unitemised_decline_from_teehan_kandlikar():
    # 50-60 % lower over about 8 years: central 55 % / 8 yr, ends 50 % / 9 yr and 60 % / 7 yr
    assert decline_rate_per_yr(0.55, 8) == pytest.approx(0.0998, abs=5e-5)
    assert decline_rate_per_yr(0.50, 9) == pytest.approx(0.077, abs=5e-4)
    assert decline_rate_per_yr(0.60, 7) == pytest.approx(0.131, abs=5e-4)
    assert unitemised_electronics_kg(2017, 610.0, 2017, 0.10) == 610.0
    assert unitemised_electronics_kg(2024, 610.0, 2017, 0.10) == pytest.approx(610 * math.exp(-0.7))
    # halves in ln(2)/0.10 = 6.9 years
    assert unitemised_electronics_kg(2017 + math.log(2) / 0.10, 610.0, 2017, 0.10) == pytest.approx(305.0)


def test_fit_recovers_the_level_of_exact_data():
    rng = np.random.default_rng(4)
    item = rng.uniform(200, 3000, 30)
    w = unitemised_electronics_kg(rng.integers(2014, 2023, 30), 1.0, 2017, 0.10)
    assert fit_unitemised_ref_kg(item, item + 610.0 * w, w) == pytest.approx(610.0, abs=1e-4)
    # data already above every itemised estimate's reported value: the fit stops at 0
    assert fit_unitemised_ref_kg(item, 0.5 * item, w) == pytest.approx(0.0, abs=1e-4)


def test_fit_minimises_the_log_ratio_loss():
    rng = np.random.default_rng(5)
    item = rng.uniform(200, 3000, 30)
    w = unitemised_electronics_kg(rng.integers(2014, 2023, 30), 1.0, 2017, 0.10)
    rep = (item + 500.0 * w) * np.exp(rng.normal(0, 0.3, 30))
    u = fit_unitemised_ref_kg(item, rep, w)

    def loss(x):
        return np.sum(np.log((item + x * w) / rep) ** 2)

    assert loss(u) <= min(loss(u - 0.01), loss(u + 0.01))
    assert 200 < u < 1000
