import numpy as np
import pytest

from mlsyslab.engine.queueing import erlang_c, max_rate_for_slo, queue


def test_erlang_c_known_values():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)           # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 3.5) == 1.0                          # unstable


def test_mm1_mean_wait():
    q = queue(0.5, 1, 1.0)
    assert q.mean_wait_s == pytest.approx(0.5 / (1 - 0.5))  # rho / (mu - lambda)
    assert q.wait_percentile(0.99) == pytest.approx(np.log(0.5 / 0.01) / 0.5)


def test_p99_rises_sharply_as_utilisation_nears_one():
    q = queue(np.array([5.0, 8.0, 9.0, 9.5, 9.9]), 10, 1.0)
    p99 = q.latency_percentile(0.99)
    assert np.all(np.diff(p99) > 0)
    assert p99[-1] > 10 * p99[1]
    assert np.isinf(queue(10.0, 10, 1.0).latency_percentile(0.99))


def test_service_variability_raises_the_wait():
    assert queue(8.0, 10, 1.0, cv2=2.0).mean_wait_s > queue(8.0, 10, 1.0, cv2=0.25).mean_wait_s


def test_max_rate_for_slo_is_where_p99_crosses():
    lam = max_rate_for_slo(10, 1.0, 2.0)
    assert queue(lam, 10, 1.0).latency_percentile(0.99) == pytest.approx(2.0, rel=1e-6)
    assert max_rate_for_slo(10, 3.0, 2.0) == 0.0


def test_erlang_c_large_server_counts_use_halfin_whitt_continuously():
    # the exact recursion at 500 servers and the approximation just above agree closely
    exact = erlang_c(500, 480.0)
    approx = erlang_c(501, 480.0 * 501 / 500)
    assert approx == pytest.approx(exact, rel=0.05)
    assert erlang_c(2000, 1000.0) < 1e-6 and erlang_c(2000, 1999.0) > 0.9
