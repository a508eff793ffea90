import pytest

import mlsyslab as ml
from mlsyslab.economics.routing import cascade, replica_routing
from mlsyslab.engine.queueing import erlang_b

R1 = "deepseek-r1-distill-llama-70b"


def test_round_robin_on_8_replicas_hits_about_one_eighth():
    r = replica_routing("round-robin", replicas=8)
    assert r.expected_hit_rate == pytest.approx(r.reuse_ceiling / 8)
    assert r.simulated_hit_rate == pytest.approx(0.125, abs=0.015)
    assert r.simulated_hit_rate == pytest.approx(r.expected_hit_rate, abs=0.01)


@pytest.mark.parametrize("policy", ["prefix-aware", "sticky"])
def test_locality_aware_policies_reach_the_reuse_ceiling(policy):
    r = replica_routing(policy, replicas=8)
    assert r.simulated_hit_rate == pytest.approx(r.reuse_ceiling, abs=0.005)
    rr = replica_routing("round-robin", replicas=8)
    assert r.mean_ttft_s < rr.mean_ttft_s and r.usd_per_query_input < rr.usd_per_query_input


def test_least_request_is_as_blind_as_round_robin():
    r = replica_routing("least-request", replicas=8)
    assert r.simulated_hit_rate == pytest.approx(r.expected_hit_rate, abs=0.015)


@pytest.mark.parametrize("policy, skew, cap", [("prefix-aware", 1.2, 8), ("sticky", 1.2, 8),
                                               ("prefix-aware", 1.0, 9), ("sticky", 1.0, 8)])
def test_hot_prefixes_spill_and_the_simulation_agrees_with_the_formula(policy, skew, cap):
    r = replica_routing(policy, replicas=8, skew=skew, max_inflight=cap)
    assert r.simulated_spill > 0.02
    assert r.simulated_hit_rate < r.reuse_ceiling - 0.05
    assert r.simulated_hit_rate == pytest.approx(r.expected_hit_rate, abs=0.04)


def test_simulation_is_seeded():
    a = replica_routing("least-request", seed=3)
    b = replica_routing("least-request", seed=3)
    assert a == b


def test_erlang_b_known_values():
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)          # (1/2) / (1 + 1 + 1/2)
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)


def test_cascade_beats_everything_to_the_big_model():
    c = cascade("llama-3-8b", R1, "h100-sxm", qps=100, easy_fraction=0.7, slo_itl_ms=50)
    assert c.gpus < c.baseline_gpus and c.annual_usd < c.baseline_annual_usd
    assert c.latency_s < c.baseline_latency_s and 0 < c.savings_fraction < 1


def test_escalation_erodes_the_savings_and_all_easy_or_all_hard_are_the_limits():
    kw = dict(qps=100, slo_itl_ms=50)
    a = cascade("llama-3-8b", R1, "h100-sxm", easy_fraction=0.7, **kw)
    b = cascade("llama-3-8b", R1, "h100-sxm", easy_fraction=0.7, escalation_rate=0.5, **kw)
    assert b.annual_usd > a.annual_usd and b.latency_s > a.latency_s
    none = cascade("llama-3-8b", R1, "h100-sxm", easy_fraction=0.0, **kw)
    assert none.annual_usd == pytest.approx(none.baseline_annual_usd)


def test_a_verifier_costs_gpu_time_on_every_easy_query():
    kw = dict(qps=100, easy_fraction=0.7, escalation_rate=0.2, slo_itl_ms=50)
    free = cascade("llama-3-8b", R1, "h100-sxm", **kw)
    paid = cascade("llama-3-8b", R1, "h100-sxm", verify_tokens=256, **kw)
    assert paid.annual_usd >= free.annual_usd and paid.gpus >= free.gpus
    # the verifier lengthens the small model's requests by exactly its tokens
    assert paid.small_fleet.output_tokens == free.small_fleet.output_tokens + 256
    assert paid.large_fleet.output_tokens == free.large_fleet.output_tokens


def test_cascade_bad_input():
    with pytest.raises(ml.ValueRangeError, match="easy_fraction"):
        cascade("llama-3-8b", R1, "h100-sxm", qps=1, easy_fraction=1.5)
    with pytest.raises(ml.ValueRangeError, match="must be one of round-robin"):
        replica_routing("random")
