"""Autoscaling through a day: triggers, start-up delay, spot and billing, by invariant."""

import re

import numpy as np
import pytest

import mlsyslab as ml
from mlsyslab.planning.autoscale import replica_capacity

DEP = ml.Deployment("llama-3.1-8b", "h100-sxm", weights="fp8", kv="fp8")
SLO = ml.SLO(ttft_ms=2000, itl_ms=30)
KW = dict(prompt_tokens=1000, short_tokens=300, long_tokens=8000)


@pytest.fixture(scope="module")
def day():
    trace = ml.traffic(mean_rate=20, seed=1)
    cap = replica_capacity(DEP, SLO, **KW)
    runs = {(p, b): ml.autoscale(DEP, trace, slo=SLO, policy=p, billing=b, capacity=cap, **KW)
            for p in ("requests", "tokens", "kv") for b in ("second", "hour")}
    return trace, cap, runs


def test_traffic_is_seeded_and_diurnal():
    a, b = ml.traffic(seed=3), ml.traffic(seed=3)
    assert a.equals(b) and not a.equals(ml.traffic(seed=4))
    quiet = ml.traffic(bursts=0, mean_rate=10, peak_to_mean=2)
    assert len(quiet) == 1440 and quiet["rate"].mean() == pytest.approx(10, rel=0.01)
    assert quiet["rate"].max() == pytest.approx(20, rel=0.01)


def test_the_mix_sets_what_a_replica_takes(day):
    _, cap, runs = day
    assert cap.long_rps < cap.short_rps
    assert cap.rps(0.0) == pytest.approx(cap.short_rps) and cap.rps(1.0) == pytest.approx(cap.long_rps)
    tl = runs[("tokens", "second")].timeline
    assert np.array_equal(tl["need"], np.ceil(tl["rate"] / cap.rps(tl["long_share"]) - 1e-9).astype(int))


def test_a_request_rate_trigger_misses_reasoning_bursts_a_token_trigger_sees(day):
    _, _, runs = day
    req, tok = runs[("requests", "second")], runs[("tokens", "second")]
    assert tok.violation_minutes < req.violation_minutes and tok.excess_fraction < req.excess_fraction


def test_hourly_billing_never_costs_less_and_waste_is_what_exceeds_the_need(day):
    _, _, runs = day
    for p in ("requests", "tokens", "kv"):
        assert runs[(p, "hour")].cost_usd >= runs[(p, "second")].cost_usd
        tl = runs[(p, "second")].timeline
        assert runs[(p, "second")].wasted_gpu_hours == pytest.approx(np.maximum(tl["provisioned"] - tl["need"], 0).sum() / 60)


def test_scale_up_delay_is_loading_the_weights_plus_start_up(day):
    trace, cap, _ = day
    r = ml.autoscale(DEP, trace, slo=SLO, capacity=cap, storage_gb_s=1.0, startup_s=30, **KW)
    assert r.scale_up_s == pytest.approx(DEP.weight_bytes_per_gpu / 1e9 + 30)
    slow = ml.autoscale(DEP, trace, slo=SLO, capacity=cap, storage_gb_s=0.05, **KW)
    assert slow.violation_minutes >= r.violation_minutes


def test_all_on_demand_pays_no_spot_and_sees_no_preemption(day):
    trace, cap, _ = day
    r = ml.autoscale(DEP, trace, slo=SLO, capacity=cap, on_demand_replicas=10_000, **KW)
    assert r.spot_usd == 0 and r.preemptions == 0
    s = ml.autoscale(DEP, trace, slo=SLO, capacity=cap, on_demand_replicas=0, preemptions_per_hour=0, **KW)
    assert s.on_demand_usd == 0 and s.preemptions == 0 and s.cost_usd < r.cost_usd


def test_a_trace_from_csv_and_its_errors(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("minute,rate\n0,1.0\n1,2.0\n")
    t = ml.read_trace(p)
    assert list(t.columns) == ["minute", "rate", "long_share"] and t["long_share"].eq(0).all()
    (tmp_path / "bad.csv").write_text("minute,qps\n0,1\n")
    with pytest.raises(ml.ValueRangeError, match="rate"):
        ml.read_trace(tmp_path / "bad.csv")
    with pytest.raises(ml.ValueRangeError, match="a trace is a DataFrame"):
        ml.autoscale(DEP, [1, 2, 3], slo=SLO)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"), (b"", "empty"), (b"minute,rate\n", "no rows"),
    (b"minute,rate\n0,abc\n", "'abc', not a number"), (b"minute,rate\n0,\n", "empty, not a number"),
    (b"\x89PNG\r\n\x00\x01\xff\xfe", "not a CSV text file"), (b"minute,rate\n0,-1\n", ">= 0"),
    (b"minute,rate\n1,1\n0,2\n", "increasing order"), (b"minute,rate\n0,1\n0,2\n", "each once"),
    (b"minute,rate,long_share\n0,1,2\n", "[0, 1]"), (b"when,rate\n0,1\n", "missing minute"),
])
def test_a_bad_trace_file_gets_one_clear_line(tmp_path, content, message):
    path = tmp_path / "trace.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ml.ValueRangeError, match=re.escape(message)):
        ml.read_trace(path)


@pytest.mark.parametrize("rates, message", [([], "no rows"), ([1.0, float("nan"), 2.0], "not a number"),
                                            ([1.0, -1.0], "finite and >= 0"), ([1.0, float("inf")], "finite and >= 0")])
def test_autoscale_checks_a_trace_given_in_code_as_read_trace_checks_a_file(rates, message):
    import pandas as pd

    trace = pd.DataFrame({"rate": rates})
    with pytest.raises(ml.ValueRangeError, match=message):
        ml.autoscale(ml.Deployment("llama-3-8b", "h100-sxm"), trace, slo=ml.SLO(ttft_ms=2000, itl_ms=50),
                     long_tokens=2000)


def test_the_kv_trigger_fires_once_the_replicas_are_full_and_grows_by_at_most_one_over_u():
    """A KV-usage trigger reads what the ready replicas report, which cannot pass a full pool: after
    a step in traffic it does scale out (it is not blind), later than the tokens trigger and by at
    most 1/u a minute (and, as the usage of a healthy replica reads low, it then scales back in)."""
    import pandas as pd

    u = 0.8
    minutes = np.arange(120)
    trace = pd.DataFrame({"minute": minutes, "rate": np.where(minutes < 30, 5.0, 60.0), "long_share": 0.1})
    cap = replica_capacity(DEP, SLO, **KW)
    runs = {p: ml.autoscale(DEP, trace, slo=SLO, policy=p, utilisation=u, capacity=cap, **KW) for p in ("kv", "tokens")}
    kv = runs["kv"].timeline
    assert kv["ready"].max() >= kv["need"].max()                       # it does fire and catch up
    assert runs["kv"].violation_minutes >= runs["tokens"].violation_minutes
    after = kv[kv["minute"] >= 30]
    bound = np.ceil(np.maximum(after["ready"].to_numpy()[:-1], 1) / u - 1e-9)
    assert np.all(after["target"].to_numpy()[1:] <= bound)             # usage is capped at a full pool
