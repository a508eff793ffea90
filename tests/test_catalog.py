import dataclasses
import re

import pytest

import mlsyslab as ml
from mlsyslab import _catalog

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


def test_every_hardware_value_has_a_dated_source():
    for hw in ml.HARDWARE.values():
        assert set(hw.sources) >= {"memory_gb", "memory_bandwidth_gb_s", "peak_tflops", "tdp_w",
                                   "interconnect_gb_s", "on_demand_usd_h", "spot_usd_h", "purchase_usd"}
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
    import mlsyslab.hardware as hwmod

    data = _catalog.read_data("hardware.toml")
    del data["accelerators"]["h100-sxm"]["tdp_w"]["src"]
    monkeypatch.setattr(hwmod, "read_data", lambda name: data)
    with pytest.raises(ml.CatalogError, match="names no known source"):
        hwmod._load()


def test_catalog_loader_catches_a_wrong_layer_count(monkeypatch):
    import mlsyslab.models as mmod

    data = _catalog.read_data("models.toml")
    data["models"]["llama-3-8b"]["layers"] = 40
    monkeypatch.setattr(mmod, "read_data", lambda name: data)
    with pytest.raises(ml.CatalogError, match="architecture implies"):
        mmod._load()
