import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlsyslab as ml
from mlsyslab.economics.cache import (
    CACHE_PROVIDERS,
    break_even_calls,
    request_cost,
    serving_effect,
    ttl_fit,
)


@pytest.mark.parametrize("provider, calls", [("anthropic-5m", 1.39), ("anthropic-1h", 2.22), ("openai", 2.0)])
def test_the_rule_of_thumb_reproduces_the_literature(provider, calls):
    # the course material's N = p_write / (p_in - p_read): it counts the first call as free
    assert break_even_calls(provider, against="free write") == pytest.approx(calls, abs=0.005)


@pytest.mark.parametrize("provider, calls", [("anthropic-5m", 0.25 / 0.9), ("anthropic-1h", 1.0 / 0.9), ("openai", 0.0)])
def test_against_not_caching_only_the_premium_is_recovered(provider, calls):
    assert break_even_calls(provider) == pytest.approx(calls, rel=1e-9)
    gap = break_even_calls(provider, against="free write") - break_even_calls(provider)
    read = CACHE_PROVIDERS[provider].read
    assert gap == pytest.approx(1 / (1 - read))          # the rule of thumb's overstatement


def test_the_ttl_fit_reports_the_correct_break_even_first():
    r = ttl_fit("anthropic-5m", rate_per_s=0.01)
    assert r.breakeven_calls == pytest.approx(0.25 / 0.9)
    assert r.rule_of_thumb_breakeven_calls == pytest.approx(1.25 / 0.9)
    assert "break-even after 0.28 reads" in str(r)


def test_presets_carry_sources():
    for p in CACHE_PROVIDERS.values():
        assert "(20" in p.source  # a dated source
    assert CACHE_PROVIDERS["google"].storage_per_token_hour > 0


def test_output_share_worked_example():
    c = request_cost(3000, 5500, 250, read=0.1, output_ratio=5)
    assert c["output_share"] == pytest.approx(0.26, abs=0.005)
    assert c["total"] == pytest.approx(3000 + 550 + 1250)


def test_hit_rate_is_the_chance_the_next_request_comes_within_the_ttl():
    r = ttl_fit("anthropic-5m", rate_per_s=1 / 300)
    assert r.hit_rate == pytest.approx(1 - np.exp(-1))
    fast = ttl_fit("anthropic-5m", rate_per_s=1.0)
    assert fast.hit_rate > 0.999 and fast.savings_fraction == pytest.approx(0.9, abs=1e-3)
    slow = ttl_fit("anthropic-5m", rate_per_s=1 / 86400)
    assert slow.savings_fraction < 0  # writes that are never read lose money


def test_cache_breaking_prefix_has_zero_hit_rate():
    r = ttl_fit("anthropic-5m", rate_per_s=10.0, cache_breaking=True)
    assert r.hit_rate == 0 and r.savings_fraction == pytest.approx(-0.25)


def test_storage_rent_grows_with_ttl():
    # at a low request rate a long TTL pays rent for a cache that is rarely read
    costs = [ttl_fit("google", rate_per_s=1 / 600, ttl_s=t).cost_fraction for t in (60, 600, 3600, 6 * 3600)]
    assert costs[-1] > costs[-2]
    # the rent is storage x E[min(gap, TTL)], with E[min] = (1 - exp(-lambda TTL)) / lambda
    lam, ttl = 1 / 600, 3600.0
    h = 1 - np.exp(-lam * ttl)
    rent = CACHE_PROVIDERS["google"].storage_per_token_hour * h / lam / 3600.0
    expected = h * 0.25 + (1 - h) * 1.0 + rent
    assert ttl_fit("google", rate_per_s=lam, ttl_s=ttl).cost_fraction == pytest.approx(expected)
    assert CACHE_PROVIDERS["google"].storage_per_token_hour == pytest.approx(1.00 / 0.075)


@given(st.floats(1e-5, 10), st.floats(1e-5, 10))
def test_more_traffic_never_lowers_the_hit_rate(lam, factor):
    a = ttl_fit("openai", rate_per_s=lam).hit_rate
    b = ttl_fit("openai", rate_per_s=lam * (1 + factor)).hit_rate
    assert b >= a


def test_rate_sweep_broadcasts():
    r = ttl_fit("anthropic-5m", rate_per_s=np.logspace(-4, 0, 5))
    assert r.hit_rate.shape == (5,) and np.all(np.diff(r.hit_rate) > 0)


def test_serving_side_saves_ttft_not_memory():
    e = serving_effect("llama-3.1-8b", "h100-sxm", prompt_tokens=8500, prefix_tokens=5500, hit_rate=0.8)
    assert e.ttft_warm_s < e.ttft_cold_s
    assert e.ttft_expected_s == pytest.approx(0.8 * e.ttft_warm_s + 0.2 * e.ttft_cold_s)
    assert e.prefix_kv_bytes == 5500 * 131072
    cold = ml.serve("llama-3.1-8b", "h100-sxm", prompt_tokens=8500, output_tokens=256)
    assert e.memory_per_gpu_bytes == cold.memory_per_gpu_bytes


def test_bad_input():
    with pytest.raises(ml.UnknownNameError, match="did you mean 'anthropic-5m'"):
        ttl_fit("anthropic5m", rate_per_s=1)
    with pytest.raises(ml.ValueRangeError):
        break_even_calls(write=1.0, read=1.0)
    with pytest.raises(ml.UnitError):
        ttl_fit("openai", rate_per_s="3 GB")


def test_a_request_of_no_tokens_is_refused_and_a_free_one_has_no_nan():
    with pytest.raises(ml.ValueRangeError, match="at least one token"):
        request_cost(0, 0, 0)
    assert request_cost(0, 500, 0, read=0.0)["output_share"] == 0.0              # a free request: no NaN
