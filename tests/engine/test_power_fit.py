"""Fitting host power forms (carbonsim.models.power.fit) and reading measurement CSVs (carbonsim.engine.inputs.power)."""


import numpy as np
import pandas as pd
import pytest
import yaml

from carbonsim.errors import InputError
from carbonsim.models.power.fit import fit_form, fit_host_power, select_form
from carbonsim.models.power.host import evaluate_form
from carbonsim.engine.readers.measurements import read_measurements_csv
from carbonsim.engine.studies.power_fit import (
    fit_measurements_csv, power_fit_json, power_fit_rows, power_model_yaml,
)
from carbonsim.validation import DATA as VALIDATION_DATA

DATA = VALIDATION_DATA / "specpower_sample.csv"
U = np.repeat(np.linspace(0, 1, 11), 3)  # a SPECpower-style ladder, three readings per level


def _noisy(form, const, sigma_w, seed, mem=None):
    rng = np.random.default_rng(seed)
    p = evaluate_form(form, U, const, 0.0 if mem is None else mem)
    return p + rng.normal(0, sigma_w, U.shape)


@pytest.mark.parametrize("form,const", [
    ("linear", {"idle_w": 120.0, "max_w": 340.0}),
    ("power", {"idle_w": 60.0, "max_w": 280.0, "exponent": 0.55}),
    ("log", {"idle_w": 90.0, "max_w": 400.0, "curvature": 0.08}),
])
def test_fit_recovers_known_constants_and_selection_picks_the_form(form, const):
    y = _noisy(form, const, sigma_w=1.5, seed=7)
    res = fit_host_power(U, y)
    assert res.chosen == form
    got = res.fits[form].constants
    for k, v in const.items():
        # tolerance: 1.5 W noise on 33 points gives ~1 W standard error on idle/max; shape
        # constants are checked to 10 %; and each estimate must lie within 4 standard errors
        tol = 3.0 if k.endswith("_w") else 0.10 * v
        assert got[k] == pytest.approx(v, abs=tol), (k, got[k], v)
        assert abs(got[k] - v) < 4 * res.fits[form].stderr[k] + 1e-9 or abs(got[k] - v) < 0.5
    f = res.fits[form]
    assert f.rmse_w == pytest.approx(1.5, rel=0.35) and f.r2 > 0.999 and f.n == len(U)
    assert f.residuals_w.shape == U.shape


def test_memory_term_recovered():
    rng = np.random.default_rng(3)
    mem = rng.uniform(0, 1, U.shape)
    const = {"idle_w": 100.0, "max_w": 300.0, "mem_w": 40.0}
    y = _noisy("linear", const, 1.0, 11, mem)
    res = fit_host_power(U, y, mem_util=mem)
    assert res.best.constants["mem_w"] == pytest.approx(40.0, abs=2.0)


def test_memory_term_dropped_when_collinear():
    res = fit_host_power(U, 100 + 200 * U, mem_util=U * 0.9)
    assert "mem_w" not in res.best.constants and any("corr" in n for n in res.notes)


def test_parsimony_margin_prefers_linear_on_linear_data():
    # exact linear data: all three forms fit perfectly, AICc ties within 2 -> fewest constants
    res = fit_host_power(U, 50 + 150 * U)
    assert res.chosen == "linear"
    assert select_form(res.fits) == "linear"


def test_too_few_points_for_aicc_falls_back_to_linear():
    res = fit_host_power([0, 0.5, 1.0], [100, 180, 300])
    assert res.chosen == "linear" and any("AICc" in n for n in res.notes)


def test_fit_form_rejects_bad_arrays():
    with pytest.raises(ValueError):
        fit_form("power", [0, 1], [1, 2])
    with pytest.raises(ValueError):
        fit_form("cubic", U, U)


def test_specpower_sample_fits_well():
    df = pd.read_csv(DATA).head(20)
    cols = ["p_idle_w"] + [f"p{i}_w" for i in range(10, 101, 10)]
    for _, row in df.iterrows():
        y = row[cols].to_numpy(float)
        res = fit_host_power(np.linspace(0, 1, 11), y)
        assert res.best.r2 > 0.9 and res.best.rmse_w < 0.1 * y.mean()


# ---------------------------------------------------------------------------------------- CSV

def _write(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_percent_detected_and_fit(tmp_path):
    p = _write(tmp_path, "# ladder\ncpu_util,power_w,mem_util,extra\n0,100,0,x\n25,150,10,x\n50,200,30,x\n75,250,40,x\n100,300,70,x\n")
    m = read_measurements_csv(p)
    assert m.util_scale == {"cpu_util": "percent", "mem_util": "percent"}
    np.testing.assert_allclose(m.cpu_util, [0, 0.25, 0.5, 0.75, 1.0])
    assert list(m.lines) == [3, 4, 5, 6, 7]


def test_csv_fraction_and_yaml_block_round_trip(tmp_path):
    u = np.linspace(0, 1, 11)
    y = 80 + 220 * u ** 0.6
    p = _write(tmp_path, "cpu_util,power_w\n" + "".join(f"{a},{b}\n" for a, b in zip(u, y)))
    rep = fit_measurements_csv(p)
    assert rep.measurements.util_scale == {"cpu_util": "fraction"} and rep.fit.chosen == "power"
    block = yaml.safe_load(power_model_yaml(rep))
    pm = block["host"]["power_model"]
    assert pm["form"] == "power" and pm["exponent"] == pytest.approx(0.6, rel=1e-3)
    assert pm["idle_w"] == pytest.approx(80, abs=0.01) and pm["fit"]["n"] == 11
    js = power_fit_json(rep)
    assert js["chosen"] == "power" and set(js["fits"]) == {"linear", "power", "log"}
    rows = power_fit_rows(rep)
    assert rows[0]["chosen"] and rows[0]["form"] == "power"
    forced = fit_measurements_csv(p, form="linear")
    assert forced.fit.chosen == "linear"


@pytest.mark.parametrize("text,field,words", [
    ("", None, "empty"),
    ("# only a comment\n", None, "empty"),
    ("cpu_util,watts\n0.1,100\n", "power_w", "missing column"),
    ("power_w\n100\n", "cpu_util", "missing column"),
    ("cpu_util,power_w\n", None, "no data rows"),
    ("cpu_util,power_w\n0.1,100\n0.5,abc\n", "power_w", "line 3"),
    ("cpu_util,power_w\n0.1,100\nnan,150\n", "cpu_util", "not a finite"),
    ("cpu_util,power_w\n0.1,100\n0.5,\n", "power_w", "empty value"),
    ("cpu_util,power_w\n-0.1,100\n0.5,120\n", "cpu_util", "negative"),
    ("cpu_util,power_w\n10,100\n150,120\n", "cpu_util", "larger than 100"),
    ("cpu_util,power_w\n0.1,100\n0.5,1e308\n", "power_w", "larger than 1e+06"),
    ("cpu_util,power_w\n0.1,100\n0.5,120,7\n", None, "line 3: 3 cells for 2 columns"),
    ("cpu_util,power_w\n0.1,0\n0.5,120\n", "power_w", "> 0"),
    ("cpu_util,power_w,mem_util\n0.1,100,x\n", "mem_util", "not a number"),
])
def test_csv_errors_name_file_column_and_line(tmp_path, text, field, words):
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        read_measurements_csv(p)
    err = exc.value
    assert err.file == str(p) and err.field == field and words in str(err)
    assert str(p) in str(err)


def test_csv_missing_file_and_fit_preconditions(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_measurements_csv(tmp_path / "nope.csv")
    p = _write(tmp_path, "cpu_util,power_w\n0.5,100\n0.5,110\n0.5,105\n")
    with pytest.raises(InputError) as exc:
        fit_measurements_csv(p)
    assert exc.value.field == "cpu_util"
    q = _write(tmp_path, "cpu_util,power_w\n0.1,100\n0.9,200\n", "two.csv")
    with pytest.raises(InputError, match="at least 3"):
        fit_measurements_csv(q)
    with pytest.raises(InputError, match="unknown form"):
        fit_measurements_csv(p, form="cubic")
