r"""Queueing theory: waits and tail latency of multi-server queues (Erlang B and C, M/G/c).

Queue model
-----------
Requests arrive as a Poisson stream of rate ``lambda`` at ``c`` servers, each busy for a
service time ``S`` per request (for LLM serving, `mlsyslab.load` treats a replica's batch
slots as the servers). With offered load ``a = lambda S`` and utilisation ``rho = a / c``:

    Erlang C   P(wait) = C(c, a) = B / (1 - rho (1 - B)),   B = ErlangB(c, a)
    M/M/c      E[W] = C / (c/S - lambda),   P(W > t) = C exp(-(c/S - lambda) t)
    M/G/c      E[W] ~ E[W_M/M/c] * (1 + cv^2) / 2      (Allen-Cunneen approximation)
               P(W > t) ~ C exp(-t C / E[W])            (exponential tail, same mean)
    latency_p  ~ S + W_p     (the waiting-time percentile plus the service time)

``cv`` is the coefficient of variation of the service time (1: exponential; LLM requests with
varied output lengths are often 0.5-1.5). For ``rho >= 1`` the queue is unstable: waits grow
without bound and are reported as infinite.

Serving under load builds on these (`mlsyslab.load`); goodput under an SLO is
`mlsyslab.engine.goodput`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ValueRangeError
from ..params import Param, checked
from ..report import Report
from ..units import magnitude

__all__ = ["erlang_b", "erlang_c", "queue", "QueueResult", "max_rate_for_slo"]


@checked("offered_load", servers=Param("int", "", low=0, high=1e7))
def erlang_b(servers: int, offered_load):
    """Blocking probability of an M/G/c/c loss system: B(0) = 1, B(k) = aB / (k + aB).

    Returns
    -------
    float or array
        Probability that an arrival finds every server busy and is lost.

    Examples
    --------
    >>> round(float(ml.erlang_b(10, 8.0)), 4)
    0.1217
    """
    a = np.asarray(offered_load, dtype=float)
    b = np.ones_like(a)
    for k in range(1, int(servers) + 1):
        b = a * b / (k + a * b)
    return b


@dataclass(frozen=True)
class QueueResult(Report):
    """Waiting time and latency of an M/G/c queue (arrays when ``rate`` is an array)."""

    servers: int
    rate: np.ndarray
    service_time_s: float
    cv2: float
    utilisation: np.ndarray
    p_wait: np.ndarray
    mean_wait_s: np.ndarray
    stable: np.ndarray

    def wait_percentile(self, p: float):
        """The p-quantile of the waiting time (0 where fewer than 1-p of arrivals wait)."""
        if not 0 < p < 1:
            raise ValueRangeError(f"percentile must be in (0, 1); got {p!r}")
        with np.errstate(divide="ignore", invalid="ignore"):
            decay = np.where(self.mean_wait_s > 0, self.p_wait / self.mean_wait_s, np.inf)
            t = np.where(self.p_wait > 1 - p, np.log(self.p_wait / (1 - p)) / decay, 0.0)
        return np.where(self.stable, t, np.inf)

    def latency_percentile(self, p: float):
        return self.service_time_s + self.wait_percentile(p)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({
            "rate": np.atleast_1d(self.rate), "utilisation": np.atleast_1d(self.utilisation),
            "p_wait": np.atleast_1d(self.p_wait), "mean_wait_s": np.atleast_1d(self.mean_wait_s),
            "p50_latency_s": np.atleast_1d(self.latency_percentile(0.5)),
            "p99_latency_s": np.atleast_1d(self.latency_percentile(0.99)),
        })


def _norm_cdf(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for a queueing approximation
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


@checked(servers=Param("real", "", low=0, low_open=True, high=1e9, array=True), offered_load=Param("real", "", low=0, high=1e9, array=True))
def erlang_c(servers, offered_load):
    """Probability that an arrival waits in M/M/c (1 where ``offered_load >= servers``).

    Exact Erlang B recursion up to 500 servers; the Halfin-Whitt approximation above that,
    ``P(wait) = 1 / (1 + beta Phi(beta) / phi(beta))`` with ``beta = (c - a) / sqrt(a)``.
    Broadcasts over both arguments.

    Parameters
    ----------
    servers : int
        Servers.
    offered_load : float or array
        Offered load in Erlangs (arrival rate x service time), below ``servers``.

    Returns
    -------
    float or array
        Probability that an arrival waits.

    Examples
    --------
    >>> round(float(ml.erlang_c(10, 8.0)), 4)
    0.4092
    """
    c, a = np.broadcast_arrays(np.asarray(servers, dtype=float), np.asarray(offered_load, dtype=float))
    out = np.ones(c.shape)
    stable = a < c
    small = stable & (c <= 500)
    if small.any():
        cs, as_ = c[small], a[small]
        b = np.ones(cs.shape)
        for k in range(1, int(cs.max()) + 1):
            b = np.where(k <= cs, as_ * b / (k + as_ * b), b)
        rho = as_ / cs
        out[small] = b / (1 - rho * (1 - b))
    big = stable & (c > 500)
    if big.any():
        beta = (c[big] - a[big]) / np.sqrt(np.maximum(a[big], 1e-12))
        phi = np.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
        out[big] = 1.0 / (1.0 + beta * _norm_cdf(beta) / np.maximum(phi, 1e-300))
    out = np.where(a <= 0, 0.0, out)
    return out if out.ndim else float(out)


@checked("servers", "service_time_s", "cv2", rate=Param("real", "1/s", low=0, high=1e12, array=True, units=("request/s", "query/s")))
def queue(rate, servers: int, service_time_s, *, cv2: float = 1.0) -> QueueResult:
    """M/G/c waiting times for Poisson arrivals at ``rate`` (1/s, may be an array).

    Examples
    --------
    >>> print(ml.queue(rate=3.0, servers=4, service_time_s=1.0))
    QueueResult(servers=4, rate=array(3.), service_time_s=1.0, cv2=1.0, utilisation=np.float64(0.75), p_wait=0.5094339622641509, mean_wait_s=array(0.50943396), stable=np.True_)
    """
    lam = np.asarray(magnitude(rate, "1/s", "rate", minimum=0), dtype=float)
    c = int(magnitude(servers, "", "servers", minimum=1, integer=True))
    s = magnitude(service_time_s, "s", "service_time_s", strictly_positive=True)
    a = lam * s
    rho = a / c
    stable = rho < 1
    pw = erlang_c(c, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        wq = np.where(stable, pw / (c / s - lam) * (1 + cv2) / 2, np.inf)
    return QueueResult(c, lam, float(s), cv2, rho, pw, wq, stable)


@checked("servers", "service_time_s", "slo_s", "percentile", "cv2")
def max_rate_for_slo(servers: int, service_time_s, slo_s, *, percentile: float = 0.99,
                     cv2: float = 1.0) -> float:
    """The largest arrival rate whose latency percentile stays within ``slo_s`` (bisection).

    Returns 0 when even an idle system misses the SLO (service time > SLO).

    Examples
    --------
    >>> round(ml.max_rate_for_slo(4, 1.0, slo_s=3.0), 2)
    2.35
    """
    s = magnitude(service_time_s, "s", "service_time_s", strictly_positive=True)
    slo = magnitude(slo_s, "s", "slo_s", strictly_positive=True)
    if s > slo:
        return 0.0
    lo, hi = 0.0, servers / s * (1 - 1e-12)
    for _ in range(80):
        mid = (lo + hi) / 2
        if queue(mid, servers, s, cv2=cv2).latency_percentile(percentile) <= slo:
            lo = mid
        else:
            hi = mid
    return lo


