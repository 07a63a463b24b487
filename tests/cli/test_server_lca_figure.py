"""The components figure draws the host terms of server-lca (assembly, unitemised electronics)
when a table has them, and still draws tables written before they existed."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from carbonsim.engine.inputs.coefficients import load_coefficients  # noqa: E402
from carbonsim.engine.inputs.server import load_server  # noqa: E402
from carbonsim.engine.studies.embodied import embodied  # noqa: E402
from carbonsim.report.plots import fig_components  # noqa: E402


def _table(db, set_id):
    e = embodied(load_server("hgx-h100-x8", db), load_coefficients(set_id, db))
    row = {"server": "hgx-h100-x8", "coefficients": set_id}
    row.update({f"host_{c}_kg": v for c, v in e.host_components_kg.items()})
    row.update({f"gpu_{c}_kg": v for c, v in e.gpu_components_kg.items()})
    return pd.DataFrame([row]), e


def test_server_lca_bars_include_its_terms_and_sum_to_the_host(db):
    df, e = _table(db, "server-lca")
    fig = fig_components(df)
    bars = {r.get_gid().split("|")[0]: r.get_width() for ax in fig.axes for r in ax.patches}
    assert bars["host_unitemised_kg"] == pytest.approx(e.host_components_kg["unitemised"])
    assert bars["host_assembly_kg"] == pytest.approx(6.68)
    assert sum(v for k, v in bars.items() if k.startswith("host_")) == pytest.approx(e.host_kg)


def test_tables_without_the_new_columns_still_draw(db):
    df, e = _table(db, "hotcarbon24")
    fig = fig_components(df.drop(columns=["host_assembly_kg", "host_unitemised_kg"]))
    bars = {r.get_gid().split("|")[0]: r.get_width() for ax in fig.axes for r in ax.patches}
    assert sum(v for k, v in bars.items() if k.startswith("host_")) == pytest.approx(e.host_kg)
