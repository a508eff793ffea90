"""The forward pass term by term: each against a number worked by hand or measured."""

import numpy as np
import pytest

import mlsyslab as ml
from mlsyslab.catalog.hardware import LINKS
from mlsyslab.catalog.precision import BYTES_PER_WEIGHT, VOCABULARY_BYTES

IDEAL = ml.Efficiency.ideal()


def test_quantised_weights_keep_16_bit_vocabularies_and_pay_their_scales():
    m = ml.model("llama-3-8b")
    vocab = 2 * 128256 * 4096                       # input embedding and lm_head, untied
    assert m.vocabulary_params == pytest.approx(vocab, rel=0.01)
    int4 = ml.Deployment(m, "h100-sxm", weights="int4")
    # 4-bit body with a 16-bit scale and 4-bit zero per 128, the vocabularies in 16 bits: ~5.7 GB
    assert int4.weight_bytes / 1e9 == pytest.approx(5.7, abs=0.1)
    body = m.params_b * 1e9 - m.vocabulary_params
    assert int4.weight_bytes == pytest.approx(body * (0.5 + 2.5 / 128) + m.vocabulary_params * 2)
    fp8 = ml.Deployment(m, "h100-sxm", weights="fp8")
    assert fp8.weight_bytes / 1e9 == pytest.approx(9.1, abs=0.1)


def test_prefill_flops_leave_out_the_embedding_and_most_of_the_lm_head():
    dep = ml.Deployment("llama-3-8b", "h100-sxm")
    m = dep.model
    lm = m.vocabulary_params / 2
    S = 2048
    body = 2 * (m.params_b * 1e9 - 2 * lm)
    expected = body * S + 2 * lm + dep.forward.prefill_flops(S / 2) * S
    assert dep.prefill_flops(S) == pytest.approx(expected, rel=1e-9)
    naive = 2 * m.params_b * 1e9 * S
    assert 0.8 < dep.prefill_flops(S) / naive < 0.95       # about 13% fewer than 2 P per token


def test_an_allreduce_costs_the_links_measured_latency_at_every_degree():
    nv4 = LINKS["nvlink4"]
    assert nv4.allreduce_latency_us(1) == 0
    assert nv4.allreduce_latency_us(2) == pytest.approx(3.7)
    assert nv4.allreduce_latency_us(8) == pytest.approx(5.9)
    assert nv4.allreduce_latency_us(2) < nv4.allreduce_latency_us(4) < nv4.allreduce_latency_us(8)
    one = ml.Deployment("llama-3-8b", "h100-sxm", tp=2, efficiency=IDEAL)
    f = one.forward
    # one all-reduce after each attention and each FFN: 64 of them at the measured latency
    assert f.n_ar == 64 and f.ar_fixed == pytest.approx(64 * 3.7e-6)


def test_the_fixed_cost_per_layer_is_paid_at_every_tp_so_tp_never_turns_slower_at_batch_one():
    for model, gpu in (("llama-2-7b", "h100-sxm"), ("llama-3.1-70b", "h200"), ("llama-3-8b", "h100-sxm")):
        tps = ml.engine.valid_tps(ml.model(model), ml.accelerator(gpu))
        steps = []
        for tp in tps:
            dep = ml.Deployment(model, gpu, tp=tp, weights="fp8" if "70b" in model else "fp16")
            if dep.weights_fit():
                steps.append(float(dep.step_seconds(1, 1024)))
        assert all(b < a for a, b in zip(steps, steps[1:])), (model, steps)


def test_mla_prefill_runs_uncompressed_and_decode_absorbed():
    dep = ml.Deployment("deepseek-v3", "h200", tp=8, weights="fp8", kv="fp8")
    m, f = dep.model, dep.forward
    assert f.a_pre == 2 * m.heads * (128 + 64 + 128)               # 40,960 per layer
    assert f.a_dec == 2 * m.heads * (2 * 512 + 64)                 # 278,528: 6.8x
    # attention's math follows the KV precision, not the weights'
    bf16_kv = ml.Deployment("deepseek-v3", "h200", tp=8, weights="fp8", kv="fp16")
    assert bf16_kv.forward.f_attn < f.f_attn


def test_fp8_matmuls_gain_less_than_the_datasheet_ratio():
    eff = ml.calibrated_efficiency("h100-sxm")
    gain = eff.compute_fp8 * 1978.9 / (eff.compute * 989.4)
    assert 1.1 < gain < 1.8


def test_a_pipeline_fills_and_drains_for_a_lone_prompt():
    base = dict(weights="fp16", kv="fp16")
    one = ml.Deployment("llama-3.1-70b", "h100-sxm", tp=4, **base)
    t1 = float(one.prefill_latency(8000, 4000))
    for engine in ("sglang", "vllm"):
        two = ml.Deployment("llama-3.1-70b", "h100-sxm", tp=4, pp=2, engine=engine, **base)
        t2 = float(two.prefill_latency(8000, 4000))
        if engine == "vllm":   # pipelines whole requests: a lone prompt crosses the stages in turn
            assert t2 == pytest.approx(t1, rel=0.05)
        else:                  # chunked: (2 pp - 1) / pp of a half-size pass, about 3/4 of one stage-less pass
            assert 0.6 * t1 < t2 < 0.9 * t1
    serve_ttft = ml.serve(two, batch=1, prompt_tokens=8000, output_tokens=2).ttft_s
    assert serve_ttft >= float(two.prefill_latency(8000, 4000))


def test_moe_at_small_batch_never_beats_one_tokens_expert_read():
    dep = ml.Deployment("mixtral-8x7b", "l40s", tp=2, weights="fp8", kv="fp8")
    m = dep.model
    # one token reads the dense part and 2 of 8 experts per layer, at the datasheet's 864 GB/s;
    # the input embedding is gathered (one row per token), not read whole
    routed = m.routed_expert_params_total * BYTES_PER_WEIGHT["fp8"]
    dense = dep.weight_bytes - routed - m.embedding_params * VOCABULARY_BYTES
    floor = (dense + routed * 2 / 8) / 2 / 864e9
    assert float(dep.weights_read_bytes(1)) == pytest.approx((dense + routed * 2 / 8) / 2, rel=1e-3)
    for c in (1, 2, 4):
        r = ml.load(dep, concurrency=c, prompt_tokens=512, output_tokens=256)
        assert r.itl_s >= floor, c
    assert ml.serve(dep, batch=1, prompt_tokens=512, output_tokens=256).itl_s >= floor


def test_sliding_window_models_are_costed_with_their_windows():
    dep = ml.Deployment("gpt-oss-120b", "h200")
    f = dep.forward
    per = f.kv_per_layer_tok
    assert f.kv_read_bytes(32768) == pytest.approx(per * (18 * 32768 + 18 * 128))


def test_more_bandwidth_is_never_slower_and_the_floor_is_the_weight_read():
    dep = ml.Deployment("llama-3-8b", "h100-sxm", efficiency=IDEAL)
    t = float(dep.step_seconds(1, 1))
    read = float(dep.weights_read_bytes(1))   # every weight but the input embedding (a gather)
    assert read == pytest.approx(dep.weight_bytes - dep.model.embedding_params * VOCABULARY_BYTES)
    assert t >= read / 3.35e12
    faster = ml.Accelerator(key="fast", name="fast", memory_gb=80, memory_bandwidth_gb_s=6700,
                            peak_tflops={"fp16": 989.4}, tdp_w=700, interconnect_gb_s=450)
    assert float(ml.Deployment("llama-3-8b", faster, efficiency=IDEAL).step_seconds(1, 1)) < t


@pytest.mark.parametrize("model, gpu, tp", [("llama-3.1-70b", "h100-sxm", 4), ("deepseek-v3", "h200", 8),
                                            ("qwen3.5-397b-a17b", "h200", 8), ("glm-5", "h200", 8)])
def test_step_time_is_finite_positive_and_grows_with_work(model, gpu, tp):
    dep = ml.Deployment(model, gpu, tp=tp, weights="fp8", kv="fp8")
    d = np.array([1, 8, 64, 256])
    t = dep.step_seconds(d, 2048)
    assert np.all(np.isfinite(t)) and np.all(t > 0) and np.all(np.diff(t) >= 0)
    assert np.all(dep.step_seconds(8, np.array([1024, 4096, 16384])) > 0)
    st = dep.step_time(decode_tokens=8, decode_context=2048, prefill_tokens=512, prefill_context=256)
    parts = st.linear_memory_s, st.communication_s, st.overhead_s, st.attention_s
    assert all(float(p) >= 0 for p in parts) and float(st.total_s) > 0
