import math

import pytest

import mlsyslab as ml

R1 = "deepseek-r1-distill-llama-70b"


def test_cot_tokens_and_latency_come_from_the_serving_model():
    r = ml.reason(R1, "h100-sxm", tp=4, steps=8, tokens_per_step=256, prompt_tokens=512, answer_tokens=256)
    assert r.tokens_generated == 8 * 256 + 256
    s = ml.serve(R1, "h100-sxm", tp=4, prompt_tokens=512, output_tokens=8 * 256 + 256)
    assert r.latency_s == pytest.approx(s.e2e_s) and r.ttft_s < 0.1 * r.latency_s
    assert r.gpu_seconds == pytest.approx(s.e2e_s * 4)
    assert r.peak_kv_bytes == pytest.approx((512 + 2304) * 327_680)


def test_k16_costs_less_than_16x_but_approaches_k_when_thinking_dominates():
    kw = dict(tp=4, tokens_per_step=512)
    k16 = ml.reason(R1, "h100-sxm", steps=16, **kw)
    assert 1 < k16.latency_multiplier < 16  # TTFT and the answer are paid once
    # short prompt and answer: thinking dominates and the multiplier approaches K
    short = dict(prompt_tokens=64, answer_tokens=8, **kw)
    ratios = [ml.reason(R1, "h100-sxm", steps=k, **short).latency_multiplier / k for k in (2, 8, 32)]
    assert all(0.9 < x < 1.0 for x in ratios[:2]) and ratios[2] > 0.9


def test_itl_grows_along_a_long_chain():
    r = ml.reason(R1, "h200", tp=4, steps=64, tokens_per_step=512, concurrency=8)
    assert r.feasible and r.itl_end_s > 1.2 * r.itl_start_s


def test_best_of_n_parallel_shares_weight_reads_series_does_not():
    kw = dict(strategy="best-of-n", steps=4, samples=8, tp=4)
    par = ml.reason(R1, "h100-sxm", **kw)
    ser = ml.reason(R1, "h100-sxm", parallel=False, **kw)
    assert par.tokens_generated == ser.tokens_generated == 8 * (4 * 256 + 256)
    assert par.peak_live_sequences == 8 and ser.peak_live_sequences == 1
    assert par.peak_kv_bytes == pytest.approx((512 + 8 * 1280) * 327_680)
    assert par.latency_s < ser.latency_s / 5
    assert ser.multiplier == pytest.approx(8 * ml.reason(R1, "h100-sxm", steps=4, tp=4).multiplier, rel=0.05)


def test_tree_search_live_states_and_tokens():
    r = ml.reason("llama-3-8b", "h100-sxm", strategy="tree", steps=5, branching=4, beam=3,
                  tokens_per_step=128, answer_tokens=100)
    assert r.peak_live_sequences == 12
    assert r.tokens_generated == 5 * 12 * 128 + 100
    assert r.peak_kv_bytes == pytest.approx(12 * (512 + 5 * 128) * 131_072)


def test_verification_loop_uses_the_verifier():
    small = ml.reason("llama-3-8b", "h100-sxm", strategy="verify", steps=3, verifier="llama-3-8b")
    big = ml.reason("llama-3-8b", "h100-sxm", strategy="verify", steps=3, verifier="qwq-32b")
    assert small.tokens_generated == 3 * (256 + 32) + 256
    assert big.latency_s > small.latency_s


def test_energy_is_gpu_time_at_power_times_pue():
    r = ml.reason("llama-3-8b", "h100-sxm", steps=2, pue=1.5, power_fraction=0.5)
    assert r.energy_j == pytest.approx(r.gpu_seconds * 700 * 0.5 * 1.5)


def test_concurrency_shares_gpu_seconds():
    one = ml.reason("llama-3-8b", "h100-sxm", steps=4)
    many = ml.reason("llama-3-8b", "h100-sxm", steps=4, concurrency=32)
    assert many.gpu_seconds < one.gpu_seconds / 10 and many.latency_s > one.latency_s


def test_infeasible_reasoning_is_never_costed():
    r = ml.reason("llama-3-70b", "h100-sxm", steps=8)
    assert not r.feasible and "needs 141.1 GB" in r.reason
    assert math.isnan(r.gpu_seconds) and math.isnan(r.energy_j) and math.isnan(r.multiplier)
    with pytest.raises(ml.InfeasibleError):
        r.require_feasible()
    assert r.summary()["gpu_seconds"] is None


def test_bad_input():
    with pytest.raises(ml.ValueRangeError, match="did you mean 'best-of-n'"):
        ml.reason("llama-3-8b", "h100", strategy="bestofn")
    with pytest.raises(ml.ValueRangeError, match="steps must be a whole number >= 1"):
        ml.reason("llama-3-8b", "h100", steps=0)
    with pytest.raises(ml.ValueRangeError, match="pue"):
        ml.reason("llama-3-8b", "h100", pue=0.9)


def test_sweep_steps_is_a_tidy_frame():
    df = ml.sweep_steps("llama-3-8b", "h100-sxm", [1, 2, 4])
    assert list(df["steps"]) == [1, 2, 4] and df["multiplier"].is_monotonic_increasing


def test_a_querys_energy_uses_the_same_power_assumptions_as_the_fleets_bill():
    from mlsyslab.economics.tco import PRICING_DEFAULTS

    r = ml.reason("llama-3-8b", "h100-sxm", steps=2)
    assert r.energy_j == pytest.approx(r.gpu_seconds * 700 * PRICING_DEFAULTS["gpu_power_fraction"]
                                       * PRICING_DEFAULTS["pue"])
