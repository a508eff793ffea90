import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlsyslab as ml


def test_llama3_8b_fp16_kv_bytes_per_token():
    # 32 layers x 8 KV heads x 128 head dim x 2 (K, V) x 2 bytes
    assert ml.kv_bytes_per_token("llama-3-8b").magnitude == 32 * 8 * 128 * 2 * 2 == 131_072


def test_r1_distill_70b_reasoning_chain_kv():
    gb = ml.kv_bytes_per_sequence("deepseek-r1-distill-llama-70b", [10_000, 30_000]).to("GB").magnitude
    assert gb[0] == pytest.approx(3.28, abs=0.005)
    assert gb[1] == pytest.approx(9.8, abs=0.05)


@pytest.mark.parametrize("context, published", [(2048, 230), (8192, 56), (32768, 14), (131072, 3)])
def test_llama3_8b_sequences_in_a_60gb_pool(context, published):
    # the literature's worked example says Llama-3-8B; its window is 8K, so the same shape with a
    # 128K window (Llama-3.1-8B) is what can hold these contexts
    exact = 60e9 / (context * 131_072)  # 223.5, 55.9, 14.0, 3.5
    n = ml.max_sequences("llama-3.1-8b", context, pool="60 GB")
    assert n == int(np.floor(exact))  # a sequence either fits or it does not
    assert exact == pytest.approx(published, rel=0.05, abs=0.5)
    # fp8 KV halves the bytes, so twice as many fit
    assert ml.max_sequences("llama-3.1-8b", context, "fp8", pool="60 GB") == int(np.floor(2 * exact))
    if context > 8192:
        assert ml.max_sequences("llama-3-8b", context, pool="60 GB") == 0   # beyond its window


def test_mha_gqa_mla_ordering_per_token():
    mha = ml.kv_bytes_per_token("llama-2-7b").magnitude      # 32 KV heads
    gqa = ml.kv_bytes_per_token("llama-3-8b").magnitude      # 8 KV heads, same depth and width
    mla = ml.kv_bytes_per_token("deepseek-v3").magnitude     # 61 layers x 576 latent
    assert mha == 4 * gqa
    assert mla == 61 * (512 + 64) * 2
    assert mla < ml.kv_bytes_per_token("llama-3-70b").magnitude / 4


@given(st.integers(1, 500_000), st.integers(1, 10))
def test_kv_grows_linearly_with_context(context, k):
    one = ml.kv_bytes_per_sequence("llama-3-70b", context).magnitude
    many = ml.kv_bytes_per_sequence("llama-3-70b", k * context).magnitude
    assert many == pytest.approx(k * one, rel=1e-12)


def test_tensor_parallel_splits_kv_heads_until_they_run_out():
    per = ml.kv_bytes_per_token("llama-3-70b").magnitude
    assert ml.kv_bytes_per_token("llama-3-70b", tp=4).magnitude == per / 4
    assert ml.kv_bytes_per_token("llama-3.1-405b", tp=8).magnitude == ml.kv_bytes_per_token("llama-3.1-405b").magnitude / 8
    # MLA's latent is replicated on every rank
    assert ml.kv_bytes_per_token("deepseek-v3", tp=8) == ml.kv_bytes_per_token("deepseek-v3")


def test_pool_derived_from_hardware():
    pool = ml.kv_pool("llama-3-8b", "h100-sxm").to("GB").magnitude
    dep = ml.Deployment("llama-3-8b", "h100-sxm")
    assert pool == pytest.approx(80 * 2**30 / 1e9 * 0.9 - 8.03 * 2 - dep.workspace_bytes() / 1e9, rel=1e-9)
    assert ml.max_sequences("llama-3-70b", 8192, hardware="h100-sxm") == 0  # weights alone do not fit
    assert ml.max_sequences("llama-3-70b", 8192, hardware="h100-sxm", tp=2) > 0


def test_paged_allocation_wastes_far_less_than_contiguous():
    actual = np.random.default_rng(0).integers(100, 8192, 2_000)
    w = ml.allocation_waste("llama-3-8b", 8192, actual, pool="60 GB")
    assert w.contiguous_waste == pytest.approx(1 - actual.mean() / 8192)
    assert w.paged_waste < 0.01 < 0.3 < w.contiguous_waste
    assert w.paged_sequences > 1.8 * w.contiguous_sequences


def test_kv_bad_input():
    with pytest.raises(ml.ValueRangeError, match="allowed: fp16, bf16, fp8"):
        ml.kv_bytes_per_token("llama-3-8b", "int3")
    with pytest.raises(ml.ValueRangeError, match="exactly one of pool= or hardware="):
        ml.max_sequences("llama-3-8b", 1024)
    with pytest.raises(ml.UnitError, match=r"\[information\]"):
        ml.max_sequences("llama-3-8b", 1024, pool="60 s")
    with pytest.raises(ml.ValueRangeError, match="context must be a number >= 1"):
        ml.max_sequences("llama-3-8b", 0, pool=60)


@pytest.mark.parametrize("key", ["gemma-3-27b", "gpt-oss-120b", "qwen3.5-397b-a17b", "glm-5", "llama-3.1-8b"])
def test_the_kv_helpers_count_windows_and_states_as_the_deployment_does(key):
    # one formula: kv_bytes_per_sequence, max_sequences and kv_cache agree with what serve and
    # load charge (a sliding window or a linear layer's fixed state is not costed as full attention)
    dep = ml.Deployment(key, "h200", tp=8, weights="fp8")
    for c in (1024, 32768):
        helper = ml.kv_bytes_per_sequence(key, c, tp=8).to("byte").magnitude
        assert helper == pytest.approx(float(dep.kv_bytes_per_sequence_per_gpu(c)), rel=1e-12)
    r = ml.kv_cache(key, 32768, tp=8)
    assert r.bytes_per_sequence == pytest.approx(helper, rel=1e-12)
    assert r.layer_kinds == ml.model(key).layer_kinds


def test_gemma_3_at_32k_holds_a_fifth_of_what_full_attention_would():
    per_token = ml.kv_bytes_per_token("gemma-3-27b").magnitude
    held = ml.kv_bytes_per_sequence("gemma-3-27b", 32768).to("byte").magnitude
    assert held == pytest.approx(per_token / 62 * (10 * 32768 + 52 * 1024))
    assert 5.0 < per_token * 32768 / held < 5.6          # the 5.3x
    assert "1,024-token window" in str(ml.kv_cache("gemma-3-27b", 32768))


def test_a_kv_cache_without_a_pool_is_infeasible_not_a_negative_number():
    r = ml.kv_cache("llama-3.1-405b", 1000, hardware="h100-sxm")    # 811 GB of weights on one GPU
    assert not r.feasible and r.max_sequences == 0 and "no KV pool" in r.reason
    assert ml.kv_cache("llama-3.1-405b", 1000, hardware="h100-sxm", tp=8, weights="fp8").feasible
