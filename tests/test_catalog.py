import dataclasses
import json
import re
from pathlib import Path

import pytest

import mlsyslab as ml
from mlsyslab.catalog import reader as _catalog

REQUIRED_HW = ["a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "b200", "l40s",
               "a10g", "l4", "t4", "rtx-4090", "mi300x"]
REQUIRED_MODELS = ["llama-3-8b", "llama-3-70b", "llama-3.1-405b", "mistral-7b", "mixtral-8x7b",
                   "qwq-32b", "deepseek-r1-distill-llama-70b", "deepseek-v3", "llama-2-7b"]


def test_required_entries_exist_under_canonical_keys():
    assert set(REQUIRED_HW) <= set(ml.HARDWARE.keys())
    assert set(REQUIRED_MODELS) <= set(ml.MODELS.keys())
    hypothetical = [m for m in ml.MODELS.values() if m.hypothetical]
    assert hypothetical and all(len(m.notes) > 100 for m in hypothetical)


@pytest.mark.parametrize("name, key", [
    ("llama-3-8b", "llama-3-8b"), ("Llama3_8B", "llama-3-8b"), ("LLAMA 3 8B", "llama-3-8b"),
    ("llama-3.1-405b", "llama-3.1-405b"), ("Llama_3.1_405B", "llama-3.1-405b"),
    ("DeepSeek-R1", "deepseek-v3"), ("gpt-4-class", "frontier-moe"),
])
def test_model_lookup_is_forgiving(name, key):
    assert ml.model(name).key == key


@pytest.mark.parametrize("name, key", [("H100", "h100-sxm"), ("h100_sxm", "h100-sxm"),
                                       ("A100", "a100-80gb"), ("MI300X", "mi300x")])
def test_hardware_lookup_is_forgiving(name, key):
    assert ml.accelerator(name).key == key


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ml.UnknownNameError, match=r"did you mean 'llama-3-8b'"):
        ml.model("llama-3-9b")
    with pytest.raises(ml.UnknownNameError, match=r"did you mean 'h200'"):
        ml.accelerator("h2000")
    with pytest.raises(ml.UnknownNameError):
        ml.model(42)
    # the same family and the nearest size come first, not the nearest spelling
    with pytest.raises(ml.UnknownNameError, match=r"did you mean 'llama-2-70b'"):
        ml.model("llama-2-65b")
    with pytest.raises(ml.UnknownNameError, match=r"did you mean 'qwen3-32b'"):
        ml.model("qwen3-34b")


def test_every_hardware_value_has_a_dated_source():
    for hw in ml.HARDWARE.values():
        assert set(hw.sources) >= {"memory_gb", "memory_bandwidth_gb_s", "peak_tflops", "tdp_w",
                                   "interconnect_gb_s", "on_demand_usd_h"}
        for optional in ("spot_usd_h", "purchase_usd"):     # absent (None) or sourced
            assert getattr(hw, optional) is None or optional in hw.sources
        for src in hw.sources.values():
            assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", src.date) and src.title


def test_every_model_has_a_dated_source():
    for m in ml.MODELS.values():
        assert m.source is not None and re.fullmatch(r"\d{4}-\d{2}", m.source.date)


@pytest.mark.parametrize("key", REQUIRED_MODELS + ["frontier-moe"])
def test_stated_parameters_match_the_architecture(key):
    m = ml.model(key)
    total, active = m.architecture_params()
    assert total / 1e9 == pytest.approx(m.params_b, rel=0.02)
    assert active / 1e9 == pytest.approx(m.active_params_b, rel=0.02)


def test_published_architecture_facts():
    assert ml.model("deepseek-v3").params_b == 671 and ml.model("deepseek-v3").active_params_b == 37
    assert ml.model("mixtral-8x7b").experts_per_token == 2
    assert ml.model("llama-3-70b").kv_heads == 8
    assert ml.accelerator("h100-sxm").memory_bandwidth_gb_s == 3350
    assert ml.accelerator("h200").memory_gb == pytest.approx(141 * 2**30 / 1e9)  # 141 GiB
    assert ml.accelerator("a100-80gb").memory_gb == pytest.approx(81920 * 2**20 / 1e9)  # nvidia-smi
    # ridge point of an H100: ~295 FLOP per byte
    assert ml.accelerator("h100-sxm").ridge_point().magnitude == pytest.approx(989.4e12 / 3.35e12)


def test_users_can_build_their_own_and_bad_specs_are_refused():
    hw = dataclasses.replace(ml.accelerator("h100-sxm"), key="my-gpu", memory_gb=96)
    assert ml.accelerator(hw) is hw
    with pytest.raises(ml.CatalogError, match="memory_bandwidth_gb_s must be a positive"):
        dataclasses.replace(hw, memory_bandwidth_gb_s=0)
    with pytest.raises(ml.CatalogError, match="multiple of kv_heads"):
        dataclasses.replace(ml.model("llama-3-8b"), kv_heads=7)
    with pytest.raises(ml.CatalogError, match="assumptions"):
        dataclasses.replace(ml.model("llama-3-8b"), hypothetical=True, notes="")


def test_catalog_loader_refuses_a_value_without_a_source(monkeypatch):
    import mlsyslab.catalog.hardware as hwmod

    data = _catalog.read_data("hardware.toml")
    del data["accelerators"]["h100-sxm"]["tdp_w"]["src"]
    monkeypatch.setattr(hwmod, "read_data", lambda name: data)
    with pytest.raises(ml.CatalogError, match="names no known source"):
        hwmod._load()


def test_catalog_loader_catches_a_wrong_layer_count(monkeypatch):
    import mlsyslab.catalog.models as mmod

    data = _catalog.read_data("models.toml")
    data["models"]["llama-3-8b"]["layers"] = 40
    monkeypatch.setattr(mmod, "read_data", lambda name: data)
    with pytest.raises(ml.CatalogError, match="architecture implies"):
        mmod._load()


HF_CONFIGS = sorted((Path(__file__).parent / "data" / "hf_configs").glob("*.json"))
ARCH_FIELDS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "attention",
               "kv_lora_rank", "rope_head_dim", "q_lora_rank", "experts", "experts_per_token",
               "expert_ffn", "moe_layers", "shared_experts", "max_context", "tied_embeddings",
               "v_head_dim", "shared_expert_ffn", "sliding_window", "sliding_layers", "sparse_topk",
               "index_heads", "index_head_dim", "linear_layers", "linear_state_elements",
               "linear_state_bytes", "linear_layer_params", "mixerless_layers", "ffn_layers",
               "gated_ffn", "attention_output_gate", "mtp_layers")


@pytest.mark.parametrize("path", HF_CONFIGS, ids=lambda p: p.stem)
def test_hf_config_rebuilds_the_catalog_entry(path):
    built = ml.Model.from_hf_config(path)
    entry = ml.MODELS[path.stem]
    for f in ARCH_FIELDS:
        assert getattr(built, f) == getattr(entry, f), f
    assert built.params_b == pytest.approx(entry.params_b, rel=0.01)
    assert built.active_params_b == pytest.approx(entry.active_params_b, rel=0.02)


def test_every_real_catalog_model_has_a_config_and_a_window():
    have = {p.stem for p in HF_CONFIGS}
    for key, m in ml.MODELS.items():
        assert m.max_context, key
        if not m.hypothetical:
            assert key in have, f"{key}: add its config.json fields under tests/data/hf_configs/"


def test_hf_config_from_a_path_works_everywhere_and_unknown_architectures_are_refused(tmp_path):
    cfg = json.loads((Path(__file__).parent / "data" / "hf_configs" / "qwen3-30b-a3b.json").read_text())
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    r = ml.serve(str(path), "h100-sxm", batch=4)
    assert r.feasible and r.model.experts == 128 and r.model.moe_layers == 48
    assert ml.serve(str(tmp_path), "h100-sxm").model.params_b == pytest.approx(30.5, rel=0.01)
    bad = dict(cfg, model_type="mamba", architectures=["MambaForCausalLM"])
    with pytest.raises(ml.CatalogError, match="MambaForCausalLM.*not supported.*supported model types"):
        ml.Model.from_hf_config(bad)
    with pytest.raises(ml.CatalogError, match="has no 'hidden_size'"):
        ml.Model.from_hf_config({k: v for k, v in cfg.items() if k != "hidden_size"})
    with pytest.raises(ml.CatalogError, match="no model config"):
        ml.model(str(tmp_path / "missing.json"))


def test_sliding_window_layers_stop_growing_at_their_window():
    gemma = ml.Model.from_hf_config(Path(__file__).parent / "data" / "hf_configs" / "gemma-3-27b.json")
    assert gemma.tied_embeddings and (gemma.sliding_layers, gemma.sliding_window) == (52, 1024)
    per_layer = gemma.kv_elements_per_token_per_layer
    # beyond the window only the 10 global layers grow: 32K holds far less than 62 full layers
    assert gemma.kv_elements(32768) == pytest.approx(per_layer * (10 * 32768 + 52 * 1024))
    assert gemma.kv_elements(32768) / (per_layer * 62 * 32768) < 0.2
    dep = ml.Deployment("gemma-3-27b", "h100-sxm")
    assert dep.max_batch(32768) >= 4        # about 5 sequences, where full attention would give 1
    # decode reads follow the same rule: the step stops growing with the windowed layers
    f = dep.forward
    assert f.kv_read_bytes(65536) - f.kv_read_bytes(32768) == pytest.approx(
        f.kv_per_layer_tok * 10 * 32768, rel=1e-9)


AIC_CONFIGS = Path(__file__).parent / "data" / "hf_configs"
PUBLISHED = {  # total and active parameters as the vendors publish them (billions)
    "minimax-m2.5": (229, 10), "qwen3.5-397b-a17b": (397, 17), "kimi-k2.5": (1040, 32), "glm-5": (744, 40),
}


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_todays_configs_load_and_reproduce_their_published_size(key):
    m = ml.Model.from_hf_config(AIC_CONFIGS / f"{key}.json")
    total, active = PUBLISHED[key]
    assert m.params_b == pytest.approx(total, rel=0.02)
    # vendors count "active" without the embeddings (MiniMax) or with: within 10%
    assert m.active_params_b == pytest.approx(active, rel=0.10)
    assert ml.MODELS[key].params_b == pytest.approx(m.params_b, rel=1e-3)


def test_kimi_is_deepseek_v3_under_another_label():
    kimi = ml.Model.from_hf_config(AIC_CONFIGS / "kimi-k2.5.json")
    assert kimi.attention == "mla" and kimi.experts == 384 and "DeepseekV3ForCausalLM" in kimi.notes


def test_sparse_attention_decode_is_flat_past_its_k():
    glm = ml.Deployment("glm-5", "h200", tp=8, weights="fp8", kv="fp8")
    dense = ml.Deployment("kimi-k2.5", "h200", tp=8, weights="int4")     # MLA without an indexer
    f = glm.forward
    # the main attention stops at 2,048 context tokens; only the indexer's small keys keep growing
    grow = f.kv_read_bytes(131072) - f.kv_read_bytes(8192)
    assert grow == pytest.approx(f.index_bytes * glm.model.attention_layers * (131072 - 8192))
    # the indexer's 132 bytes per token and layer against the latent's 576: growth well under 16x
    assert f.kv_read_bytes(131072) / f.kv_read_bytes(8192) < 0.6 * 131072 / 8192
    assert dense.forward.kv_read_bytes(131072) / dense.forward.kv_read_bytes(8192) > 0.9 * 131072 / 8192
    t_sparse = [float(glm.step_seconds(32, c)) for c in (2048, 131072)]
    t_dense = [float(dense.step_seconds(32, c)) for c in (2048, 131072)]
    assert t_sparse[1] / t_sparse[0] < t_dense[1] / t_dense[0] / 2


def test_linear_attention_memory_does_not_grow_in_its_layers():
    q = ml.model("qwen3.5-397b-a17b")
    assert (q.linear_layers, q.attention_layers) == (45, 15)
    dep = ml.Deployment(q, "h200", tp=8, weights="fp8", kv="fp8")
    a, b = dep.kv_bytes_per_sequence(1000), dep.kv_bytes_per_sequence(101000)
    assert b - a == pytest.approx(100000 * q.kv_elements_per_token_per_layer * 15 * 1.0)   # fp8 KV
    assert dep.kv_bytes_per_sequence(1) > q.state_bytes_per_sequence     # the state is there from the start
    assert q.state_bytes_per_sequence == pytest.approx(45 * q.linear_state_elements * 4.0)  # fp32 state


EXTRA = Path(__file__).parent / "data" / "hf_configs_extra"


@pytest.mark.parametrize("name, total, active", [("qwen3-next-80b-a3b", 80, 3.9),
                                                 ("deepseek-v3.2", 671.8, 38.3),
                                                 ("nemotron-h-style", 8.0, 8.0)])
def test_hybrid_and_sparse_families_load(name, total, active):
    m = ml.Model.from_hf_config(EXTRA / f"{name}.json")
    assert m.params_b == pytest.approx(total, rel=0.03) and m.active_params_b == pytest.approx(active, rel=0.1)
    assert m.linear_layers or m.sparse_topk
    dep = ml.Deployment(m, "h200", tp=2 if m.params_b < 100 else 8, weights="fp8")
    assert dep.fits(1, 8000)


@pytest.mark.parametrize("change, message", [
    ({"num_attention_heads": 0}, "num_attention_heads must be a whole number >= 1"),
    ({"hidden_size": "4096"}, "hidden_size must be a whole number"),
    ({"intermediate_size": float("nan")}, "intermediate_size must be a whole number"),
    ({"model_type": 7}, "model_type must be a string"),
    ({"num_key_value_heads": 5}, "multiple of num_key_value_heads"),
    ({"num_experts": 0}, "num_experts must be a whole number >= 2"),
    ({"tie_word_embeddings": "yes"}, "tie_word_embeddings must be true or false"),
    ({"head_dim": None, "hidden_size": 4095}, "not a multiple of num_attention_heads"),
])
def test_bad_configs_are_refused_with_the_field_named(change, message):
    cfg = json.loads((Path(__file__).parent / "data" / "hf_configs" / "qwen3-30b-a3b.json").read_text())
    cfg.update(change)
    with pytest.raises(ml.CatalogError, match=message):
        ml.Model.from_hf_config(cfg)


@pytest.mark.parametrize("model, tp", [("qwen2.5-7b", 7), ("llama-3.2-3b", 3), ("llama-3.2-3b", 6)])
def test_tp_degrees_engines_refuse_are_refused(model, tp):
    assert tp not in ml.engine.valid_tps(ml.model(model), ml.accelerator("h100-sxm"))
    with pytest.raises(ml.ValueRangeError, match=f"tp={tp} is not possible.*does not divide"):
        ml.Deployment(model, "h100-sxm", tp=tp)


def test_nvl72_is_one_nvlink_domain():
    hw = ml.accelerator("gb200-nvl72")
    assert hw.scale_up_gpus == 72 and hw.scale_up_link.key == "nvlink5"
    big = ml.Deployment("deepseek-v3", hw, tp=8, ep=64, weights="fp4", kv="fp8")
    assert big.servers == 1                       # 64 GPUs, one domain: the all-to-all stays on NVLink
    hgx = ml.Deployment("deepseek-v3", "b200", tp=8, ep=64, weights="fp4", kv="fp8")
    assert hgx.servers == 8
    assert float(big.step_seconds(512, 4096)) < float(hgx.step_seconds(512, 4096))
    assert 16 in ml.engine.valid_tps(ml.model("llama-3.1-405b"), hw)


def test_fp4_weights_need_fp4_tensor_cores():
    r = ml.serve("gpt-oss-120b", "b200", weights="fp4", batch=8)
    vocab = ml.model("gpt-oss-120b").vocabulary_params       # the embeddings stay in 16 bits
    assert r.feasible and r.weights_per_gpu_bytes == pytest.approx((116.8e9 - vocab) * 0.5625 + vocab * 2, rel=1e-6)
    assert ml.serve("gpt-oss-120b", "b200", weights="mxfp4").weights == "fp4"
    with pytest.raises(ml.ValueRangeError, match="fp4 weights need fp4 tensor cores.*int4"):
        ml.serve("gpt-oss-120b", "h100-sxm", weights="fp4")


def test_todays_accelerators_are_in_the_catalog_with_real_memory():
    for key in ("gh200", "b300", "mi325x", "mi355x", "rtx-pro-6000"):
        hw = ml.accelerator(key)
        assert hw.sources["memory_gb"].date and hw.on_demand_usd_h > 0
    assert ml.accelerator("b300").memory_gb == pytest.approx(288 * 2**30 / 1e9)
    assert "fp4" in ml.accelerator("mi355x").peak_tflops and "fp4" not in ml.accelerator("mi325x").peak_tflops
    # Llama-2-70B fp16 at tp=2 on two 80 GB parts: it fits once the memory is counted in GiB
    assert ml.serve("llama-2-70b", "a100-80gb", tp=2, batch=8, prompt_tokens=128, output_tokens=128).feasible
