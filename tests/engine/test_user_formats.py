"""Files users already have (issue 18): Electricity Maps exports as grids, Hugging Face
config.json files as models, public request traces (Azure LLM inference, BurstGPT) as
arrivals. Each sample under tests/data names its source and licence (tests/data/README.md)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from carbonsim.cli import main
from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = DATA.parents[1]
HOURLY = DATA / "grid" / "electricitymaps_FR_2022_hourly_sample.csv"
YEARLY = DATA / "grid" / "electricitymaps_FR_yearly_sample.csv"
AZURE = DATA / "request_traces" / "azure_llm_conv_2023_sample.csv"
BURST = DATA / "request_traces" / "burstgpt_sample.csv"


# --- Electricity Maps ----------------------------------------------------------------------------
def test_hourly_export_reads_the_lifecycle_column_by_default(db):
    g = resolve_grid(str(HOURLY), db)
    # 48 hourly LCA values of FR on 1-2 January 2022; each holds for its hour, so the
    # time-weighted mean is their plain mean
    lca = np.loadtxt(HOURLY, delimiter=",", skiprows=1, usecols=5)
    assert g.ci_g_per_kwh == pytest.approx(lca.mean(), rel=1e-12) and g.basis == "lifecycle"
    assert "(LCA)" in g.label and "hourly" in g.label and g.trace is not None
    assert g.licence.startswith("Electricity Maps data, ODbL") and g.sources == ("electricitymaps-data-portal",)
    d = resolve_grid(f"{HOURLY}:direct", db)
    direct = np.loadtxt(HOURLY, delimiter=",", skiprows=1, usecols=4)
    assert d.ci_g_per_kwh == pytest.approx(direct.mean(), rel=1e-12) and d.basis == "direct"


def test_yearly_export_is_one_value_per_year(db):
    assert resolve_grid(str(YEARLY), db, year=2024).ci_g_per_kwh == 33
    assert resolve_grid(str(YEARLY), db, year=2025).ci_g_per_kwh == 31
    g = resolve_grid(str(YEARLY), db)
    assert g.ci_g_per_kwh == 32 and g.trace is None and any("mean of 2 yearly values" in w for w in g.warnings)
    with pytest.raises(InputError, match=r"Carbon intensity gCO₂eq/kWh \(direct\): line 2: empty value"):
        resolve_grid(f"{YEARLY}:direct", db)


def test_a_file_of_two_zones_needs_one_chosen(tmp_path, db):
    lines = HOURLY.read_text(encoding="utf-8").splitlines()
    f = tmp_path / "two.csv"
    f.write_text("\n".join([lines[0], lines[1], lines[1].replace("France,France,FR", "Spain,Spain,ES")]) + "\n",
                 encoding="utf-8")
    with pytest.raises(InputError, match="holds 2 zones"):
        resolve_grid(str(f), db)
    assert resolve_grid(f"{f}:ES", db).ci_g_per_kwh == 43.84


def test_schedule_and_footprint_read_the_export_end_to_end():
    r = CliRunner().invoke(main, ["schedule", "--energy-kwh", "10", "--hours", "3", "-g", str(HOURLY),
                                  "--start", "2022-01-01T00:00Z", "--window-hours", "24", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (region,) = doc["regions"]
    assert region["basis"] == "lifecycle" and "Electricity Maps FR" in region["grid"]
    assert doc["best"]["start"] == "2022-01-01T13:00:00Z"  # 13-16 h: 36.61, 37.06, 37.49 g/kWh, the day's lowest
    r = CliRunner().invoke(main, ["footprint", "azure-a100-x4", "-g", f"{HOURLY}:direct", "--util", "0.5"])
    assert r.exit_code == 0 and "(direct, column 'Carbon Intensity gCO₂eq/kWh (direct)')" in r.stdout


# --- Hugging Face config.json ---------------------------------------------------------------------
SHAPE = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "gated", "activation", "vocab",
         "tied_embeddings", "max_position", "position_embedding", "attention_bias", "sliding_window", "dtype")
CONFIGS = sorted(p.stem for p in (DATA / "hf_configs").glob("*.json"))


def test_every_shipped_model_but_jetmoe_has_its_config_saved():
    models = {p.stem for p in (ROOT / "hardware_db" / "models").glob("*.yaml")}
    # jetmoe-8b: no verbatim copy found offline, and the importer refuses MoA; Gemma-2 and Phi-3:
    # model types the importer does not know (gemma2: four norms per layer and soft-capped logits;
    # phi3: fused projections), their shapes written by hand
    assert models - set(CONFIGS) == {"jetmoe-8b", "gemma-2-2b", "gemma-2-9b", "gemma-2-27b", "phi-3-mini",
                                     "phi-3-medium"}


@pytest.mark.parametrize("model_id", CONFIGS)
def test_import_reproduces_the_shipped_shape(tmp_path, db, model_id):
    from carbonsim.engine.readers.hfconfig import import_model

    path, spec, _ = import_model(DATA / "hf_configs" / f"{model_id}.json", model_id, tmp_path, db)
    shipped = yaml.safe_load((ROOT / "hardware_db" / "models" / f"{model_id}.yaml").read_text())
    written = yaml.safe_load(path.read_text())
    assert {k: written.get(k) for k in SHAPE} == {k: shipped.get(k) for k in SHAPE}
    for k in ("experts", "top_k", "expert_ffn", "shared_ffn", "shared_experts"):
        assert (written.get("moe") or {}).get(k) == (shipped.get("moe") or {}).get(k), k
    # counted parameters: within 0.01 % of the shipped counts, which were made by hand and differ
    # in small bookkeeping (norm vectors in llama-7b and vicuna, OPT's final norm and position
    # offset: at most 0.009 %)
    ship = shipped["params_b"]["value"] if isinstance(shipped["params_b"], dict) else shipped["params_b"]
    assert written["params_b"]["value"] == pytest.approx(ship, rel=1e-4)
    if "active_params_b" in shipped:
        assert written["active_params_b"]["value"] == pytest.approx(shipped["active_params_b"]["value"], rel=1e-4)
    assert written["source"] == f"hf-config-{model_id}"  # the shipped source (it exists already)


def test_imported_model_runs_in_a_sweep_through_db(tmp_path):
    cfg = json.loads((DATA / "hf_configs" / "mistral-7b.json").read_text())
    cfg["_name_or_path"] = "my-org/my-7b"
    src = tmp_path / "config.json"
    src.write_text(json.dumps(cfg))
    out = tmp_path / "mydb"
    r = CliRunner().invoke(main, ["db", "import-model", str(src), "--id", "my-7b", "--out", str(out),
                                  "--url", "https://huggingface.co/my-org/my-7b/blob/main/config.json"])
    assert r.exit_code == 0, r.output
    assert "32 layers, hidden 4096, 32 heads / 8 KV heads, 7.24173 B parameters" in r.stdout
    assert "hf-config-my-7b" in (out / "sources.yaml").read_text()
    assert CliRunner().invoke(main, ["db", "check", str(out)]).exit_code == 0
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nserver: azure-a100-x1\nmodel: my-7b\nworkload: {mode: offline, prompt_tokens: 128, "
                        "output_tokens: 64, batch_size: 4}\ndatacenter: {grid: coal}\n")
    r = CliRunner().invoke(main, ["--db", str(out), "sweep", str(scenario), "--no-write", "-q"])
    assert r.exit_code == 0, r.output
    again = CliRunner().invoke(main, ["db", "import-model", str(src), "--id", "my-7b", "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.stderr


@pytest.mark.parametrize("change, words", [
    ({"model_type": "jetmoe"}, "mixture of attention heads"),
    ({"kv_lora_rank": 512}, "compressed latent attention"),
    ({"model_type": "gpt_bigcode"}, "model_type 'gpt_bigcode' is not one carbonsim knows"),
    ({"num_experts": 8, "num_experts_per_tok": 2, "model_type": "qwen2_moe", "decoder_sparse_step": 2},
     "dense and mixture-of-experts layers mixed"),
    ({"model_type": "qwen2", "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 28},
     "sliding-window and full-attention layers mixed"),
    ({"num_hidden_layers": "32"}, "num_hidden_layers: expected a whole number"),
    ({"is_encoder_decoder": True}, "encoder-decoder"),
])
def test_what_cannot_be_expressed_is_refused(tmp_path, change, words):
    # hand-made variants of the Mistral-7B config, each with one thing the spec cannot hold
    cfg = json.loads((DATA / "hf_configs" / "mistral-7b.json").read_text()) | change
    src = tmp_path / "config.json"
    src.write_text(json.dumps(cfg))
    r = CliRunner().invoke(main, ["db", "import-model", str(src), "--id", "x", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and words in r.stderr, r.stderr
    assert not (tmp_path / "o" / "models").exists()


# --- public request traces ------------------------------------------------------------------------
def test_azure_trace_reads_arrivals_from_its_first_request():
    from carbonsim.engine.readers.requests import read_request_trace

    tr = read_request_trace(AZURE)
    assert tr.layout == "azure" and len(tr) == 60
    # 18:15:46.6805900 -> 18:15:50.9951690: 4.314579 s
    assert tr.arrival_s[:2] == pytest.approx([0.0, 4.314579], abs=1e-6)
    assert (tr.prompt_tokens[0], tr.output_tokens[0], tr.prompt_tokens[1]) == (374, 44, 396)


def test_window_and_speedup():
    from carbonsim.engine.readers.requests import TraceOptions, read_request_trace

    whole = read_request_trace(AZURE)
    part = read_request_trace(AZURE, TraceOptions(start_s=5.0, duration_s=10.0, speedup=2.0))
    inside = (whole.arrival_s >= 5.0) & (whole.arrival_s < 15.0)
    assert len(part) == int(inside.sum()) > 0
    assert part.arrival_s == pytest.approx((whole.arrival_s[inside] - 5.0) / 2.0)
    assert list(part.prompt_tokens) == list(whole.prompt_tokens[inside])
    with pytest.raises(InputError, match="no request arrives in the window"):
        read_request_trace(AZURE, TraceOptions(start_s=1000.0))


def test_burstgpt_trace_and_its_failed_requests(tmp_path):
    from carbonsim.engine.readers.requests import read_request_trace

    tr = read_request_trace(BURST)
    assert tr.layout == "burstgpt" and list(tr.arrival_s) == [0.0, 40.0, 113.0]
    assert list(tr.prompt_tokens) == [472, 1087, 417] and list(tr.output_tokens) == [18, 230, 276]
    f = tmp_path / "b.csv"  # a failed request (0 response tokens) is left out, and said so
    f.write_text(BURST.read_text() + "120,GPT-4,300,0,300,API log\n")
    tr = read_request_trace(f)
    assert len(tr) == 3 and "1 of 4 requests with no prompt or no output tokens left out" in tr.notes[0]


def test_the_replay_scenario_runs_and_faster_replay_raises_the_rate():
    import carbonsim

    s = carbonsim.sweep(ROOT / "scenarios" / "azure-trace-replay.yaml")
    p = s.points.sort_values("workload.trace.speedup")
    assert list(p["workload.trace.speedup"]) == [1, 2, 4] and bool(p["feasible"].all())
    rate = p["requests_per_s"].to_numpy()
    assert rate[1] > rate[0] and rate[2] > rate[1]


def test_a_bad_trace_option_is_one_line(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text((ROOT / "scenarios" / "azure-trace-replay.yaml").read_text()
                 .replace("../tests/data/request_traces/", str(DATA / "request_traces") + "/")
                 .replace("speedup: 1\n", "speedup: -2\n"))
    r = CliRunner().invoke(main, ["sweep", str(f), "--no-write"])
    assert r.exit_code == 2 and "workload.trace.speedup" in r.stderr
