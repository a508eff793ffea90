r"""Routing: which model answers (cascades) and which replica serves (cache locality).

Cascade routing
---------------
A fraction ``f`` of queries is easy and goes to a small model; the rest go to the large one.
Optionally a verifier rejects a fraction ``e`` of the small model's answers, which are then
escalated to the large model (paying for both). The verifier is not free: it is modelled as
``V`` more tokens the small model generates per easy query (``verify_tokens``, a self-check
after its answer), so it lengthens every small-model request, in GPU time and in latency:

    small output = small steps * T + A + V
    small QPS = f * QPS,            large QPS = (1 - f + f * e) * QPS
    latency   = f (1 - e) L_small + f e (L_small + L_large) + (1 - f) L_large
    cost      = TCO(small fleet) + TCO(large fleet)      against TCO(everything to the large model)

``V = 0`` is an idealised verifier that costs nothing and takes no time.

Each fleet is sized by `mlsyslab.fleet` (batching under the SLO), never from an
infeasible configuration.

Replica routing for stateful inference
--------------------------------------
``R`` replicas each keep a prefix (KV) cache. Conversations come back turn after turn; a turn
hits the cache only on the replica that served the session's previous turn (its history is
cached there). Requests arrive as a Poisson stream of rate ``lambda``; each belongs to one of
``S`` sessions with Zipf weights ``p_s ~ 1 / rank^skew`` (``skew = 0``: equal). The first
request of a session always misses, so over a window ``D`` the *reuse ceiling* is:

    ceiling = 1 - sum_s (1 - exp(-lambda p_s D)) / (lambda D)

Policies and their expected hit rates:

- ``round-robin`` and ``least-request`` ignore the prefix: the next turn lands on the previous
  turn's replica with probability ``1/R``, so ``hit ~ ceiling / R`` (1/8 of it on 8 replicas).
- ``prefix-aware`` hashes the session to a replica; ``sticky`` pins a session to the replica it
  first landed on. Both reach the ceiling, until a replica saturates.
- Saturation: a replica already running ``c = max_inflight`` requests spills new ones to the
  least loaded replica, where they miss, and the session's history moves there, so its next turn
  misses at home too. Seen from its home replica, a session's traffic meets an Erlang loss
  system (M/G/c/c, insensitive to the service-time distribution) with offered load
  ``a_r = lambda L_r T_service`` (``L_r``: the replica's share of traffic):

      spill_r = ErlangB(c, a_r),    hit ~ ceiling * sum_r L_r (1 - spill_r)^2

  (this turn and the previous one both served at home). Prefix-aware placement is the hash's;
  sticky placement is approximated by giving sessions, hottest first, to the least-loaded
  replica. Spilled traffic is assumed not to overload the others, which holds while the fleet
  as a whole has room (``lambda T_service`` well below ``R c``); past that, spills cascade and
  the simulation, not the formula, is the answer. Measured against the simulation (8
  replicas, 40 Erlangs offered, caps 8-12) the formula is within 3 points for skew <= 1.2 and
  about 5 points pessimistic at skew 1.5, where a few very hot sessions dominate.

`replica_routing` gives this expectation and a seeded discrete-event simulation that
checks it; TTFT and input cost follow from the hit rate and the serving model.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from ..engine.queueing import erlang_b
from ..engine.serving import serve
from ..params import Param, checked
from ..report import Report
from ..units import magnitude
from .cache import cache_provider
from .tco import fleet, tco

__all__ = ["cascade", "CascadeResult", "replica_routing", "ReplicaRoutingResult", "POLICIES"]

POLICIES = ("round-robin", "least-request", "prefix-aware", "sticky")


# --- cascade ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CascadeResult(Report):
    """A cascade against sending everything to the large model."""

    easy_fraction: float
    escalation_rate: float
    latency_s: float
    baseline_latency_s: float
    usd_per_query: float
    baseline_usd_per_query: float
    gpus: int
    baseline_gpus: int
    annual_usd: float
    baseline_annual_usd: float
    small_fleet: object = field(repr=False)
    large_fleet: object = field(repr=False)

    @property
    def savings_fraction(self) -> float:
        return 1.0 - self.annual_usd / self.baseline_annual_usd

    def summary(self) -> dict:
        return {"easy_fraction": self.easy_fraction, "escalation_rate": self.escalation_rate,
                "mean_latency_ms": round(self.latency_s * 1e3, 2),
                "baseline_latency_ms": round(self.baseline_latency_s * 1e3, 2),
                "usd_per_query": round(self.usd_per_query, 8),
                "baseline_usd_per_query": round(self.baseline_usd_per_query, 8),
                "gpus": self.gpus, "baseline_gpus": self.baseline_gpus,
                "annual_usd": round(self.annual_usd, 2), "baseline_annual_usd": round(self.baseline_annual_usd, 2),
                "savings_fraction": round(self.savings_fraction, 4)}

    def __str__(self) -> str:
        return (f"cascade {self.easy_fraction:.0%} easy (escalating {self.escalation_rate:.0%}): "
                f"{self.gpus:,} GPUs, ${self.annual_usd:,.0f}/year, ${self.usd_per_query:.4g}/query, "
                f"mean latency {self.latency_s:,.2f} s; everything to the large model: "
                f"{self.baseline_gpus:,} GPUs, ${self.baseline_annual_usd:,.0f}/year, "
                f"{self.baseline_latency_s:,.2f} s; saves {self.savings_fraction:.0%}")


@checked("qps", "easy_fraction", "escalation_rate", "verify_tokens", "small_steps", "large_steps", "tokens_per_step",
         "slo_itl_ms", "slo_ttft_ms", "duration",
         prompt_tokens=Param("int", "token", low=1, high=1e9), answer_tokens=Param("int", "token", low=1, high=1e9))
def cascade(small, large, hardware, *, qps, easy_fraction, escalation_rate: float = 0.0,
            verify_tokens: int = 0, prompt_tokens=512, answer_tokens=256, small_steps: int = 0, large_steps: int = 8,
            tokens_per_step=256, slo=None, slo_itl_ms=None, slo_ttft_ms=None, small_hardware=None,
            small_weights="fp16", large_weights="fp16", small_tp=None, large_tp=None, kv="fp16",
            pricing="on-demand", duration="365 day") -> CascadeResult:
    """Size and cost a two-model cascade against the all-large baseline; see the module docstring.

    ``small_steps`` / ``large_steps``: reasoning steps of ``tokens_per_step`` each model spends
    before its ``answer_tokens`` (0: no reasoning). ``verify_tokens``: what checking each small
    answer costs, as tokens the small model generates (0: a free verifier). Both fleets are sized by `fleet` for the
    same `SLO` (``slo``, or one built from ``slo_ttft_ms``/``slo_itl_ms``).

    Parameters
    ----------
    small : str or Model
        The small model, which answers the easy queries.
    large : str or Model
        The large model, which answers the rest and every escalation.
    hardware : str or Accelerator
        The accelerator of the large model's fleet (and of the small one's unless
        ``small_hardware`` is given).
    qps : float [query/s]
        Queries per second in all.
    easy_fraction : float
        Share of queries routed to the small model, in [0, 1].
    escalation_rate : float
        Share of the small model's answers the verifier rejects and sends to the large one.
    verify_tokens : int [token]
        Tokens the small model generates to check each answer (0: a free verifier).
    prompt_tokens : int [token]
        Prompt tokens per query.
    answer_tokens : int [token]
        Answer tokens per query, after any reasoning.
    small_steps : int
        Reasoning steps the small model spends before its answer (0: none).
    large_steps : int
        Reasoning steps the large model spends before its answer.
    tokens_per_step : int [token]
        Tokens per reasoning step.
    slo : SLO, optional
        The targets both fleets meet; else one built from ``slo_ttft_ms`` and ``slo_itl_ms``.
    slo_itl_ms : float, optional [ms]
        Mean ITL target when ``slo`` is not given.
    slo_ttft_ms : float, optional [ms]
        p99 TTFT target when ``slo`` is not given.
    small_hardware : str or Accelerator, optional
        The small model's accelerator (default: ``hardware``).
    small_weights : str
        Weight precision of the small model.
    large_weights : str
        Weight precision of the large model.
    small_tp : int, optional
        Tensor-parallel degree of the small model (default: the fewest GPUs that meet the SLO).
    large_tp : int, optional
        Tensor-parallel degree of the large model.
    kv : str
        KV-cache precision of both.
    pricing : str or Pricing
        How the GPUs are paid for (a preset name of `tco` or a `Pricing`).
    duration : float [day]
        How long the fleets run.

    Returns
    -------
    CascadeResult
        Both fleets, latency, cost per query and a year's cost, beside the all-large baseline.

    Examples
    --------
    >>> c = ml.cascade("llama-3-8b", "llama-3-70b", "h100-sxm", qps=10, easy_fraction=0.7)
    >>> round(c.usd_per_query / c.baseline_usd_per_query, 2)
    0.31
    """
    q = magnitude(qps, "1/s", "qps", strictly_positive=True)
    T = int(magnitude(tokens_per_step, "token", "tokens_per_step", minimum=1, integer=True))
    out_small = int(small_steps) * T + int(answer_tokens) + int(verify_tokens)
    out_large = int(large_steps) * T + int(answer_tokens)
    shw = small_hardware or hardware
    kw = dict(prompt_tokens=prompt_tokens, slo=slo, slo_itl_ms=slo_itl_ms, slo_ttft_ms=slo_ttft_ms, kv=kv)
    big = dict(weights=large_weights, tp=large_tp)
    base = fleet(large, hardware, qps=q, output_tokens=out_large, **big, **kw).require_feasible()
    base_cost = tco(base, duration, pricing)
    q_small = easy_fraction * q
    q_large = (1 - easy_fraction + easy_fraction * escalation_rate) * q
    fs = (fleet(small, shw, qps=q_small, output_tokens=out_small, weights=small_weights, tp=small_tp, **kw)
          if q_small > 0 else None)
    fl = fleet(large, hardware, qps=q_large, output_tokens=out_large, **big, **kw) if q_large > 0 else None
    costs = [tco(f.require_feasible(), duration, pricing) for f in (fs, fl) if f is not None]
    total = sum(c.total_usd for c in costs)
    years = costs[0].days / 365.0
    lat_s = fs.e2e_s if fs is not None else 0.0
    lat_l = base.e2e_s
    f, e = easy_fraction, escalation_rate
    latency = f * (1 - e) * lat_s + f * e * (lat_s + lat_l) + (1 - f) * lat_l
    return CascadeResult(
        easy_fraction=f, escalation_rate=e, latency_s=latency, baseline_latency_s=lat_l,
        usd_per_query=total / (q * costs[0].days * 86400), baseline_usd_per_query=base_cost.usd_per_query,
        gpus=sum(x.gpus for x in (fs, fl) if x is not None), baseline_gpus=base.gpus,
        annual_usd=total / years, baseline_annual_usd=base_cost.annual_usd,
        small_fleet=fs, large_fleet=fl,
    )


# --- replica routing -------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplicaRoutingResult(Report):
    """Analytical expectation and simulation of one replica-routing policy."""

    policy: str
    replicas: int
    reuse_ceiling: float
    expected_hit_rate: float
    simulated_hit_rate: float
    simulated_spill: float
    load_imbalance: float          # busiest replica's share x R (1 = perfectly even)
    mean_ttft_s: float
    usd_per_query_input: float     # input-token cost per request, in $ at the given price
    requests: int
    feasible: bool = True
    reason: str | None = None

    def summary(self) -> dict:
        ok = self.feasible
        return {"policy": self.policy, "replicas": self.replicas, "feasible": ok, "reason": self.reason,
                "reuse_ceiling": round(self.reuse_ceiling, 4),
                "expected_hit_rate": round(self.expected_hit_rate, 4),
                "hit_rate": round(self.simulated_hit_rate, 4), "spill": round(self.simulated_spill, 4),
                "load_imbalance": round(self.load_imbalance, 3),
                "mean_ttft_ms": round(self.mean_ttft_s * 1e3, 3) if ok else None,
                "usd_per_query": round(self.usd_per_query_input, 8) if ok else None,
                "requests": self.requests}

    def __str__(self) -> str:
        if not self.feasible:
            return (f"{self.policy} over {self.replicas} replicas: hit rate {self.simulated_hit_rate:.1%} "
                    f"simulated; the turn itself cannot be served: {self.reason}")
        return (f"{self.policy} over {self.replicas} replicas: hit rate {self.simulated_hit_rate:.1%} simulated, "
                f"{self.expected_hit_rate:.1%} expected (ceiling {self.reuse_ceiling:.1%}); spill "
                f"{self.simulated_spill:.1%}; mean TTFT {self.mean_ttft_s * 1e3:,.0f} ms; input "
                f"${self.usd_per_query_input:.5f}/request")


def _zipf(sessions: int, skew: float) -> np.ndarray:
    w = 1.0 / np.arange(1, sessions + 1) ** skew
    return w / w.sum()


def _hash_replica(session: np.ndarray, replicas: int) -> np.ndarray:
    """A fixed integer hash (Knuth's multiplicative), so 'prefix-aware' is reproducible."""
    return ((session.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)) % np.uint64(replicas)


def _sticky_shares(p: np.ndarray, replicas: int) -> np.ndarray:
    """Hottest session first to the least-loaded replica (what first-arrival pinning approaches)."""
    share = np.zeros(replicas)
    for w in np.sort(p)[::-1]:
        share[np.argmin(share)] += w
    return share


@checked("replicas", "sessions", "skew", "max_inflight", "service_time_s",
         "prefix_tokens", "new_tokens", "usd_per_mtok_input", "seed",
         rate_per_s=Param("real", "request/s", low=0, low_open=True, high=1e6, units=("1/s",)),
         policy=Param("choice", choices=("round-robin", "least-request", "prefix-aware", "sticky")),
         duration_s=Param("real", "s", low=0, low_open=True, high=1e7))
def replica_routing(policy: str = "round-robin", *, replicas: int = 8, sessions: int = 400,
                    rate_per_s: float = 20.0, duration_s: float = 600.0, skew: float = 0.0,
                    max_inflight: int | None = None, service_time_s: float = 2.0,
                    model="llama-3-8b", hardware="h100-sxm", prefix_tokens: int = 4000,
                    new_tokens: int = 200, usd_per_mtok_input: float = 3.0,
                    provider="anthropic-5m", seed: int = 0) -> ReplicaRoutingResult:
    """Expected and simulated prefix-cache hit rate of a routing policy; see the module docstring.

    ``prefix_tokens`` of a session's history are cacheable, ``new_tokens`` are new each turn;
    TTFT comes from `mlsyslab.serve` with and without the cached prefix, and the input cost
    from the provider's read price. ``max_inflight`` (None: unlimited) is the saturation
    threshold per replica; ``service_time_s`` how long a request stays in flight.

    Parameters
    ----------
    policy : str
        How a request picks its replica: ``"round-robin"``, ``"least-request"``, ``"prefix-aware"``
        (the replica holding the session's prefix) or ``"sticky"`` (a session stays on one replica).
    replicas : int
        Replicas behind the router.
    sessions : int
        Conversation sessions sending turns.
    rate_per_s : float [request/s]
        Requests per second over all sessions.
    duration_s : float [s]
        Simulated time.
    skew : float
        Zipf skew of session activity (0: every session equally active).
    max_inflight : int, optional
        Requests in flight at which a replica counts as saturated and prefix-aware routing
        spills to another (None: unlimited).
    service_time_s : float [s]
        How long a request stays in flight.
    model : str or Model
        The model whose TTFT is computed with and without the cached prefix.
    hardware : str or Accelerator
        The accelerator of each replica.
    prefix_tokens : int [token]
        Tokens of a session's history that can be cached.
    new_tokens : int [token]
        New tokens in each turn.
    usd_per_mtok_input : float [USD]
        Price of a million uncached input tokens.
    provider : str or CacheProvider
        The cache prices: a preset of `cache_provider`.
    seed : int
        Random seed of the simulation.

    Examples
    --------
    >>> r = ml.replica_routing("prefix-aware", replicas=4, sessions=100, duration_s=120)
    >>> round(r.expected_hit_rate, 2), round(r.simulated_hit_rate, 2)
    (0.96, 0.96)
    """
    R = int(magnitude(replicas, "", "replicas", minimum=1, integer=True))
    S = int(magnitude(sessions, "", "sessions", minimum=1, integer=True))
    lam = magnitude(rate_per_s, "1/s", "rate_per_s", strictly_positive=True)
    D = magnitude(duration_s, "s", "duration_s", strictly_positive=True)
    svc = magnitude(service_time_s, "s", "service_time_s", strictly_positive=True)
    cap = None if max_inflight is None else int(magnitude(max_inflight, "", "max_inflight", minimum=1, integer=True))
    p = _zipf(S, skew)

    # analytical expectation
    ceiling = 1.0 - np.sum(1.0 - np.exp(-lam * p * D)) / (lam * D)
    if policy in ("round-robin", "least-request"):
        expected = ceiling / R
    else:
        share = (np.bincount(_hash_replica(np.arange(S), R).astype(int), weights=p, minlength=R)
                 if policy == "prefix-aware" else _sticky_shares(p, R))
        kept = share * (1.0 - erlang_b(cap, lam * share * svc)) ** 2 if cap else share
        expected = ceiling * float(kept.sum())

    # seeded discrete-event simulation
    rng = np.random.default_rng(seed)
    n = rng.poisson(lam * D)
    times = np.sort(rng.uniform(0.0, D, n))
    sess = rng.choice(S, size=n, p=p)
    hashed = _hash_replica(sess, R).astype(int)
    last_replica = np.full(S, -1)       # where each session's history is cached
    pinned = np.full(S, -1)
    inflight = np.zeros(R, dtype=int)
    load = np.zeros(R, dtype=int)
    finish: list[tuple[float, int]] = []
    hits = spills = 0
    for i in range(n):
        t, s = times[i], sess[i]
        while finish and finish[0][0] <= t:
            inflight[heapq.heappop(finish)[1]] -= 1
        if policy == "round-robin":
            r = i % R
        elif policy == "least-request":
            low = np.flatnonzero(inflight == inflight.min())
            r = int(low[rng.integers(len(low))])
        elif policy == "prefix-aware":
            r = int(hashed[i])
        else:
            if pinned[s] < 0:
                pinned[s] = int(np.argmin(inflight))
            r = int(pinned[s])
        if cap is not None and inflight[r] >= cap:
            r = int(np.argmin(inflight))
            spills += 1
        hits += int(last_replica[s] == r)
        last_replica[s] = r
        inflight[r] += 1
        load[r] += 1
        heapq.heappush(finish, (t + svc, r))
    hit = hits / n if n else 0.0

    cold = serve(model, hardware, prompt_tokens=prefix_tokens + new_tokens, output_tokens=1)
    warm = serve(model, hardware, prompt_tokens=prefix_tokens + new_tokens, output_tokens=1,
                 cached_prompt_tokens=prefix_tokens)
    prov = cache_provider(provider)
    per_tok = usd_per_mtok_input / 1e6
    input_cost = (new_tokens + prefix_tokens * (hit * prov.read + (1 - hit) * prov.write)) * per_tok
    ok = bool(cold.feasible and warm.feasible)       # nothing infeasible is costed
    nan = 1.0 if ok else float("nan")
    return ReplicaRoutingResult(
        policy=policy, replicas=R, reuse_ceiling=float(ceiling), expected_hit_rate=float(expected),
        simulated_hit_rate=hit, simulated_spill=spills / n if n else 0.0,
        load_imbalance=float(load.max() / load.mean()) if n else 1.0,
        mean_ttft_s=(hit * warm.ttft_s + (1 - hit) * cold.ttft_s) * nan,
        usd_per_query_input=input_cost * nan, requests=int(n), feasible=ok,
        reason=None if ok else (cold.reason or warm.reason),
    )


