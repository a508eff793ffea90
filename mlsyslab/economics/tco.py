r"""Fleet sizing and total cost of ownership: from a serving operating point to dollars a year.

Fleet sizing
------------
A *replica* is one `Deployment`: a copy of the model on ``tp`` GPUs of one server, or on
``tp x pp`` GPUs of several servers when it is split into pipeline stages. Traffic of ``QPS`` queries/s is split evenly over ``R`` replicas, so each sees Poisson
arrivals at ``QPS / R``. With the load model (`mlsyslab.load`: continuous batching,
chunked prefill, queueing) `fleet` finds the largest rate ``r*`` at which one replica still
meets the `SLO` (TTFT and ITL statistics as the SLO names them), then:

    replicas = ceil(QPS / r*),   GPUs = replicas * tp * pp,   nodes = ceil(GPUs / GPUs per server)

It tries every tensor-parallel degree that fits and keeps the plan with the fewest GPUs; where
the weights fit no single server, it tries 2, 4 and 8 pipeline stages of one full server each. There
is no fixed utilisation target and no hidden batch cap: headroom is whatever the SLO leaves,
and the batch is bounded by memory unless ``max_batch`` is given. A configuration that fits at
no tp, or misses the SLO even at a trickle of traffic, is returned *infeasible* with the reason,
and `tco` refuses to cost it.

``plan="naive"`` is the back-of-the-envelope mistake to learn from: one request at a time per
replica (``max_batch=1``) and Little's law, ``replicas = ceil(QPS x e2e)``, with no queueing
(so no SLO can be promised: its p99 TTFT is what an M/G/1 queue at that load gives).

Cost
----
Cloud (``on-demand``, ``spot``, ``reserved``): ``GPUs x billed hours x USD/GPU-hour``; reserved
is on-demand less ``reserved_discount``; ``billing`` rounds the duration up to whole seconds
(default), minutes or hours per GPU, which matters for short jobs, not for a fleet that runs
all year. Owned: per GPU-year:

    hardware   = purchase * (1 + server_overhead) / amortisation_years
    networking = hardware * networking_fraction
    power      = TDP * gpu_power_fraction * (1 + host_power_fraction) * PUE * 8760 h * USD/kWh
    hosting    = TDP * (1 + host_power_fraction) * USD/kW-month * 12

billed for whole servers. Dollars are split between input and output tokens by the share of
replica time spent on prompt tokens (the extra time of steps that carry prompt chunks) and on
decode, which is why output tokens cost more.
Assumptions and their sources are in ``mlsyslab/data/pricing.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..catalog.hardware import Accelerator, accelerator
from ..catalog.models import model as _model
from ..catalog.reader import read_data
from ..engine.deployment import Deployment, Efficiency, valid_tps
from ..engine.load import LoadResult, load
from ..engine.slo import SLO
from ..errors import CatalogError, ValueRangeError
from ..params import P, Param, checked, one
from ..report import Report
from ..units import magnitude, quantity

__all__ = [
    "Fleet", "fleet", "DEFAULT_SLO", "Pricing", "PRICING_DEFAULTS", "TCOResult", "tco",
    "cost_per_million_tokens", "cost_per_query", "billed_cost", "cost_per_accepted",
]

HOURS_PER_YEAR = 8760.0


def _load_defaults() -> dict:
    data = read_data("pricing.toml")
    sources = data.get("sources", {})
    out = {}
    for name, entry in data["defaults"].items():
        if entry.get("src") not in sources:
            raise CatalogError(f"pricing.toml: {name} names no known source")
        out[name] = entry["v"]
    return out


PRICING_DEFAULTS = _load_defaults()


# --- helpers from the literature -------------------------------------------------------------

@checked("usd_per_hour", "tokens_per_second")
def cost_per_million_tokens(usd_per_hour, tokens_per_second):
    """``USD/hour / (tokens/s * 3600) * 1e6``: USD 3.50/hour at 1,000 tokens/s is USD 0.97 per million.

    Returns
    -------
    Quantity [USD]
        Cost of a million tokens.

    Examples
    --------
    >>> ml.cost_per_million_tokens(3.50, 1000).round(2)
    <Quantity(0.97, 'USD')>
    """
    usd = magnitude(usd_per_hour, "USD/hour", "usd_per_hour", strictly_positive=True)
    tps = magnitude(tokens_per_second, "token/s", "tokens_per_second", strictly_positive=True)
    return quantity(usd / (tps * 3600.0) * 1e6, "USD")


@checked("usd_per_hour", "seconds_per_query")
def cost_per_query(usd_per_hour, seconds_per_query):
    """``USD/hour * seconds / 3600``: a 70B model on an H100 at USD 2.90/hour for 8 s costs ~USD 0.0064.

    Returns
    -------
    Quantity [USD]
        Cost of one query.

    Examples
    --------
    >>> ml.cost_per_query(2.90, 8).round(4)
    <Quantity(0.0064, 'USD')>
    """
    usd = magnitude(usd_per_hour, "USD/hour", "usd_per_hour", strictly_positive=True)
    s = magnitude(seconds_per_query, "s", "seconds_per_query", strictly_positive=True)
    return quantity(usd * s / 3600.0, "USD")


@checked("job_seconds", "usd_per_hour", "minimum_seconds", billing=Param("choice", choices=("second", "minute", "hour")))
def billed_cost(job_seconds, usd_per_hour, *, billing: str = "second", minimum_seconds=0):
    """What a job costs under per-second or hourly billing (rounded up, with a minimum).

    A 45 s job under an hourly minimum is billed 3,600 s: 80x its per-second cost.

    Parameters
    ----------
    job_seconds : float or array [s]
        How long the job runs.
    usd_per_hour : float or array [USD/hour]
        Price of the capacity per hour.
    billing : str
        ``"second"`` (per-second billing) or ``"hour"`` (whole hours, rounded up).
    minimum_seconds : float [s]
        Minimum billed time of any job (0: none).

    Returns
    -------
    Quantity [USD]
        What the job is billed.

    Examples
    --------
    >>> [round(float(ml.billed_cost(45, 3.0, billing=b).m), 4) for b in ("second", "hour")]
    [0.0375, 3.0]
    """
    s = magnitude(job_seconds, "s", "job_seconds", strictly_positive=True)
    usd = magnitude(usd_per_hour, "USD/hour", "usd_per_hour", strictly_positive=True)
    minimum = magnitude(minimum_seconds, "s", "minimum_seconds", minimum=0)
    unit = {"second": 1.0, "minute": 60.0, "hour": 3600.0}[billing]
    billed = np.maximum(np.ceil(np.asarray(s) / unit) * unit, minimum)
    return quantity(billed * usd / 3600.0, "USD")


@checked("cost_per_attempt", "pass_rate", "retries")
def cost_per_accepted(cost_per_attempt, pass_rate: float, retries: int = 0):
    """Expected cost per *accepted* result when each attempt passes with ``pass_rate``.

    With up to ``retries`` retries, attempts = (1 - q^(r+1)) / p with q = 1 - p, and a result is
    accepted with probability 1 - q^(r+1); cost per accepted = cost x attempts / P(accepted)
    = cost / p whatever r (retries change the acceptance rate, not the cost per success).

    Returns
    -------
    Quantity or array
        Expected cost of one accepted result, in the unit of ``cost_per_attempt``.

    Examples
    --------
    >>> [round(float(ml.cost_per_accepted(0.01, 0.8, retries=r)), 4) for r in (0, 3)]
    [0.0125, 0.0125]
    """
    # attempts / accepted = [(1 - q^(r+1)) / p] / (1 - q^(r+1)) = 1 / p: computed directly, so a
    # tiny pass rate cannot turn the ratio into 0 / 0
    return cost_per_attempt / pass_rate


# --- fleet -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fleet(Report):
    """A sized fleet: how many replicas serve ``qps`` within the SLO, and how each one runs.

    Attributes
    ----------
    plan : str
        ``"batched"`` (continuous batching) or ``"naive"`` (one request at a time per replica).
    qps : float
        The traffic the fleet is sized for, queries/s.
    gpus : int
        GPUs in all: replicas x tp x pp.
    nodes : int
        Servers the GPUs occupy.
    replica_qps : float
        The largest rate one replica sustains within the SLO (``r*``; replicas = ceil(qps / r*)).
    capacity_qps : float
        One replica's throughput with every slot filled (no SLO).
    utilisation : float
        The rate each replica carries, ``qps / replicas``, over ``capacity_qps``.
    batch : float
        Mean running sequences per replica at its rate.
    batch_limit : int
        The most sequences one replica runs at once (its cap or its KV memory).
    ttft_s : float
        Mean time to first token at each replica's rate.
    ttft_p99_s : float
        99th-percentile time to first token.
    itl_s : float
        Mean inter-token latency.
    itl_p99_s : float
        99th-percentile inter-token latency.
    e2e_s : float
        Mean end-to-end latency of a query.
    prefill_share : float
        Share of each replica's GPU time spent on prefill.
    replica_tokens_per_s : float
        Output tokens per second of one replica.
    bottleneck : str or None
        What limits a replica, as its `LoadResult` says it.
    load : LoadResult or None
        One replica's `LoadResult` at its rate.
    """

    model: str
    hardware: Accelerator
    plan: str
    qps: float
    prompt_tokens: int
    output_tokens: int
    slo: SLO
    feasible: bool
    reason: str | None
    tp: int = 0
    pp: int = 1
    ep: int = 1
    replicas: int = 0
    gpus: int = 0
    nodes: int = 0
    replica_qps: float = float("nan")       # the most one replica sustains within the SLO
    capacity_qps: float = float("nan")      # one replica's throughput with every slot filled
    utilisation: float = float("nan")       # load per replica / capacity
    batch: float = float("nan")             # mean requests inside a replica at this load
    batch_limit: int = 0
    ttft_s: float = float("nan")
    ttft_p99_s: float = float("nan")
    itl_s: float = float("nan")
    itl_p99_s: float = float("nan")
    e2e_s: float = float("nan")
    prefill_share: float = float("nan")
    replica_tokens_per_s: float = float("nan")
    bottleneck: str | None = None
    load: LoadResult | None = field(default=None, repr=False, compare=False)

    @property
    def split(self) -> str:
        """How one replica is split: ``"tp=8"``, ``"tp=8, pp=2"``, ``"tp=8, ep=16"``."""
        return f"tp={self.tp}" + "".join(f", {n}={v}" for n, v in (("pp", self.pp), ("ep", self.ep)) if v > 1)

    def summary(self) -> dict:
        ok = self.feasible

        def r(x, nd):
            return round(float(x), nd) if ok and np.isfinite(x) else None

        return {
            "model": self.model, "gpu": self.hardware.key, "plan": self.plan, "qps": self.qps,
            "slo": str(self.slo), "feasible": ok, "reason": self.reason, "gpus": self.gpus,
            "nodes": self.nodes, "tp": self.tp, "pp": self.pp, "ep": self.ep, "replicas": self.replicas,
            "replica_qps": r(self.replica_qps, 5), "capacity_qps": r(self.capacity_qps, 5),
            "utilisation": r(self.utilisation, 4), "batch": r(self.batch, 2),
            "batch_limit": self.batch_limit if ok else None,
            "ttft_ms": r(self.ttft_s * 1e3, 2), "ttft_p99_ms": r(self.ttft_p99_s * 1e3, 2),
            "itl_ms": r(self.itl_s * 1e3, 4), "itl_p99_ms": r(self.itl_p99_s * 1e3, 4),
            "e2e_ms": r(self.e2e_s * 1e3, 2), "bottleneck": self.bottleneck if ok else None,
        }

    def __str__(self) -> str:
        head = (f"{self.plan} fleet for {self.model} on {self.hardware.name} at {self.qps:g} QPS "
                f"({self.prompt_tokens:,} in / {self.output_tokens:,} out), SLO: {self.slo}")
        if not self.feasible:
            return f"{head}\n  INFEASIBLE: {self.reason}"
        if self.plan == "naive":
            return (f"{head}\n  {self.gpus:,} GPUs in {self.nodes:,} nodes: {self.replicas:,} replicas x {self.split}, "
                    f"one request at a time each (Little's law: QPS x {self.e2e_s:,.2f} s; no queueing, "
                    f"so the SLO is not checked)\n  per query, served alone: TTFT {self.ttft_s * 1e3:,.0f} ms, "
                    f"ITL {self.itl_s * 1e3:.1f} ms, e2e {self.e2e_s:,.2f} s")
        return (f"{head}\n  {self.gpus:,} GPUs in {self.nodes:,} nodes: {self.replicas:,} replicas x {self.split}; "
                f"each replica takes {self.qps / self.replicas:.3g} QPS of the {self.replica_qps:.3g} it can within "
                f"the SLO (capacity {self.capacity_qps:.3g}), {self.batch:,.1f} requests inside on average "
                f"(limit {self.batch_limit:,}), bound by {self.bottleneck}\n"
                f"  per query: TTFT {self.ttft_s * 1e3:,.0f} ms (p99 {self.ttft_p99_s * 1e3:,.0f} ms), "
                f"ITL {self.itl_s * 1e3:.1f} ms (p99 {self.itl_p99_s * 1e3:.1f} ms), e2e {self.e2e_s:,.2f} s")


DEFAULT_SLO = SLO(ttft_ms=2000.0)
"""What `fleet` sizes for when given no target: p99 TTFT within 2 s (interactive chat)."""


def _tp_candidates(m, hw, tp) -> list[int]:
    if tp is not None:
        return [int(magnitude(tp, "", "tp", minimum=1, integer=True))]
    return [t for t in valid_tps(m, hw) if t in (1, 2, 4, 8, 16, 32, 64, 72)]


_MAX_RATE_CACHE: dict = {}


def _max_rate(dep, slo: SLO, kw) -> tuple[float, LoadResult]:
    """The largest Poisson rate one replica sustains within the SLO sized with its margin
    (`SLO.for_sizing`; 0 if none), and its load.

    A grid over (0, capacity), refined once around the last rate that meets the SLO (to 0.1% of
    capacity). Results are memoised per deployment, SLO and workload: cascades and sweeps ask
    for the same replica many times.
    """
    key = (repr(dep.model), repr(dep.hardware), int(dep.tp), dep.pp, dep.ep, dep.expert_skew,
           dep.weights, dep.kv, dep.efficiency,
           dep.memory_utilization, slo, tuple(sorted(kw.items())))
    if key in _MAX_RATE_CACHE:
        return _MAX_RATE_CACHE[key]
    base = load(dep, concurrency=1, **kw)
    out = (0.0, base)
    if base.feasible:
        cap = float(base.capacity_rps)
        rates = cap * np.linspace(0.01, 0.99, 50)
        sizing = slo.for_sizing()          # every target with the stated margin (SIZING_MARGIN)
        ok = np.nonzero(sizing.met(load(dep, rate=rates, **kw)))[0]
        if len(ok):
            lo = rates[ok[-1]]
            hi = rates[ok[-1] + 1] if ok[-1] + 1 < len(rates) else cap * 0.999
            fine = np.linspace(lo, hi, 21)
            okf = np.nonzero(sizing.met(load(dep, rate=fine, **kw)))[0]
            out = (float(fine[okf[-1]]) if len(okf) else float(lo)), base
    if len(_MAX_RATE_CACHE) > 512:
        _MAX_RATE_CACHE.clear()
    _MAX_RATE_CACHE[key] = out
    return out


@checked("qps", "slo_ttft_ms", "slo_itl_ms", "max_batch", "max_batched_tokens", "kv_allocation",
         "prompt_cv", "output_cv", "memory_utilization", cached_prompt_tokens=one("cached_prompt_tokens"),
         prompt_tokens=Param("int", "token", low=1, high=P["prompt_tokens"].high),
         output_tokens=Param("int", "token", low=2, high=P["output_tokens"].high),
         plan=Param("choice", choices=("batched", "naive")), tp=one("tp"), pp=replace(P["pp"], optional=True),
         ep=P["ep"])
def fleet(model, hardware=None, *, qps, prompt_tokens=512, output_tokens=256, slo: SLO | None = None,
          slo_ttft_ms=None, slo_itl_ms=None, tp=None, pp=None, ep=1, weights="fp16", kv="fp16", max_batch=None,
          max_batched_tokens=None, kv_allocation=None, prompt_cv=0.0,
          output_cv=0.0, plan: str = "batched", efficiency: Efficiency | None = None,
          memory_utilization=0.9, cached_prompt_tokens=0) -> Fleet:
    """Size a fleet for ``qps`` queries/s within an SLO, with the load model; see the module docstring.

    Parameters
    ----------
    model : str, Model or Deployment
        What to serve (a Deployment fixes tp and precisions; leave out ``hardware`` then).
    hardware : str or Accelerator
        The accelerator.
    qps : float or Quantity [query/s or request/s]
        Target queries per second, > 0.
    prompt_tokens : int [token]
        Prompt tokens per query.
    output_tokens : int [token]
        Output tokens per query, any reasoning tokens included, >= 2.
    slo : SLO, optional
        The latency targets every replica must meet at its share of the load; default
        ``DEFAULT_SLO`` (p99 TTFT <= 2 s). ``slo_ttft_ms`` / ``slo_itl_ms`` build one (p99 TTFT,
        default 2 s, and mean ITL) when ``slo`` is not given; pass ``slo=SLO(itl_ms=...)`` for
        no TTFT target at all.
    tp : int, optional
        Fix the tensor-parallel degree; by default every degree that fits is tried and the plan
        with the fewest GPUs kept.
    pp : int, optional
        Fix the pipeline stages; by default 1, and where no tensor-parallel degree fits one
        server, 2, 4 and 8 stages of a full server each are tried (replicas across servers).
    ep : int
        Expert-parallel degree of an MoE model (1: experts tensor-parallel).
    max_batch : int, optional
        Cap on running sequences per replica; by default only memory bounds it.
    plan : str
        ``"batched"`` (continuous batching) or ``"naive"`` (one request at a time per replica).
    cached_prompt_tokens : int [token]
        Prompt prefix whose KV every request finds cached (no prefill compute; a disaggregated
        decode pool receives all but the last prompt token's KV this way), < prompt_tokens.

    Examples
    --------
    >>> f = ml.fleet("llama-3-70b", "h100-sxm", qps=10, prompt_tokens=1000, output_tokens=300)
    >>> f.gpus, f.tp, f.replicas
    (4, 4, 1)
    """
    if slo is None:
        slo = SLO(ttft_ms=DEFAULT_SLO.ttft_ms if slo_ttft_ms is None else slo_ttft_ms, itl_ms=slo_itl_ms)
    elif not isinstance(slo, SLO):
        raise ValueRangeError(f"slo must be an mlsyslab.SLO; got {type(slo).__name__}")
    elif slo_ttft_ms is not None or slo_itl_ms is not None:
        raise ValueRangeError("give either slo= or slo_ttft_ms/slo_itl_ms, not both")
    q = magnitude(_per_second(qps), "1/s", "qps", strictly_positive=True)
    P = int(magnitude(prompt_tokens, "token", "prompt_tokens", minimum=1, integer=True))
    N = int(magnitude(output_tokens, "token", "output_tokens", minimum=2, integer=True))
    if isinstance(model, Deployment):
        if hardware is not None:
            raise ValueRangeError("pass either a Deployment or a model and hardware, not both")
        deps = [model]
    else:
        m, hw = _model(model), accelerator(hardware)
        common = dict(weights=weights, kv=kv, efficiency=efficiency, memory_utilization=memory_utilization)
        refusals: list[ValueRangeError] = []
        deps = _candidates(m, hw, tp, pp, ep, common, refusals=refusals)
        if not deps:
            if refusals:           # the same reason for every layout: say it once, as it was said
                raise refusals[0] from None
            raise ValueRangeError(f"no layout to try: ep={ep} must be a multiple of a tensor-parallel "
                                  f"degree ({', '.join(map(str, _tp_candidates(m, hw, tp)))})")
    m, hw = deps[0].model, deps[0].hardware
    kw = dict(prompt_tokens=P, output_tokens=N, prompt_cv=prompt_cv, output_cv=output_cv,
              max_batch=1 if plan == "naive" else max_batch, max_batched_tokens=max_batched_tokens,
              kv_allocation=kv_allocation, cached_prompt_tokens=cached_prompt_tokens)
    base = Fleet(model=m.key, hardware=hw, plan=plan, qps=float(q), prompt_tokens=P, output_tokens=N,
                 slo=slo, feasible=False, reason=None)
    best, reasons = _best(deps, base, slo, kw, q)
    if best is None and pp is None and not isinstance(model, Deployment) and not any(d.weights_fit() for d in deps):
        # the weights fit no single server: pipeline stages across servers, a full server each
        staged = _candidates(m, hw, tp, (2, 4, 8), ep, common, widest_only=True)
        if staged:
            best, more = _best(staged, base, slo, kw, q)
            reasons += more
    if best is not None:
        return best
    why = reasons[-1] if reasons else "no tensor-parallel degree to try"
    if len(reasons) > 1:
        why = f"no layout up to {reasons[-1].split(':')[0]} works; at {why}"
    return replace(base, reason=why)


def _candidates(m, hw, tp, pp, ep, common, widest_only=False, refusals=None) -> list[Deployment]:
    """Deployments to try: each tensor-parallel degree (or the given one) at each pp stage count.

    Why each refused layout was refused goes into ``refusals`` (a list), so that when none is
    left the caller can say why (a precision typo, fp4 on a chip without it, ep on a dense model)."""
    tps = _tp_candidates(m, hw, tp)
    if widest_only:
        tps = tps[-1:]
    stages = (1,) if pp is None else (pp,) if isinstance(pp, int) else pp
    out = []
    for t in tps:
        for s in stages:
            if ep > 1 and ep % t:
                continue
            try:
                out.append(Deployment(m, hw, tp=t, pp=s, ep=ep, **common))
            except ValueRangeError as e:
                if tp is not None or pp is not None and isinstance(pp, int):
                    raise
                if refusals is not None:
                    refusals.append(e)
    return out


def _best(deps, base: Fleet, slo: SLO, kw: dict, q: float):
    """The candidate fleet with the fewest GPUs (then the shortest e2e), and why the others fail."""
    best, reasons = None, []
    plan = base.plan
    for dep in deps:
        t = f"tp={int(dep.tp)}" + "".join(f", {n}={v}" for n, v in (("pp", dep.pp), ("ep", dep.ep)) if v > 1)
        if plan == "naive":
            idle = load(dep, concurrency=1, **kw)
            rate = float(1.0 / idle.e2e_s) if idle.feasible else 0.0
        else:
            rate, idle = _max_rate(dep, slo, kw)
        if not idle.feasible:
            reasons.append(f"{t}: {idle.reason}")
            continue
        if rate <= 0:
            reasons.append(f"{t}: the SLO ({slo}) is missed even at a trickle of traffic: "
                           f"{slo.misses(idle)}")
            continue
        replicas = max(1, math.ceil(q / rate - 1e-9))
        # the naive plan reports what its arithmetic assumes: every query served as if alone
        r = idle if plan == "naive" else load(dep, rate=q / replicas, **kw)
        hw = dep.hardware
        gpus = replicas * int(dep.gpus)
        nodes = replicas * dep.servers if dep.gpus > hw.scale_up_gpus else math.ceil(gpus / hw.scale_up_gpus)
        cand = replace(
            base, feasible=True, reason=None, tp=int(dep.tp), pp=dep.pp, ep=dep.ep, replicas=replicas,
            gpus=gpus, nodes=nodes, replica_qps=rate,
            capacity_qps=float(r.capacity_rps), utilisation=float(q / replicas / r.capacity_rps),
            batch=float(r.batch), batch_limit=int(r.batch_limit), ttft_s=float(r.ttft_s),
            ttft_p99_s=float(r.ttft_p99_s), itl_s=float(r.itl_s), itl_p99_s=float(r.itl_p99_s),
            e2e_s=float(r.e2e_s), prefill_share=float(r.prefill_time_share),
            replica_tokens_per_s=float(r.throughput_tok_s), bottleneck=str(r.bottleneck), load=r)
        if plan == "naive":  # the naive plan takes the smallest layout that fits
            return cand, reasons
        if best is None or (cand.gpus, cand.e2e_s) < (best.gpus, best.e2e_s):
            best = cand
    return best, reasons


def _per_second(x):
    """Accept queries/s or requests/s quantities as a plain rate."""
    if hasattr(x, "dimensionality") and hasattr(x, "to"):
        for unit in ("query/s", "request/s"):
            try:
                return x.to(unit).magnitude
            except Exception:  # noqa: BLE001 - pint raises several kinds
                continue
    return x


# --- pricing and TCO -------------------------------------------------------------------------

_PRICING_FIELDS = {
    "kind": Param("choice", choices=("on-demand", "spot", "reserved", "owned")),
    "billing": Param("choice", choices=("second", "minute", "hour")),
    "usd_per_gpu_hour": P["usd_per_gpu_hour"],
    "purchase_usd": Param("real", "USD", low=0, low_open=True, high=1e9, optional=True),
    "reserved_discount": Param("real", "", low=0, high=1, high_open=True),
    "amortisation_years": Param("real", "", low=0, low_open=True, high=100),
    "server_overhead": Param("real", "", low=0, high=10),
    "networking_fraction": Param("real", "", low=0, high=10),
    "usd_per_kwh": Param("real", "USD", low=0, high=100),
    "pue": P["pue"],
    "hosting_usd_per_kw_month": Param("real", "USD", low=0, high=1e5),
    "host_power_fraction": Param("real", "", low=0, high=10),
    "gpu_power_fraction": Param("real", "", low=0, high=1),
}


@dataclass(frozen=True)
class Pricing:
    """How the fleet is paid for. ``kind``: on-demand, spot, reserved or owned.

    ``usd_per_gpu_hour`` overrides the catalog's cloud price; ``purchase_usd`` the catalog's
    purchase price. The other fields default to ``mlsyslab/data/pricing.toml`` (with sources).

    Attributes
    ----------
    kind : str
        ``"on-demand"``, ``"spot"``, ``"reserved"`` or ``"owned"``.
    usd_per_gpu_hour : float, optional
        A GPU-hour's price (default: the accelerator's catalog price for ``kind``).
    billing : str
        ``"second"`` or ``"hour"`` (hours rounded up).
    purchase_usd : float, optional
        Price of one GPU bought (owned; default: the catalog's).
    reserved_discount : float
        Discount of a reservation against on-demand.
    amortisation_years : float
        Years over which an owned server is written off.
    server_overhead : float
        The rest of a server (CPUs, memory, chassis) as a fraction of its GPUs' price.
    networking_fraction : float
        Networking as a fraction of the server's price.
    usd_per_kwh : float
        Electricity price.
    pue : float
        Power usage effectiveness of the data centre.
    hosting_usd_per_kw_month : float
        Colocation price per kW of IT power a month.
    host_power_fraction : float
        The host's power draw as a fraction of its GPUs'.
    gpu_power_fraction : float
        Fraction of TDP a GPU draws on average.
    """

    kind: str = "on-demand"
    usd_per_gpu_hour: float | None = None
    billing: str = "second"
    purchase_usd: float | None = None
    reserved_discount: float = PRICING_DEFAULTS["reserved_discount"]
    amortisation_years: float = PRICING_DEFAULTS["amortisation_years"]
    server_overhead: float = PRICING_DEFAULTS["server_overhead"]
    networking_fraction: float = PRICING_DEFAULTS["networking_fraction"]
    usd_per_kwh: float = PRICING_DEFAULTS["usd_per_kwh"]
    pue: float = PRICING_DEFAULTS["pue"]
    hosting_usd_per_kw_month: float = PRICING_DEFAULTS["hosting_usd_per_kw_month"]
    host_power_fraction: float = PRICING_DEFAULTS["host_power_fraction"]
    gpu_power_fraction: float = PRICING_DEFAULTS["gpu_power_fraction"]

    def __post_init__(self):
        for name, spec in _PRICING_FIELDS.items():
            object.__setattr__(self, name, spec.check(name, getattr(self, name)))

    def gpu_year_costs(self, hw: Accelerator) -> dict:
        """Dollars per GPU-year by item."""
        if self.kind != "owned":
            base = self.usd_per_gpu_hour or {"spot": hw.spot_usd_h}.get(self.kind, hw.on_demand_usd_h)
            if base is None:
                raise ValueRangeError(f"{hw.name} has no {self.kind} price; pass usd_per_gpu_hour")
            if self.kind == "reserved" and self.usd_per_gpu_hour is None:
                base *= 1 - self.reserved_discount
            return {f"{self.kind} GPU rental": base * HOURS_PER_YEAR}
        price = self.purchase_usd or hw.purchase_usd
        if price is None:
            raise ValueRangeError(f"{hw.name} has no purchase price; pass purchase_usd")
        hardware = price * (1 + self.server_overhead) / self.amortisation_years
        kw = hw.board_power_w() / 1e3 * (1 + self.host_power_fraction)
        return {
            "hardware (amortised)": hardware,
            "networking": hardware * self.networking_fraction,
            "power": kw * self.gpu_power_fraction * self.pue * HOURS_PER_YEAR * self.usd_per_kwh,
            "hosting": kw * self.hosting_usd_per_kw_month * 12,
        }


@dataclass(frozen=True)
class TCOResult(Report):
    """What a fleet costs over a duration, and per unit of work.

    Attributes
    ----------
    fleet : Fleet
        The fleet costed.
    pricing : Pricing
        How it is paid for.
    days : float
        The duration costed.
    billed_gpus : int
        GPUs paid for (whole servers where owned).
    breakdown : dict
        Cost by item (rental or purchase, power, hosting, networking) a year.
    total_usd : float
        Cost over ``days``.
    annual_usd : float
        Cost a year.
    usd_per_query : float
        Cost of one query.
    usd_per_million_input_tokens : float
        Cost of a million prompt tokens: the prefill share of GPU time over the prompt tokens.
    usd_per_million_output_tokens : float
        Cost of a million output tokens: the rest of the GPU time over the output tokens.
    usd_per_million_tokens : float
        Cost of a million tokens, prompt and output together.
    """

    fleet: Fleet
    pricing: Pricing
    days: float
    billed_gpus: int
    breakdown: dict
    total_usd: float
    annual_usd: float
    usd_per_query: float
    usd_per_million_input_tokens: float
    usd_per_million_output_tokens: float
    usd_per_million_tokens: float

    @property
    def annual(self):
        return quantity(self.annual_usd, "USD")

    def cost_per_accepted(self, pass_rate: float, retries: int = 0) -> float:
        """Dollars per accepted result at this per-query cost (see `cost_per_accepted`)."""
        return cost_per_accepted(self.usd_per_query, pass_rate, retries)

    def summary(self) -> dict:
        f = self.fleet
        return {
            **f.summary(), "pricing": self.pricing.kind, "days": self.days,
            "billed_gpus": self.billed_gpus, "total_usd": round(self.total_usd, 2),
            "annual_usd": round(self.annual_usd, 2),
            "usd_per_million_output_tokens": round(self.usd_per_million_output_tokens, 6),
            "usd_per_million_input_tokens": round(self.usd_per_million_input_tokens, 6),
            "usd_per_million_tokens": round(self.usd_per_million_tokens, 6),
            "usd_per_query": round(self.usd_per_query, 8),
            "breakdown_usd": {k: round(v, 2) for k, v in self.breakdown.items()},
        }

    def __str__(self) -> str:
        items = ", ".join(f"{k} ${v:,.0f}" for k, v in self.breakdown.items())
        return (f"{self.fleet}\n  {self.pricing.kind}: ${self.annual_usd:,.0f} a year ({items} over "
                f"{self.days:g} days); ${self.usd_per_query:.4g} per query, "
                f"${self.usd_per_million_output_tokens:.3g} per M output and "
                f"${self.usd_per_million_input_tokens:.3g} per M input tokens")



@checked("duration")
def tco(fleet: Fleet, duration="365 day", pricing: str | Pricing = "on-demand") -> TCOResult:
    """Cost of running ``fleet`` for ``duration`` (days by default) under ``pricing``.

    Raises `InfeasibleError` for an infeasible fleet: it is never costed.

    Parameters
    ----------
    fleet : Fleet
        A fleet from `fleet` (an infeasible one is refused).
    duration : float [day]
        How long the fleet runs.
    pricing : str or Pricing
        ``"on-demand"``, ``"spot"``, ``"reserved"``, ``"owned"`` or a `Pricing` (presets in ``data/pricing.toml``).

    Returns
    -------
    TCOResult
        Total and annual cost with its breakdown, per query and per million tokens.

    Examples
    --------
    >>> t = ml.tco(ml.fleet("llama-3-8b", "h100-sxm", qps=5), pricing="on-demand")
    >>> f"USD {t.annual_usd:,.0f} a year, USD {t.usd_per_million_tokens:.2f} per million tokens"
    'USD 26,192 a year, USD 0.22 per million tokens'
    """
    if not isinstance(fleet, Fleet):
        raise ValueRangeError("tco() takes a Fleet from mlsyslab.fleet()")
    fleet.require_feasible()
    days = magnitude(duration, "day", "duration", strictly_positive=True)
    if days * 86400.0 < 1.0:
        raise ValueRangeError(f"duration must be at least one second; got {days:g} day")
    p = Pricing(kind=pricing) if isinstance(pricing, str) else pricing
    per_gpu_year = p.gpu_year_costs(fleet.hardware)
    per_server = fleet.hardware.scale_up_gpus
    billed = fleet.nodes * per_server if p.kind == "owned" else fleet.gpus
    years = days / 365.0
    if p.kind != "owned":  # cloud bills each GPU in whole billing units (per-second by default)
        unit_s = {"second": 1.0, "minute": 60.0, "hour": 3600.0}[p.billing]
        years = math.ceil(days * 86400.0 / unit_s - 1e-9) * unit_s / (365.0 * 86400.0)
    breakdown = {k: v * billed * years for k, v in per_gpu_year.items()}
    total = sum(breakdown.values())
    seconds = days * 86400.0
    queries = fleet.qps * seconds
    in_tok, out_tok = queries * fleet.prompt_tokens, queries * fleet.output_tokens
    return TCOResult(
        fleet=fleet, pricing=p, days=float(days), billed_gpus=billed, breakdown=breakdown,
        total_usd=total, annual_usd=total / (days / 365.0), usd_per_query=total / queries,
        usd_per_million_input_tokens=total * fleet.prefill_share / in_tok * 1e6,
        usd_per_million_output_tokens=total * (1 - fleet.prefill_share) / out_tok * 1e6,
        usd_per_million_tokens=total / (in_tok + out_tok) * 1e6,
    )
