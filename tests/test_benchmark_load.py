"""A benchmark run (clients started together) in the analytic model, against the simulation."""

import numpy as np
import pytest

import mlsyslab as ml
from mlsyslab.engine.benchmark import Benchmark, Lengths

DEPLOYMENTS = {"70b": ("llama-3.1-70b", "h200", 4, "fp8"), "8b": ("llama-3.1-8b", "h100-sxm", 1, "fp16")}
WORKLOADS = ((1024, 1024), (2048, 256), (8192, 1024), (512, 4096))
SPREADS = {"fixed": lambda x: Lengths.fixed(x), "5%": lambda x: Lengths.uniform(0.95 * x, 1.05 * x),
           "30%": lambda x: Lengths.gamma(x, 0.3)}
# the 8B's KV pool holds fewer than 64 sequences of 9K tokens: the simulation preempts and
# recomputes, which the analytic model does not yet do (a stated gap), so that corner is left out
GRID = [(d, isl, osl, c, spread) for d in DEPLOYMENTS for isl, osl in WORKLOADS for c in (4, 16, 64)
        for spread in SPREADS if not (d == "8b" and isl == 8192 and c == 64)]


@pytest.fixture(scope="module")
def grid():
    rows = []
    for d, isl, osl, c, spread in GRID:
        m, gpu, tp, w = DEPLOYMENTS[d]
        dep = ml.Deployment(m, gpu, tp=tp, weights=w)
        b = Benchmark(c, SPREADS[spread](isl), SPREADS[spread](osl))
        s, r = ml.simulate(dep, benchmark=b, seed=0), ml.load(dep, benchmark=b)
        rows.append([r.ttft_s / s.ttft_s, r.itl_s / s.itl_s, r.throughput_tok_s / s.throughput_tok_s,
                     r.ttft_p99_s / s.ttft_p99_s, r.itl_p99_s / s.itl_p99_s])
    return np.abs(np.array(rows) - 1)


def test_the_first_wave_and_the_convoys_put_a_benchmarks_ttft_where_the_simulation_has_it(grid):
    # two deployments, four workloads, 4 to 64 clients, fixed, 5% and 30% length spread
    assert len(grid) >= 66
    assert np.median(grid[:, 0]) <= 0.10 and grid[:, 0].max() <= 0.35, grid[:, 0]
    assert np.median(grid[:, 3]) <= 0.25, grid[:, 3]          # p99 TTFT


def test_itl_and_throughput_of_a_benchmark_match_the_simulation(grid):
    for col in (1, 2):
        assert np.median(grid[:, col]) <= 0.05 and grid[:, col].max() <= 0.20, grid[:, col]
    assert np.median(grid[:, 4]) <= 0.25                       # p99 ITL


def test_a_benchmark_waits_longer_than_a_production_stream_of_the_same_clients():
    dep = ml.Deployment("llama-3.1-70b", "h200", tp=4, weights="fp8")
    kw = dict(concurrency=np.array([1, 4, 16, 64]), prompt_tokens=7373, output_tokens=922)
    bench, stream = ml.load(dep, start="together", **kw), ml.load(dep, **kw)
    assert bench.start == "together" and stream.start == "staggered"
    gap = bench.ttft_s / stream.ttft_s
    assert gap[0] == pytest.approx(1, abs=0.02)        # one client: no one to wait behind
    assert np.all(np.diff(gap) > 0) and gap[-1] > 3    # 64 prompts queue in the first wave
    assert np.allclose(bench.itl_s, stream.itl_s)      # the wave is about first tokens
    assert np.all(bench.ttft_p99_s >= bench.ttft_s)
    # more requests per client dilute the wave
    longer = ml.load(dep, start="together", requests=kw["concurrency"] * 40, **kw)
    assert np.all(longer.ttft_s[1:] < bench.ttft_s[1:])


def test_benchmark_inputs_are_checked():
    dep = ml.Deployment("llama-3-8b", "h100-sxm")
    with pytest.raises(ml.ValueRangeError, match="start"):
        ml.load(dep, concurrency=4, start="togther")
    with pytest.raises(ml.ValueRangeError, match="at least the concurrency"):
        ml.load(dep, concurrency=8, start="together", requests=4)
    with pytest.raises(ml.ValueRangeError, match="closed loop"):
        ml.load(dep, rate=1.0, start="together")
    with pytest.raises(ml.ValueRangeError, match="not both"):
        ml.load(dep, concurrency=4, benchmark=Benchmark(4, 512, 128))


@pytest.mark.parametrize("model, tp", [("llama-3-8b", 1), ("llama-3-70b", 4)])
def test_near_capacity_every_feasible_result_is_finite_positive_and_rising(model, tp):
    # the old open loop returned a mean TTFT of -22,652 s as feasible at 0.999 of capacity
    kw = dict(tp=tp, prompt_tokens=8000, output_tokens=64, max_batch=1)
    cap = ml.load(model, "h100-sxm", rate=0.01, **kw).capacity_rps
    r = ml.load(model, "h100-sxm", rate=cap * np.array([0.3, 0.6, 0.9, 0.99, 0.999, 0.9999, 1.2]), **kw)
    ok = np.asarray(r.feasible)
    assert ok[:3].all() and not ok[-1]
    for f in ("ttft_s", "ttft_p99_s", "itl_s", "e2e_s"):
        v = np.asarray(getattr(r, f))[ok]
        assert np.all(np.isfinite(v) & (v > 0)), f
    assert np.all(np.diff(np.asarray(r.ttft_s)[ok]) > 0)
    for i in np.nonzero(~ok)[0]:
        assert "capacity" in r.reason[i]


def test_the_simulation_refuses_what_load_calls_infeasible():
    dep = ml.Deployment("llama-3-70b", "h100-sxm", tp=4)           # an 8,192-token window
    run = Benchmark.inferencex(8, isl=8192, osl=1024)                # 8,294 tokens on average
    assert not ml.load(dep, benchmark=run).feasible
    with pytest.raises(ml.InfeasibleError, match="window"):
        ml.simulate(dep, benchmark=run)


def test_a_benchmark_run_is_predicted_as_it_prints():
    # the README's example: a 70B on four H100s, InferenceX's protocol at 64 clients
    dep = ml.Deployment("llama-3-70b", "h100-sxm", tp=4)
    run = Benchmark.inferencex(64, isl=4096, osl=1024)
    r, s = ml.load(dep, benchmark=run), ml.simulate(dep, benchmark=run)
    assert r.ttft_s == pytest.approx(s.ttft_s, rel=0.10)
    assert r.ttft_p99_s == pytest.approx(s.ttft_p99_s, rel=0.10)
    assert r.itl_s == pytest.approx(s.itl_s, rel=0.05)
    assert r.throughput_tok_s == pytest.approx(s.throughput_tok_s, rel=0.05)
    assert "benchmark" in str(r)
