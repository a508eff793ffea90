"""Cost levers: speculative decoding, MIG slices, spot capacity and semantic caching, by hand
and by invariant."""

import numpy as np
import pytest

import mlsyslab as ml
from mlsyslab.engine.speculative import expected_tokens_per_round

TARGET = ml.Deployment("llama-3.1-70b", "h100-sxm", tp=4)


def test_expected_tokens_per_round_by_hand():
    # Leviathan et al. (2023): (1 - a^(g+1)) / (1 - a)
    assert expected_tokens_per_round(0.7, 4) == pytest.approx((1 - 0.7**5) / 0.3)
    assert expected_tokens_per_round(0.0, 4) == pytest.approx(1.0)     # nothing accepted: the verify token
    assert expected_tokens_per_round(1.0, 4) == pytest.approx(5.0)     # everything accepted
    a = np.linspace(0, 0.99, 20)
    assert np.all(np.diff(expected_tokens_per_round(a, 4)) > 0)


def test_speculation_pays_at_batch_one_and_fades_as_the_batch_grows():
    batch = np.array([1, 4, 16, 64, 256, 512])
    r = ml.speculative(TARGET, "llama-3.2-1b", batch=batch, context=512, gamma=4, alpha=0.7)
    assert r.feasible and r.speedup[0] > 1.5
    assert np.all(np.diff(r.speedup) <= 1e-9)
    assert r.stops_paying() is not None and r.stops_paying() > 16
    # by hand at batch 1: plain step / ((gamma draft steps + one verify pass) / E)
    one = ml.speculative(TARGET, "llama-3.2-1b")
    assert one.itl_s == pytest.approx((one.draft_s + one.verify_s) / one.tokens_per_round)
    assert one.plain_itl_s == pytest.approx(float(TARGET.step_seconds(1, 2048)))
    # a batch whose KV and the draft's weights do not fit is infeasible with the reason, not costed
    big = ml.speculative(TARGET, "llama-3.2-1b", batch=np.array([8, 512]), context=2048)
    assert not big.feasible and "KV pool" in big.reason and np.isnan(big.itl_s[1]) and np.isfinite(big.itl_s[0])


def test_a_better_draft_and_higher_acceptance_never_hurt():
    low, high = (ml.speculative(TARGET, "llama-3.2-1b", alpha=a) for a in (0.5, 0.9))
    assert high.speedup > low.speedup
    small, big = (ml.speculative(TARGET, d) for d in ("llama-3.2-1b", "llama-3.1-8b"))
    assert small.speedup > big.speedup             # same acceptance: the cheaper draft wins


def test_a_mig_slice_is_a_scaled_gpu_priced_by_packing():
    h100 = ml.accelerator("h100-sxm")
    s = ml.mig_slice("h100-sxm", "1g.10gb")
    assert s.memory_gb == pytest.approx(h100.memory_gb / 8)
    assert s.memory_bandwidth_gb_s == pytest.approx(h100.memory_bandwidth_gb_s / 8)
    assert s.peak_tflops["fp16"] == pytest.approx(h100.peak_tflops["fp16"] / 7)
    assert s.on_demand_usd_h == pytest.approx(h100.on_demand_usd_h / 7)
    whole = ml.mig_slice("h100-sxm", "7g.80gb")
    assert whole.memory_gb == pytest.approx(h100.memory_gb) and whole.on_demand_usd_h == h100.on_demand_usd_h
    assert ml.Deployment("llama-3.2-1b", s).efficiency == ml.calibrated_efficiency("h100-sxm")
    assert not ml.Deployment("llama-3.1-8b", s).weights_fit()          # 16 GB of weights, 10 GB slice
    with pytest.raises(ml.UnknownNameError, match="1g.10gb"):
        ml.mig_slice("h100-sxm", "1g.10g")
    with pytest.raises(ml.UnknownNameError, match="no MIG"):
        ml.mig_slice("l4", "1g.10gb")


def test_spot_by_hand_and_its_break_even():
    r = ml.spot_cost(on_demand_usd_h=3.0, spot_usd_h=1.5, interruptions_per_hour=1.0, restart_s=300, lost_work_s=60)
    useful = 1 - 360 / 3600
    assert r.useful_fraction == pytest.approx(useful) and r.effective_usd_h == pytest.approx(1.5 / useful)
    assert r.breakeven_interruptions_per_hour == pytest.approx(0.5 * 3600 / 360)
    at = ml.spot_cost(on_demand_usd_h=3.0, spot_usd_h=1.5, interruptions_per_hour=r.breakeven_interruptions_per_hour,
                      restart_s=300, lost_work_s=60)
    assert at.effective_usd_h == pytest.approx(3.0)
    sweep = ml.spot_cost(on_demand_usd_h=3.0, spot_usd_h=1.5, interruptions_per_hour=np.linspace(0, 5, 11))
    assert np.all(np.diff(sweep.effective_usd_h) >= 0)


def test_semantic_cache_by_hand_and_its_break_even():
    r = ml.semantic_cache(hit_rate=0.3, false_hit_rate=0.01, request_usd=0.002, lookup_usd=0.0001, wrong_answer_usd=0.05)
    assert r.cost_usd == pytest.approx(0.0001 + 0.7 * 0.002 + 0.3 * 0.01 * 0.05)
    at = ml.semantic_cache(hit_rate=0.3, false_hit_rate=r.breakeven_false_hit_rate, request_usd=0.002,
                           lookup_usd=0.0001, wrong_answer_usd=0.05)
    assert at.saving == pytest.approx(0.0, abs=1e-12)
    worse = ml.semantic_cache(hit_rate=0.3, false_hit_rate=np.array([0.0, 0.01, 0.05]), request_usd=0.002,
                              lookup_usd=0.0001, wrong_answer_usd=0.05)
    assert np.all(np.diff(worse.saving) < 0)


def test_a_speculative_setup_that_does_not_fit_prints_why_not_nan():
    r = ml.speculative(ml.Deployment("llama-3-8b", "h100-sxm"), "llama-3.2-1b", batch=256, context=8192)
    assert not r.feasible and "INFEASIBLE" in str(r) and "nan" not in str(r)
