"""Physical invariants as properties: hypothesis draws the configuration, the physics must hold.

Each property is one a reader would state without a model: more bandwidth is never slower, a longer
prompt never reaches its first token sooner, more traffic never shortens the tail, p99 is never
below the mean, more queries never need fewer GPUs, a cheaper GPU-hour never costs more.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlsyslab as ml

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = st.sampled_from([("llama-3-8b", 1), ("llama-3.1-8b", 1), ("llama-3-70b", 4), ("qwen3-32b", 2),
                          ("mixtral-8x7b", 2), ("gemma-3-27b", 1), ("gpt-oss-120b", 2)])
GPUS = st.sampled_from(["h100-sxm", "h200", "a100-80gb", "b200"])


@FAST
@given(MODELS, GPUS, st.integers(1, 256), st.integers(1, 32768), st.floats(1.1, 4.0))
def test_more_bandwidth_is_never_slower(model_tp, gpu, batch, context, factor):
    model, tp = model_tp
    hw = ml.accelerator(gpu)
    faster = dataclasses.replace(hw, key=hw.key + "-fast", memory_bandwidth_gb_s=hw.memory_bandwidth_gb_s * factor)
    slow = ml.Deployment(model, hw, tp=tp, weights="fp8" if hw.key != "a100-80gb" else "fp16")
    fast = ml.Deployment(model, faster, tp=tp, weights=slow.weights, efficiency=slow.efficiency)
    t_slow, t_fast = float(slow.step_seconds(batch, context)), float(fast.step_seconds(batch, context))
    assert np.isfinite(t_slow) and t_slow > 0
    assert t_fast <= t_slow * (1 + 1e-12)


@FAST
@given(MODELS, GPUS, st.integers(1, 64), st.integers(16, 4000), st.integers(2, 512))
def test_a_longer_prompt_never_reaches_its_first_token_sooner(model_tp, gpu, concurrency, prompt, output):
    model, tp = model_tp
    dep = ml.Deployment(model, gpu, tp=tp)
    r = ml.load(dep, concurrency=concurrency, prompt_tokens=np.array([prompt, 2 * prompt]), output_tokens=output)
    ok = np.asarray(r.feasible)
    if ok.all():
        assert r.ttft_s[1] >= r.ttft_s[0] * (1 - 1e-9)
    s = ml.serve(dep, batch=1, prompt_tokens=np.array([prompt, 2 * prompt]), output_tokens=output)
    if np.all(s.feasible):
        assert s.ttft_s[1] >= s.ttft_s[0]


@FAST
@given(MODELS, GPUS, st.integers(64, 8000), st.integers(16, 1024), st.floats(0.0, 0.5))
def test_more_traffic_never_shortens_the_tail_and_p99_is_never_below_the_mean(model_tp, gpu, prompt, output, cv):
    model, tp = model_tp
    dep = ml.Deployment(model, gpu, tp=tp)
    cap = ml.load(dep, rate=1e-3, prompt_tokens=prompt, output_tokens=output, prompt_cv=cv).capacity_rps
    if not np.isfinite(cap):
        return
    r = ml.load(dep, rate=cap * np.linspace(0.05, 0.95, 12), prompt_tokens=prompt, output_tokens=output,
                prompt_cv=cv, output_cv=cv)
    ok = np.asarray(r.feasible)
    for mean, p50, p90, p99 in ((r.ttft_s, r.ttft_p50_s, r.ttft_p90_s, r.ttft_p99_s),
                                (r.itl_s, r.itl_p50_s, r.itl_p90_s, r.itl_p99_s)):
        m, a, b, c = (np.asarray(x)[ok] for x in (mean, p50, p90, p99))
        assert np.all(np.isfinite(m) & (m > 0))
        assert np.all(a <= b * (1 + 1e-9)) and np.all(b <= c * (1 + 1e-9)) and np.all(c >= m * (1 - 1e-9))
    p99 = np.asarray(r.ttft_p99_s)[ok]
    assert np.all(np.diff(p99) >= -1e-9 * p99[:-1])


@FAST
@given(MODELS, GPUS, st.integers(1, 512), st.integers(16, 4000), st.integers(2, 512))
def test_closed_loop_p99_is_never_below_the_mean(model_tp, gpu, concurrency, prompt, output):
    model, tp = model_tp
    for start in ("staggered", "together"):
        r = ml.load(model, gpu, tp=tp, concurrency=concurrency, prompt_tokens=prompt, output_tokens=output,
                    start=start)
        if r.feasible:
            assert r.ttft_p99_s >= r.ttft_s * (1 - 1e-9) and r.itl_p99_s >= r.itl_s * (1 - 1e-9)
            assert 0 < r.ttft_s < r.e2e_s and r.throughput_tok_s > 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([("llama-3-8b", "h100-sxm"), ("llama-3-70b", "h100-sxm"), ("qwen3-32b", "h200")]),
       st.floats(0.5, 40.0), st.floats(1.2, 4.0))
def test_more_queries_never_need_fewer_gpus(model_gpu, qps, factor):
    model, gpu = model_gpu
    kw = dict(prompt_tokens=1000, output_tokens=200, slo=ml.SLO(ttft_ms=2000, itl_ms=50))
    small, big = ml.fleet(model, gpu, qps=qps, **kw), ml.fleet(model, gpu, qps=qps * factor, **kw)
    assert small.feasible and big.feasible
    assert big.gpus >= small.gpus


@settings(max_examples=15, deadline=None)
@given(st.floats(0.5, 20.0), st.floats(0.1, 0.95))
def test_a_cheaper_gpu_hour_never_costs_more(price, cheaper):
    f = ml.fleet("llama-3-8b", "h100-sxm", qps=5, prompt_tokens=500, output_tokens=200)
    dear = ml.tco(f, pricing=ml.Pricing(usd_per_gpu_hour=price))
    cheap = ml.tco(f, pricing=ml.Pricing(usd_per_gpu_hour=price * cheaper))
    assert 0 < cheap.annual_usd <= dear.annual_usd
    assert cheap.usd_per_million_tokens <= dear.usd_per_million_tokens


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="0123456789.,+-*/^() eEms", min_size=1, max_size=12))
def test_text_is_read_as_one_number_or_refused_never_evaluated(text):
    import re

    from mlsyslab.units import parse_quantity_text

    try:
        value = parse_quantity_text(text, "ms", "t")
    except ml.UnitError:
        return
    # accepted: one plain number first (no arithmetic in it), its magnitude kept as written
    lead = re.match(r"\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)", text)
    assert lead is not None, text
    assert value.magnitude == pytest.approx(float(lead.group(1))), text
    assert text.strip()[len(lead.group(1)):].strip()[:1] not in set("0123456789.,*(")
