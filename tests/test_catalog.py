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
               "expert_ffn", "moe_layers", "shared_experts", "max_context", "tied_embeddings")


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


def test_sliding_windows_are_stated_as_an_assumption():
    gemma = ml.Model.from_hf_config(Path(__file__).parent / "data" / "hf_configs" / "gemma-3-27b.json")
    assert gemma.tied_embeddings and "1,024-token sliding window" in gemma.notes and "upper bound" in gemma.notes


def test_fp4_weights_need_fp4_tensor_cores():
    r = ml.serve("gpt-oss-120b", "b200", weights="fp4", batch=8)
    assert r.feasible and r.weights_per_gpu_bytes == pytest.approx(116.8e9 * 0.5625, rel=1e-3)
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
