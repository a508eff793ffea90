r"""Goodput: requests per second that meet one latency SLO and a quality bar.

Computed from the load model (`mlsyslab.load`) at the rate each replica really sees, with
the step time of the batch actually occupied (not a configured maximum):

    goodput = throughput * P(TTFT <= target) * [ITL statistic <= target] * pass_rate

``P(TTFT <= target)`` comes from the load model's TTFT distribution (own prefill, the residual
step, and the waits' atom-plus-exponential tail); the ITL gate uses the statistic the
`SLO` names. Goodput never exceeds throughput; the route that wins a throughput
benchmark can lose on cost per accepted result.

Assumption: the ITL term is a gate, not a share. The SLO states its ITL target as a statistic
over all requests (the mean by default), so where the statistic misses the target no request
counts and goodput drops to zero in one step; a per-request ITL target would need each request's
ITL distribution, which the load model does not give (the simulation does).

`batch_frontier` sweeps a closed loop from one client to the memory limit and prices each
point: the trade between cost per token and latency that every serving team chooses on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ValueRangeError
from ..params import P, Param, checked
from ..report import Report
from ..units import magnitude
from .deployment import as_deployment
from .load import load
from .slo import SLO

__all__ = ["goodput", "GoodputResult", "batch_frontier"]


# --- goodput ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GoodputResult(Report):
    """Goodput of a fleet of identical replicas at one arrival rate (see `goodput`).

    Attributes
    ----------
    rate : float
        Arrival rate offered to the replicas, requests/s.
    throughput_rps : float
        Requests completed per second.
    goodput_rps : float
        Requests per second that meet the SLO and pass the quality bar.
    p_ttft_ok : float
        Probability that a request's TTFT meets its target.
    ttft_stat_ms : float
        The TTFT statistic the SLO names (p99 by default).
    itl_stat_ms : float
        The ITL statistic the SLO names (the mean by default).
    meets_slo : bool
        Whether the statistics meet the targets.
    quality : float
        Share of answers that pass.
    utilisation : float
        Arrival rate over capacity.
    batch : float
        Mean running sequences per replica.
    usd_per_accepted : float or None
        Cost of one accepted answer (with ``usd_per_gpu_hour``).
    """

    rate: float
    replicas: int
    gpus: int
    slo: SLO
    throughput_rps: float
    goodput_rps: float
    p_ttft_ok: float
    ttft_stat_ms: float
    itl_stat_ms: float
    meets_slo: bool
    quality: float
    utilisation: float
    batch: float
    usd_per_accepted: float | None
    feasible: bool
    reason: str | None
    load: object = None

    def summary(self) -> dict:
        def r(x, nd):
            return None if x is None or not np.isfinite(x) else round(float(x), nd)

        return {"rate": self.rate, "replicas": self.replicas, "gpus": self.gpus, "slo": str(self.slo),
                "feasible": self.feasible, "reason": self.reason,
                "throughput_rps": r(self.throughput_rps, 6), "goodput_rps": r(self.goodput_rps, 6),
                "p_ttft_ok": r(self.p_ttft_ok, 6), "meets_slo": self.meets_slo,
                f"{self.slo.ttft_stat}_ttft_ms": r(self.ttft_stat_ms, 3),
                f"{self.slo.itl_stat}_itl_ms": r(self.itl_stat_ms, 4),
                "utilisation": r(self.utilisation, 4), "batch": r(self.batch, 3),
                "usd_per_accepted": None if self.usd_per_accepted is None else r(self.usd_per_accepted, 8)}

    def __str__(self) -> str:
        if not self.feasible:
            return f"goodput at {self.rate:g} req/s: INFEASIBLE: {self.reason}"
        cost = f", ${self.usd_per_accepted:.5f} per accepted result" if self.usd_per_accepted else ""
        return (f"{self.rate:g} req/s on {self.replicas} replica(s): throughput {self.throughput_rps:.3g} "
                f"req/s, goodput {self.goodput_rps:.3g} req/s against {self.slo} "
                f"({'met' if self.meets_slo else 'MISSED'}: {self.slo.ttft_stat} TTFT "
                f"{self.ttft_stat_ms:,.0f} ms, {self.slo.itl_stat} ITL {self.itl_stat_ms:.1f} ms; "
                f"{self.p_ttft_ok:.1%} of requests within the TTFT target; quality {self.quality:.0%}); "
                f"mean batch {self.batch:.1f}, utilisation {self.utilisation:.0%}{cost}")


@checked("replicas", "prompt_cv", "output_cv", "quality", "max_batch", "max_batched_tokens",
         "kv_allocation", "usd_per_gpu_hour", "memory_utilization",
         rate=Param("real", "request/s", low=0, low_open=True, high=1e9, units=("1/s", "query/s")),
         tp=Param("int", "", low=1, high=1024), pp=P["pp"], ep=P["ep"],
         prompt_tokens=Param("real", "token", low=1, high=P["prompt_tokens"].high),
         output_tokens=Param("real", "token", low=2, high=P["output_tokens"].high))
def goodput(model, hardware=None, *, rate, slo: SLO, replicas: int = 1, prompt_tokens=512,
            output_tokens=256, prompt_cv=0.0, output_cv=0.0, quality: float = 1.0, tp=1, pp=1, ep=1,
            weights="fp16", kv="fp16", max_batch=None,
            max_batched_tokens=None, kv_allocation=None,
            usd_per_gpu_hour: float | None = None, efficiency=None,
            memory_utilization=0.9) -> GoodputResult:
    """Goodput of ``replicas`` replicas under Poisson ``rate`` and an `SLO`.

    Each replica sees ``rate / replicas`` (random load balancing keeps arrivals Poisson); see the
    module docstring for the equation. Infeasible or overloaded configurations are reported, not
    costed.

    Examples
    --------
    >>> g = ml.goodput("llama-3-8b", "h100-sxm", rate=5, slo=ml.SLO(ttft_ms=500, itl_ms=50))
    >>> g.meets_slo, round(g.goodput_rps, 2)
    (True, 5.0)
    """
    if not isinstance(slo, SLO):
        raise ValueRangeError(f"slo must be an mlsyslab.SLO; got {type(slo).__name__}")
    q, lam, R = quality, rate, int(replicas)      # checked at the boundary (PARAMETERS)
    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency,
                        memory_utilization=memory_utilization)
    r = load(dep, rate=lam / R, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
             prompt_cv=prompt_cv, output_cv=output_cv, max_batch=max_batch,
             max_batched_tokens=max_batched_tokens, kv_allocation=kv_allocation)
    gpus = R * int(dep.gpus)
    if not r.feasible:
        # overloaded: the replicas still finish requests at capacity, but none meets the SLO
        served = R * float(r.capacity_rps) if np.isfinite(r.capacity_rps) else 0.0
        return GoodputResult(float(lam), R, gpus, slo, min(served, float(lam)), 0.0, 0.0, float("nan"),
                             float("nan"), False, float(q), float("nan"), float("nan"), None, False,
                             r.reason, r)
    p_ok = 1.0 if slo.ttft_ms is None else float(r.ttft_within(slo.ttft_ms / 1e3))
    itl_ok = slo.itl_ms is None or r.stat("itl", slo.itl_stat) * 1e3 <= slo.itl_ms
    e2e_ok = slo.e2e_s is None or r.e2e_s <= slo.e2e_s
    throughput = float(lam)
    good = throughput * p_ok * float(itl_ok and e2e_ok) * float(q)
    price = usd_per_gpu_hour if usd_per_gpu_hour is not None else dep.hardware.on_demand_usd_h
    cost = price * gpus / 3600.0 / good if good > 0 and price else None
    return GoodputResult(float(lam), R, gpus, slo, throughput, good, p_ok,
                         float(r.stat("ttft", slo.ttft_stat)) * 1e3, float(r.stat("itl", slo.itl_stat)) * 1e3,
                         bool(slo.met(r)), float(q), float(lam / R / r.capacity_rps), float(r.batch),
                         cost, True, None, r)


@checked("max_concurrency", "max_batched_tokens", "kv_allocation", "usd_per_gpu_hour", "memory_utilization",
         tp=Param("int", "", low=1, high=1024), pp=P["pp"], ep=P["ep"],
         prompt_tokens=Param("real", "token", low=1, high=P["prompt_tokens"].high),
         output_tokens=Param("real", "token", low=2, high=P["output_tokens"].high))
def batch_frontier(model, hardware=None, *, prompt_tokens=512, output_tokens=256, slo: SLO | None = None,
                   max_concurrency: int | None = None, tp=1, pp=1, ep=1, weights="fp16", kv="fp16",
                   max_batched_tokens=None, kv_allocation=None,
                   usd_per_gpu_hour: float | None = None, efficiency=None, memory_utilization=0.9):
    """Cost per million output tokens against latency, closed loop at concurrency 1..limit.

    The limit is the memory bound (sequences of ``S + N`` tokens that fit) unless
    ``max_concurrency`` is given. Columns: concurrency, ttft_ms and its p99, itl_ms and its
    p99, throughput_tok_s, usd_per_million_output_tokens, feasible, meets_slo; the frame's
    ``attrs["best"]`` is the highest concurrency that meets the SLO (None if none does) and
    ``attrs["limit"]`` the bound that was used.

    Returns
    -------
    pandas.DataFrame
        One row per concurrency: TTFT, ITL, throughput, cost per million tokens and whether the
        SLO is met.

    Examples
    --------
    >>> f = ml.batch_frontier("llama-3-8b", "h100-sxm", slo=ml.SLO(itl_ms=30), max_concurrency=64)
    >>> list(f.columns[:4])
    ['concurrency', 'ttft_ms', 'ttft_p99_ms', 'itl_ms']
    """
    import pandas as pd

    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency,
                        memory_utilization=memory_utilization)
    S = magnitude(prompt_tokens, "token", "prompt_tokens", minimum=1)
    N = magnitude(output_tokens, "token", "output_tokens", minimum=2)
    engine_cap, max_batched_tokens, kv_allocation = dep.serving_limits(None, max_batched_tokens, kv_allocation)
    held = S + N / 2 if kv_allocation == "paged" else S + N
    limit = int(np.max(dep.max_batch(held, max_batched_tokens)))
    limit = min(limit, engine_cap) if engine_cap else limit
    if max_concurrency is not None:
        limit = int(magnitude(max_concurrency, "request", "max_concurrency", minimum=1, integer=True))
    limit = max(limit, 1)
    c = np.arange(1, limit + 1)
    r = load(dep, concurrency=c, prompt_tokens=S, output_tokens=N,
             max_batched_tokens=max_batched_tokens, kv_allocation=kv_allocation)
    price = (usd_per_gpu_hour if usd_per_gpu_hour is not None else dep.hardware.on_demand_usd_h) * np.asarray(dep.gpus)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost = price / (r.throughput_tok_s * 3600.0) * 1e6
    meets = slo.met(r) if slo is not None else np.asarray(r.feasible)
    frame = pd.DataFrame({"concurrency": c, "ttft_ms": r.ttft_s * 1e3, "ttft_p99_ms": r.ttft_p99_s * 1e3,
                          "itl_ms": r.itl_s * 1e3, "itl_p99_ms": r.itl_p99_s * 1e3,
                          "throughput_tok_s": r.throughput_tok_s,
                          "usd_per_million_output_tokens": cost, "feasible": r.feasible,
                          "meets_slo": meets})
    ok = np.nonzero(meets)[0]
    frame.attrs["best"] = int(c[ok[-1]]) if len(ok) else None
    frame.attrs["limit"] = limit
    return frame
