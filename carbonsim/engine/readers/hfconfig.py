"""A Hugging Face ``config.json`` as a carbonsim model spec (layer 2; ``carbonsim db import-model``).

The shape fields of ``hardware_db/models/<id>.yaml`` (docs/database.md) come from the config's
keys: layers, hidden size, query and key/value heads (grouped-query attention), head size when
the config states one, FFN width, vocabulary, tied embeddings, context length, sliding window,
weight dtype and, for a mixture of experts, the experts, the experts per token, the expert and
shared-expert FFN widths. What the keys do not say (whether the FFN is gated, where positions
come from, which projections carry biases, the norms) is known per ``model_type``
(:data:`FAMILIES`); a ``model_type`` not listed there is refused rather than guessed, and so is
a shape the spec cannot express: dense and MoE layers mixed, sliding-window and full-attention
layers mixed, compressed (MLA) attention, a mixture of attention heads (JetMoE), an encoder.
Parameters are counted from the shape (:func:`carbonsim.models.perf.params.parameter_count`).
"""

from __future__ import annotations

import json
from pathlib import Path

from carbonsim.engine.readers.text import read_text
from carbonsim.errors import InputError
from carbonsim.models.perf.params import parameter_count

#: What a family's config leaves unsaid: gated FFN, position embedding, attention biases, norm
#: vectors per normalisation (1 RMSNorm, 2 LayerNorm), per-head q/k norms, a sigmoid gate on the
#: shared expert, extra rows of a learned position table (OPT offsets positions by 2).
FAMILIES = {
    "llama": dict(gated=True, position="rope", attention_bias=False, norm_params=1),
    "mistral": dict(gated=True, position="rope", attention_bias=False, norm_params=1),
    "mixtral": dict(gated=True, position="rope", attention_bias=False, norm_params=1),
    "qwen2": dict(gated=True, position="rope", attention_bias=True, norm_params=1, qkv_bias_only=True),
    "qwen2_moe": dict(gated=True, position="rope", attention_bias=True, norm_params=1, qkv_bias_only=True,
                      shared_gate=True),
    "qwen3": dict(gated=True, position="rope", attention_bias=False, norm_params=1, qk_norm=True),
    "qwen3_moe": dict(gated=True, position="rope", attention_bias=False, norm_params=1, qk_norm=True),
    "opt": dict(gated=False, position="learned", attention_bias=True, norm_params=2, mlp_bias=True,
                position_offset=2),
}
DTYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32", "fp16": "fp16", "bf16": "bf16"}
MAX_CONFIG_BYTES = 5_000_000


def read_config(path) -> dict:
    """A ``config.json`` as a mapping (a multimodal model's ``text_config`` is refused)."""
    file = str(path)
    try:
        doc = json.loads(read_text(path, "JSON", kind="database", max_bytes=MAX_CONFIG_BYTES))
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg} at line {exc.lineno})", file=file) from None
    if not isinstance(doc, dict):
        raise InputError("a config.json is a JSON object", file=file)
    return doc


def _refuse(file, why, key):
    raise InputError(f"cannot be expressed as a carbonsim model: {why}; write the model file by hand "
                     "(docs/database.md)", file=file, field=key)


def model_from_config(cfg: dict, file: str, model_id: str, source: str, name: str | None = None) -> dict:
    """The model spec (a dict in the order of the shipped files) of a ``config.json``.

    Raises
    ------
    InputError
        A missing or bad key (named), a family not in :data:`FAMILIES`, a shape the spec cannot
        express.
    """
    family = cfg.get("model_type")
    if cfg.get("is_encoder_decoder"):
        _refuse(file, "an encoder-decoder model (carbonsim models decoder-only transformers)", "is_encoder_decoder")
    if family == "jetmoe" or "moe_num_experts" in cfg and "kv_channels" in cfg:
        _refuse(file, "a mixture of attention heads (JetMoE: query experts over shared keys and values)",
                "model_type")
    if cfg.get("kv_lora_rank") or cfg.get("q_lora_rank"):
        _refuse(file, "compressed latent attention (MLA, kv_lora_rank)", "kv_lora_rank")
    if family not in FAMILIES:
        known = ", ".join(FAMILIES)
        raise InputError(f"model_type {family!r} is not one carbonsim knows how to import (it reads: {known}); "
                         "write the model file by hand (docs/database.md)", file=file, field="model_type")
    fam = FAMILIES[family]

    def need(*keys):
        for k in keys:
            if k in cfg and cfg[k] is not None:
                v = cfg[k]
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise InputError(f"expected a whole number >= 1, found {v!r}", file=file, field=k)
                return v
        raise InputError(f"missing key {keys[0]!r}", file=file, field=keys[0])

    layers = need("num_hidden_layers")
    hidden = need("hidden_size")
    heads = need("num_attention_heads")
    kv_heads = need("num_key_value_heads") if cfg.get("num_key_value_heads") is not None else heads
    if heads % kv_heads:
        raise InputError(f"{heads} query heads are not a multiple of {kv_heads} key/value heads", file=file,
                         field="num_key_value_heads")
    head_dim = need("head_dim") if cfg.get("head_dim") is not None else None
    if head_dim is None and hidden % heads:
        raise InputError(f"hidden_size {hidden} is not a multiple of {heads} heads and no head_dim is given",
                         file=file, field="head_dim")
    ffn = need("intermediate_size", "ffn_dim")
    vocab = need("vocab_size")
    max_position = need("max_position_embeddings")
    if family == "opt" and cfg.get("word_embed_proj_dim", hidden) != hidden:
        _refuse(file, "an OPT model with a projected embedding (word_embed_proj_dim != hidden_size)",
                "word_embed_proj_dim")

    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or 0
    moe = None
    if experts:
        if cfg.get("decoder_sparse_step", 1) != 1 or cfg.get("mlp_only_layers") or cfg.get("first_k_dense_replace"):
            _refuse(file, "dense and mixture-of-experts layers mixed (decoder_sparse_step, mlp_only_layers, "
                    "first_k_dense_replace)", "decoder_sparse_step")
        top_k = need("num_experts_per_tok")
        expert_ffn = need("moe_intermediate_size") if cfg.get("moe_intermediate_size") else ffn
        shared_ffn = cfg.get("shared_expert_intermediate_size") or 0
        moe = {"experts": int(experts), "top_k": int(top_k), "expert_ffn": int(expert_ffn),
               "shared_ffn": int(shared_ffn)}
        if shared_ffn:
            moe["shared_experts"] = 1
        moe["note"] = (f"config {'num_local_experts' if cfg.get('num_local_experts') else 'num_experts'} {experts}, "
                       f"num_experts_per_tok {top_k}" + (f", shared expert of width {shared_ffn}" if shared_ffn
                                                          else "; no shared expert"))

    window = cfg.get("sliding_window")
    use_window = cfg.get("use_sliding_window", True)
    sliding = None
    if window and use_window:
        mixed = cfg.get("max_window_layers") is not None and family.startswith("qwen") and \
            cfg["max_window_layers"] < layers
        if mixed or cfg.get("layer_types"):
            _refuse(file, "sliding-window and full-attention layers mixed (max_window_layers, layer_types)",
                    "sliding_window")
        if not isinstance(window, int) or window < 1:
            raise InputError(f"expected a whole number >= 1, found {window!r}", file=file, field="sliding_window")
        if window < max_position:
            sliding = window

    act = cfg.get("hidden_act") or cfg.get("activation_function") or cfg.get("hidden_activation")
    dtype = DTYPES.get(str(cfg.get("torch_dtype") or cfg.get("dtype") or ""))
    tied = cfg.get("tie_word_embeddings", True)  # transformers' default when the key is absent
    bias = bool(cfg.get("attention_bias", fam["attention_bias"])) or (family == "opt" and cfg.get("enable_bias", True))
    hd = head_dim or hidden // heads
    total, active = parameter_count(
        layers, hidden, heads, kv_heads, hd, ffn, 3 if fam["gated"] else 2, vocab, tied,
        attention_bias=bias, mlp_bias=fam.get("mlp_bias", False) or bool(cfg.get("mlp_bias")),
        norm_params=fam["norm_params"], learned_positions=(max_position + fam.get("position_offset", 0))
        if fam["position"] == "learned" else 0, experts=int(experts), top_k=moe["top_k"] if moe else 0,
        expert_ffn=moe["expert_ffn"] if moe else 0, shared_ffn=moe["shared_ffn"] if moe else 0,
        shared_gate=fam.get("shared_gate", False), qk_norm=fam.get("qk_norm", False))
    if fam.get("qkv_bias_only") and bias:
        total -= layers * hidden  # Qwen2's output projection has no bias
        active -= layers * hidden

    doc = {"name": name or cfg.get("_name_or_path") or model_id, "source": source, "family": family}
    archs = cfg.get("architectures") or []
    if archs:
        doc["architecture"] = str(archs[0])
    doc |= {"layers": layers, "hidden": hidden, "heads": heads, "kv_heads": kv_heads}
    if head_dim is not None:
        doc["head_dim"] = head_dim
    doc |= {"ffn": ffn, "gated": fam["gated"]}
    if act:
        doc["activation"] = str(act)
    doc |= {"vocab": vocab, "tied_embeddings": bool(tied), "max_position": max_position,
            "position_embedding": fam["position"], "attention_bias": bias}
    if sliding:
        doc["sliding_window"] = sliding
    if dtype:
        doc["dtype"] = dtype
    if moe:
        doc["moe"] = moe
    how = "counted from the config's shape by carbonsim db import-model (embeddings, attention, FFN, norms" + \
          (", biases" if bias else "") + ")"
    doc["params_b"] = {"value": float(f"{total / 1e9:.6g}"), "source": source, "note": how}
    if moe:
        doc["active_params_b"] = {"value": float(f"{active / 1e9:.6g}"), "source": source,
                                  "note": f"{how}: the router, {moe['top_k']} of {experts} experts"
                                          + (" and the shared expert" if moe["shared_ffn"] else "")}
    return doc


def import_model(config_path, model_id: str, out_dir, db, name: str | None = None,
                 url: str | None = None) -> tuple[Path, dict, str | None]:
    """Write ``out_dir/models/<model_id>.yaml`` from a ``config.json`` and, when the source is new,
    add it to ``out_dir/sources.yaml`` (appended; nothing of the user's is replaced).

    Returns
    -------
    (path, spec, source_text)
        The model file written, its content, and the sources entry appended (None when it was
        already there).

    Raises
    ------
    InputError
        A bad config (named key), an id that is not an id, a model file already there.
    """
    import yaml

    from carbonsim.engine.db.kinds import KINDS
    from carbonsim.engine.db.schema import ID_PATTERN, Checker
    from carbonsim.engine.outputs import write_text_atomic

    if not ID_PATTERN.match(model_id or ""):
        raise InputError(f"{model_id!r} is not an id (lower case, digits, '.', '-', '_')", field="id")
    file = str(config_path)
    cfg = read_config(config_path)
    out = Path(out_dir)
    target = out / "models" / f"{model_id}.yaml"
    if target.exists():
        raise InputError("already exists; carbonsim does not replace a model file (remove it or choose another "
                         "--id)", file=str(target))
    source = f"hf-config-{model_id}"
    spec = model_from_config(cfg, file, model_id, source, name)
    known = set(db.sources())
    entry = None
    sources_file = out / "sources.yaml"
    if source not in known:
        repo = cfg.get("_name_or_path") or spec["name"]
        from datetime import date

        entry = {source: {"title": f"{repo}: config.json ({spec.get('architecture', spec['family'])})",
                          "publisher": "Hugging Face model repository", "year": date.today().year,
                          "url": url or f"file://{Path(file).resolve()}",
                          "note": "imported with carbonsim db import-model; year: the year of the import"}}
    ck = Checker(target, sources=known | {source})
    KINDS["models"].check(spec, "", ck)
    ck.raise_if_errors()
    header = (f"# {spec['name']}, imported by `carbonsim db import-model` from {Path(file).name} "
              f"(model_type {spec['family']}).\n# Check it against the model card; docs/database.md.\n")
    text = header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=110)
    (out / "models").mkdir(parents=True, exist_ok=True)
    entry_text = None
    if entry is not None:
        entry_text = yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=110)
        old = sources_file.read_text(encoding="utf-8") if sources_file.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        write_text_atomic(sources_file, old + entry_text)
    write_text_atomic(target, text)
    return target, spec, entry_text
