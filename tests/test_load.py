"""The engine under load: Deployment step time, the steady-state load model, its simulation, SLOs."""

import numpy as np
import pytest

import mlsyslab as ml

IDEAL = ml.Efficiency.ideal()
DEP = ml.Deployment("llama-3-8b", "h100-sxm")


# --- Deployment ------------------------------------------------------------------------------

def test_step_time_pins_the_roofline_numbers():
    d = ml.Deployment("llama-3-8b", "h100-sxm", efficiency=IDEAL)
    m = d.model
    weights = 8.03e9 * 2
    assert d.weight_bytes == pytest.approx(weights, rel=2e-3)
    embedding = m.vocabulary_params / 2 * 2                 # the input table: gathered, not read
    # one decode token at context 0: the weights over the bandwidth
    assert float(d.step_seconds(1, 0)) == pytest.approx((d.weight_bytes - embedding) / 3.35e12, rel=1e-9)
    # 2,048 prompt tokens: the body compute-bound (2 P per token, the vocabularies left out), the
    # lm_head read once for the one token that gets logits, causal attention over 1,024 on average
    lm = m.vocabulary_params / 2
    body = 2048 * 2 * (m.params_b * 1e9 - 2 * lm)
    attention = 2048 * 4 * m.layers * m.heads * m.head_dim * 1024
    lm_read = lm * 2 / 3.35e12
    expected = (body + attention) / 989.4e12 + lm_read
    assert float(d.step_seconds(0, 0, 2048, 1024)) == pytest.approx(expected, rel=1e-9)


def test_tp2_all_reduce_adds_its_latency_and_its_bytes_over_the_link():
    d1 = ml.Deployment("llama-3-8b", "h100-sxm", tp=2, efficiency=IDEAL)
    # an all-reduce after each attention and each FFN, 64 in all: the link's measured latency
    # (3.7 us on NVLink 4 at tp 2) plus T x hidden x 2 bytes, of which a ring moves 2 (tp-1)/tp
    per_token = 2 * 32 * 2 * (1 / 2) * 4096 * 2 / 450e9
    st = d1.step_time(decode_tokens=8, decode_context=0)
    assert float(st.communication_s) == pytest.approx(64 * 3.7e-6 + 8 * per_token, rel=1e-9)


def test_more_bandwidth_is_never_slower():
    import dataclasses
    base = ml.accelerator("h100-sxm")
    times = [float(ml.Deployment("llama-3-8b", dataclasses.replace(base, key=f"bw{b}",
                                 memory_bandwidth_gb_s=b)).step_seconds(16, 2048)) for b in (1000, 2000, 4000)]
    assert times[0] > times[1] > times[2]


def test_memory_pool_and_max_batch():
    d = ml.Deployment("llama-3-8b", "h100-sxm")
    pool = d.usable_bytes - d.weight_bytes - d.workspace_bytes()
    assert d.kv_pool_bytes() == pytest.approx(pool)
    assert d.max_batch(4096) == int(pool // (4096 * 131072))
    assert d.max_batch(8192) == int(pool // (8192 * 131072))
    with pytest.raises(ml.ValueRangeError, match="tp=3 is not possible"):
        ml.Deployment("llama-3-8b", "h100-sxm", tp=3)


# --- the load model ------------------------------------------------------------------------------

def test_one_client_sees_the_idle_latency():
    r = ml.load(DEP, concurrency=1, prompt_tokens=512, output_tokens=256)
    s = ml.serve(DEP, batch=1, prompt_tokens=512, output_tokens=256)
    assert r.ttft_s == pytest.approx(s.ttft_s, rel=0.05)
    assert r.e2e_s == pytest.approx(s.e2e_s, rel=0.02)


def test_streaming_itl_includes_other_requests_prefill():
    # long prompts near saturation: the decode-only ITL of a static batch is far too optimistic
    r = ml.load(DEP, concurrency=128, prompt_tokens=2048, output_tokens=256)
    static = ml.serve(DEP, batch=128, prompt_tokens=2048, output_tokens=256)
    assert r.itl_s > 1.5 * static.itl_s
    assert r.itl_p99_s > 2 * r.itl_s          # the p99 gap is a step that carries a prompt
    # and cohort prefill is far too pessimistic for TTFT
    assert static.ttft_s > 10 * r.ttft_s


def test_knee_throughput_saturates_at_the_memory_bound():
    c = np.array([1, 8, 64, 1000, 4000])
    r = ml.load(DEP, concurrency=c, prompt_tokens=2048, output_tokens=256)
    limit = DEP.max_batch(2048 + 256 / 2)          # paged KV: half the answer held on average
    assert r.batch_limit[0] == limit
    reserved = ml.load(DEP, concurrency=4000, prompt_tokens=2048, output_tokens=256, kv_allocation="reserved")
    assert reserved.batch_limit == DEP.max_batch(2048 + 256)
    assert np.all(np.diff(r.throughput_tok_s) >= -1e-6)
    assert r.throughput_tok_s[-1] == pytest.approx(r.throughput_tok_s[-2], rel=1e-6)
    assert r.bottleneck[-1] == "memory" and r.queue[-1] == pytest.approx(4000 - limit)
    assert r.ttft_s[-1] > 100 * r.ttft_s[0]


def test_open_loop_overload_is_infeasible_not_costed():
    r = ml.load(DEP, rate=np.array([1.0, 1e4]), prompt_tokens=512, output_tokens=256)
    assert r.feasible.tolist() == [True, False]
    assert np.isnan(r.ttft_s[1]) and "overloaded" in r.reason[1]


def test_infeasible_model_has_a_reason():
    r = ml.load("llama-3-70b", "h100-sxm", concurrency=4)
    assert not r.feasible and "weights" in r.reason and "tp=" in r.reason


SIM_GRID = [("concurrency", c, S, N) for S, N in [(2048, 256), (256, 512)] for c in (4, 32, 160)]


@pytest.fixture(scope="module")
def versus():
    rows = []
    kw = dict(prompt_cv=0.3, output_cv=0.3)
    for kind, x, S, N in SIM_GRID:
        a = ml.load(DEP, **{kind: x}, prompt_tokens=S, output_tokens=N, **kw)
        s = ml.simulate(DEP, **{kind: x}, prompt_tokens=S, output_tokens=N, requests=1500, **kw)
        rows.append((a, s))
    for S, N in [(2048, 256), (256, 512)]:
        cap = ml.load(DEP, concurrency=1, prompt_tokens=S, output_tokens=N, **kw).capacity_rps
        for f in (0.3, 0.7, 0.95):
            a = ml.load(DEP, rate=f * cap, prompt_tokens=S, output_tokens=N, **kw)
            s = ml.simulate(DEP, rate=f * cap, prompt_tokens=S, output_tokens=N, requests=3000, **kw)
            rows.append((a, s))
    return rows


@pytest.mark.parametrize("metric", ["ttft_s", "itl_s", "throughput_tok_s"])
def test_analytic_means_track_the_simulation(versus, metric):
    errors = [abs(getattr(a, metric) / getattr(s, metric) - 1) for a, s in versus]
    print(metric, np.round(errors, 3))
    assert np.median(errors) <= 0.15


def test_simulation_is_seeded_and_saturates_where_the_model_does():
    kw = dict(prompt_tokens=512, output_tokens=256, prompt_cv=0.3, output_cv=0.3)
    a = ml.simulate(DEP, concurrency=800, seed=3, requests=3000, **kw)
    assert a == ml.simulate(DEP, concurrency=800, seed=3, requests=3000, **kw)
    model = ml.load(DEP, concurrency=800, **kw)
    assert a.throughput_tok_s == pytest.approx(model.throughput_tok_s, rel=0.05)
    assert a.batch == pytest.approx(model.batch_limit, rel=0.05)


# --- SLO, goodput, fleets ---------------------------------------------------------------------------

def test_slo_names_its_statistics():
    slo = ml.SLO(ttft_ms=500, itl_ms=20, itl_stat="p99")
    assert str(slo) == "p99 TTFT <= 500 ms and p99 ITL <= 20.0 ms"
    r = ml.load(DEP, concurrency=np.array([1, 200]), prompt_tokens=2048, output_tokens=256)
    assert slo.met(r).tolist() == [True, False]
    with pytest.raises(ml.ValueRangeError):
        ml.SLO(ttft_ms=-1)
    with pytest.raises(ml.ValueRangeError):
        ml.SLO(itl_stat="p95")


@pytest.mark.parametrize("rate", [0.5, 5, 20, 60])
def test_goodput_never_exceeds_throughput(rate):
    g = ml.goodput(DEP, rate=rate, slo=ml.SLO(ttft_ms=300, itl_ms=20), quality=0.9)
    assert 0 <= g.goodput_rps <= g.throughput_rps <= rate + 1e-12


def test_goodput_uses_the_occupied_batch_and_collapses_past_capacity():
    slo = ml.SLO(ttft_ms=500, itl_ms=15)
    light = ml.goodput(DEP, rate=2, slo=slo)
    assert light.goodput_rps == pytest.approx(2, rel=0.01) and light.batch < 10
    over = ml.goodput(DEP, rate=10 * light.load.capacity_rps, slo=slo)
    assert not over.feasible and over.goodput_rps == 0 and over.usd_per_accepted is None


def test_fleet_sizes_with_the_load_model_and_no_hidden_cap():
    slo = ml.SLO(ttft_ms=1000, itl_ms=30)
    f = ml.fleet("llama-3-8b", "h100-sxm", qps=40, prompt_tokens=1024, output_tokens=256, slo=slo, tp=1)
    assert f.feasible
    assert slo.met(ml.load(DEP, rate=40 / f.replicas, prompt_tokens=1024, output_tokens=256))
    if f.replicas > 1:
        assert not slo.met(ml.load(DEP, rate=40 / (f.replicas - 1), prompt_tokens=1024, output_tokens=256))
    assert f.batch_limit == DEP.max_batch(1024 + 256 / 2)
    assert f.ttft_p99_s * 1e3 <= 1000 and f.itl_s * 1e3 <= 30


def test_fleet_reports_an_slo_it_cannot_meet():
    f = ml.fleet("llama-3-8b", "h100-sxm", qps=1, slo=ml.SLO(itl_ms=1.0), tp=1)
    assert not f.feasible and "ITL" in f.reason
    with pytest.raises(ml.InfeasibleError):
        ml.tco(f)


@pytest.mark.parametrize("allocation", ["paged", "reserved"])
def test_memory_bound_and_saturated_throughput_match_the_simulation(allocation):
    kw = dict(prompt_tokens=512, output_tokens=512, prompt_cv=0.3, output_cv=0.3, kv_allocation=allocation)
    model = ml.load(DEP, concurrency=1024, **kw)
    sim = ml.simulate(DEP, concurrency=1024, requests=4096, **kw)
    assert sim.batch == pytest.approx(model.batch_limit, rel=0.02)
    assert sim.throughput_tok_s == pytest.approx(model.throughput_tok_s, rel=0.10)
    assert (sim.preemptions > 0) == (allocation == "paged")


def test_the_engines_own_limits_apply_where_none_are_given():
    # vLLM on an A100 keeps at most 256 requests running and 2,048 tokens a pass (engines.toml,
    # from its arg_utils): 512 clients of short requests leave 256 waiting for a slot, in the
    # model as in the simulation, which runs the same defaults
    a100 = ml.Deployment("llama-3-8b", "a100-80gb")
    assert a100.serving_limits() == (256, 2048, "paged")
    assert int(a100.max_batch(256)) > 512                       # memory alone would admit them all
    r = ml.load(a100, concurrency=512, prompt_tokens=128, output_tokens=128)
    assert r.batch_limit == 256 and r.queue == pytest.approx(256) and r.bottleneck == "batch cap"
    free = ml.load(a100, concurrency=512, prompt_tokens=128, output_tokens=128, max_batch=10_000)
    assert free.batch_limit >= 512 and free.queue == 0 and r.ttft_s > 2 * free.ttft_s
    assert r.max_batched_tokens == 2048 and free.max_batched_tokens == 2048
    sim = ml.simulate(a100, concurrency=512, prompt_tokens=128, output_tokens=128, requests=1500)
    assert sim.batch <= 256 + 1e-9
    assert sim.ttft_s == pytest.approx(r.ttft_s, rel=0.35)
    # TensorRT-LLM reserves each request's whole context by default; SGLang leaves the batch to memory
    trt = ml.Deployment("llama-3-8b", "h100-sxm", engine="trtllm")
    assert trt.serving_limits()[2] == "reserved"
    long = dict(concurrency=4000, prompt_tokens=2000, output_tokens=2000)
    assert ml.load(trt, **long).batch_limit == int(trt.max_batch(4000))
    assert ml.load(trt, kv_allocation="paged", **long).batch_limit > int(trt.max_batch(4000))
    assert ml.Deployment("llama-3-8b", "h100-sxm", engine="sglang").serving_limits()[0] is None


def test_the_root_finder_finds_smooth_roots_jumps_and_ends():
    from mlsyslab.engine.load import _bisect

    lo, hi = np.zeros(5), np.full(5, 100.0)
    roots = np.array([0.5, 3.0, 37.2, 99.0, 64.0])
    smooth = _bisect(lambda x: np.tanh(x - roots) + 0.01 * (x - roots), lo, hi)
    assert smooth == pytest.approx(roots, abs=1e-6)      # rtol of the bracket: 1e-9 x 100
    jump = _bisect(lambda x: np.where(x > roots, 1.0, -1.0) + 0.0 * x, lo, hi)   # a step, no slope
    assert jump == pytest.approx(roots, abs=1e-6)
    ends = _bisect(lambda x: x - np.array([-5.0, 500.0]), np.zeros(2), np.full(2, 10.0))
    assert ends.tolist() == [0.0, 10.0]                 # positive everywhere: lo; nowhere: hi
