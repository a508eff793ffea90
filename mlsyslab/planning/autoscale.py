r"""Autoscaling a fleet through a day of traffic: which trigger, which capacity, which billing.

Traffic
-------
`traffic` makes a seeded day of per-minute traffic: a diurnal rate
``mean * (1 + (peak/mean - 1) sin(2 pi (t - 6 h) / 24 h))`` plus bursts in which the rate jumps
and the share of long reasoning requests rises (an agent fleet, a batch of hard questions).
`read_trace` reads the same columns (``minute, rate[, long_share]``) from a CSV file instead.

What a replica can take
-----------------------
Two request classes share the fleet: short answers and long reasoning chains. For each, the load
model gives one replica's largest Poisson rate within the SLO, ``r_s`` and ``r_l`` (as
`mlsyslab.fleet` does). At a long share ``p`` the work per request mixes, so a replica takes

    c(p) = 1 / ((1 - p) / r_s + p / r_l)             requests/s within the SLO
    need(t) = ceil(rate(t) / c(p(t)))                 replicas the minute needs

Policies (each sees the last minute's signals and keeps ``utilisation`` headroom):

- ``"requests"``: requests per second against a per-replica target measured on the day's mean
  mix, ``ceil(rate / (u c(p_mean)))``: blind to what each request costs;
- ``"tokens"``: the token work in flight against a replica's token budget,
  ``ceil(rate / (u c(p)))``: it sees the mix;
- ``"kv"``: the KV-cache use the ready replicas report (vLLM's ``kv_cache_usage_perc``), scaled as
  a Kubernetes autoscaler scales on a utilisation metric, ``ceil(ready x usage / u)``. The bytes in
  flight come from Little's law (rate x end-to-end time x mean context held) while the replicas
  keep up; once the traffic outruns them, each runs a full batch and reports that batch's KV use
  (its batch limit x mean context held, at most its pool). So the fleet grows by at most ``1/u``
  a minute: a signal that sees memory, not latency, and fires only once the replicas are full.

The ``"tokens"`` trigger assumes each request states its token budget on arrival (a thinking
budget or ``max_tokens``), so each minute's mix of short and long requests is known as it
arrives; where budgets are not stated it can see no more than the ``"requests"`` trigger.

A replica is ready ``scale_up_s`` after launch: its weights read from storage at
``storage_gb_s`` per GPU plus ``startup_s`` (engine start, CUDA graphs), stated assumptions.
Scale-down waits ``cooldown_min`` minutes. Replicas up to ``on_demand_replicas`` (default: the
median need) are on-demand, the rest spot; a spot replica is preempted with probability
``preemptions_per_hour / 60`` each minute (seeded) and relaunched.

Outcomes
--------
A minute *violates* the SLO when fewer replicas are ready than it needs; the requests beyond
the ready capacity are the *excess*. *Wasted* GPU-hours are those provisioned beyond the need.
Cost is billed per second, or per started hour of each instance (``billing="hour"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..economics.tco import fleet
from ..engine.deployment import Deployment, as_deployment
from ..engine.load import load
from ..engine.slo import SLO
from ..errors import ValueRangeError
from ..params import Param, checked
from ..progress import bar
from ..report import Report

__all__ = ["traffic", "read_trace", "autoscale", "AutoscaleResult", "POLICIES_AUTOSCALE", "replica_capacity"]

POLICIES_AUTOSCALE = ("requests", "tokens", "kv")


@checked(hours=Param("real", "hour", low=1 / 60, high=24 * 31), mean_rate=Param("real", "request/s", low=0, low_open=True, high=1e6),
         peak_to_mean=Param("real", "", low=1, high=10), bursts=Param("int", "", low=0, high=1000),
         burst_factor=Param("real", "", low=1, high=100), burst_minutes=Param("int", "minute", low=1, high=1440),
         long_share=Param("real", "", low=0, high=1), burst_long_share=Param("real", "", low=0, high=1),
         seed=Param("int", "", low=0, high=2**32 - 1))
def traffic(*, hours=24.0, mean_rate=10.0, peak_to_mean=2.0, bursts=3, burst_factor=1.5,
            burst_minutes=30, long_share=0.1, burst_long_share=0.6, seed=0):
    """A seeded day of per-minute traffic (DataFrame: minute, rate, long_share); see the module docstring.

    Parameters
    ----------
    hours : float [hour]
        Length of the trace, > 0.
    mean_rate : float [request/s]
        Mean arrival rate over the day, > 0.
    peak_to_mean : float
        Diurnal peak over the mean, >= 1 (1: a flat day).
    bursts : int
        Bursts placed at random in the day, >= 0.
    burst_factor : float
        How much a burst multiplies the rate, >= 1.
    burst_minutes : int [minute]
        Length of each burst.
    long_share : float
        Share of long reasoning requests outside bursts, in [0, 1].
    burst_long_share : float
        Share of long requests during a burst, in [0, 1].
    seed : int
        Random seed: the same seed gives the same day.

    Returns
    -------
    pandas.DataFrame
        One row per minute: ``minute``, ``rate`` (requests/s) and ``long_share``.

    Examples
    --------
    >>> day = ml.traffic(hours=2, mean_rate=5, seed=0)
    >>> len(day), list(day.columns)
    (120, ['minute', 'rate', 'long_share'])
    """
    import pandas as pd

    n = max(int(round(hours * 60)), 1)
    t = np.arange(n)
    rate = mean_rate * (1 + (peak_to_mean - 1) * np.sin(2 * np.pi * (t / 1440.0 - 0.25)))
    rate = np.maximum(rate, mean_rate * 0.05)
    share = np.full(n, float(long_share))
    rng = np.random.default_rng(seed)
    for start in rng.integers(0, max(n - burst_minutes, 1), size=bursts):
        rate[start:start + burst_minutes] *= burst_factor
        share[start:start + burst_minutes] = burst_long_share
    return pd.DataFrame({"minute": t, "rate": rate, "long_share": share})


def check_trace(trace, source: str = "trace"):
    """A per-minute trace checked and normalised: columns ``minute, rate, long_share`` (float).

    One place for every rule, used by `read_trace` and `autoscale`: a ``rate`` column (a missing
    ``long_share`` is 0, missing minutes count from 0), there are rows, every value is a number, rates are finite and
    >= 0, shares are in [0, 1], minutes are whole, distinct and increasing. A problem is a
    one-line `ValueRangeError` starting with ``source``.
    """
    import pandas as pd

    if not isinstance(trace, pd.DataFrame):
        raise ValueRangeError(f"{source}: a trace is a DataFrame with columns minute and rate (see traffic() or "
                              f"read_trace()); got {type(trace).__name__}")
    df = trace.copy()
    if "rate" not in df:
        raise ValueRangeError(f"{source}: a trace needs a rate column (requests/s per minute)")
    if df.empty:
        raise ValueRangeError(f"{source}: the trace has a header but no rows")
    if "long_share" not in df:
        df["long_share"] = 0.0
    if "minute" not in df:
        df["minute"] = np.arange(len(df))
    for col in ("minute", "rate", "long_share"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna() | df[col].isna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            val = df[col].iloc[row]
            shown = repr(val) if isinstance(val, str) else "empty" if pd.isna(val) else str(val)
            raise ValueRangeError(f"{source}: {col} in data row {row + 1} is {shown}, not a number")
        df[col] = values.astype(float)
    if (df["rate"] < 0).any() or not np.isfinite(df["rate"]).all():
        raise ValueRangeError(f"{source}: rate must be finite and >= 0 in every row")
    if ((df["long_share"] < 0) | (df["long_share"] > 1)).any():
        raise ValueRangeError(f"{source}: long_share must be a fraction in [0, 1]")
    minutes = df["minute"].to_numpy()
    if not (np.isfinite(minutes).all() and (minutes == np.round(minutes)).all() and (np.diff(minutes) > 0).all()):
        raise ValueRangeError(f"{source}: minutes must be whole numbers in increasing order, each once")
    return df[["minute", "rate", "long_share"]].reset_index(drop=True)


def read_trace(path):
    """A trace from a CSV file with columns ``minute, rate`` and optionally ``long_share``.

    Every problem is a one-line `ValueRangeError` naming the file: missing, empty, not text,
    without the columns, without rows, a value that is not a number, a negative or infinite
    rate, a share outside [0, 1], minutes that are not whole, distinct and increasing.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header row naming ``minute`` and ``rate`` (and optionally ``long_share``).

    Returns
    -------
    pandas.DataFrame
        The trace in `traffic`'s columns, ready for `autoscale`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "trace.csv"
    >>> pd.DataFrame({"minute": [0, 1], "rate": [2.0, 3.5]}).to_csv(path, index=False)
    >>> ml.read_trace(path)["rate"].tolist()
    [2.0, 3.5]
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ValueRangeError(f"{path}: no such file (a trace is a CSV file with columns minute, rate)")
    try:
        df = pd.read_csv(p, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise ValueRangeError(f"{path}: the file is empty (expected a header 'minute,rate' and rows)") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        raise ValueRangeError(f"{path}: not a CSV text file ({type(e).__name__})") from None
    missing = {"minute", "rate"} - set(df.columns)
    if missing:
        raise ValueRangeError(f"{path}: a trace needs columns minute and rate; missing {', '.join(sorted(missing))}")
    return check_trace(df, str(path))


@dataclass(frozen=True)
class Capacity:
    """What one replica takes within the SLO, per request class."""

    short_rps: float
    long_rps: float
    short_e2e_s: float
    long_e2e_s: float

    def rps(self, long_share):
        p = np.asarray(long_share, dtype=float)
        return 1.0 / ((1 - p) / self.short_rps + p / self.long_rps)


def replica_capacity(deployment: Deployment, slo: SLO, *, prompt_tokens, short_tokens, long_tokens,
                     max_batch=None) -> Capacity:
    """One replica's largest rate within ``slo`` for short answers and for long reasoning chains.

    Parameters
    ----------
    deployment : Deployment
        One replica.
    slo : SLO
        The targets the replica meets at that rate.
    prompt_tokens : int [token]
        Prompt tokens of every request.
    short_tokens : int [token]
        Output tokens of a short answer.
    long_tokens : int [token]
        Output tokens of a long reasoning chain.
    max_batch : int, optional
        Cap on running sequences (default: memory bounds it).

    Returns
    -------
    Capacity
        ``short_rps`` and ``long_rps``; ``rps(long_share)`` is the rate of a mix.

    Examples
    --------
    >>> from mlsyslab.planning.autoscale import replica_capacity
    >>> cap = replica_capacity(ml.Deployment("llama-3-8b", "h100-sxm"), ml.SLO(ttft_ms=2000), prompt_tokens=1000, short_tokens=300, long_tokens=4000)
    >>> cap.short_rps > cap.long_rps
    True
    """
    out = {}
    for name, n in (("short", short_tokens), ("long", long_tokens)):
        f = fleet(deployment, qps=1e-3, prompt_tokens=prompt_tokens, output_tokens=n, slo=slo, max_batch=max_batch)
        if not f.feasible:
            raise ValueRangeError(f"a {name} request ({prompt_tokens} in / {n} out) cannot be served within the "
                                  f"SLO on {deployment}: {f.reason}")
        out[name] = (f.replica_qps, f.e2e_s)
    return Capacity(out["short"][0], out["long"][0], out["short"][1], out["long"][1])


@dataclass(frozen=True)
class AutoscaleResult(Report):
    """One policy through one trace: replicas by the minute, cost, violations and waste.

    Attributes
    ----------
    policy : str
        The scaling trigger: ``"requests"``, ``"tokens"`` or ``"kv"``.
    billing : str
        ``"second"`` or ``"hour"``.
    minutes : int
        Minutes of traffic replayed.
    gpus_per_replica : int
        GPUs of one replica.
    cost_usd : float
        What the day costs.
    on_demand_usd : float
        Its on-demand part.
    spot_usd : float
        Its spot part.
    violation_minutes : int
        Minutes in which the ready replicas were fewer than the traffic needed.
    excess_fraction : float
        Share of requests that arrived beyond the ready capacity.
    gpu_hours : float
        GPU-hours paid.
    wasted_gpu_hours : float
        GPU-hours paid beyond what the traffic needed.
    preemptions : int
        Spot replicas taken back.
    scale_up_s : float
        Time from the decision to a new replica serving (weights loaded, engine started).
    timeline : pandas.DataFrame
        Per minute: rate, long share, replicas needed and replicas provisioned.
    """

    policy: str
    billing: str
    minutes: int
    gpus_per_replica: int
    cost_usd: float
    on_demand_usd: float
    spot_usd: float
    violation_minutes: int
    excess_fraction: float           # requests beyond the ready capacity / all requests
    gpu_hours: float
    wasted_gpu_hours: float
    preemptions: int
    scale_up_s: float
    timeline: object = field(repr=False)     # DataFrame by minute

    feasible: bool = True
    reason: str | None = None

    def summary(self) -> dict:
        return {k: getattr(self, k) for k in ("policy", "billing", "minutes", "gpus_per_replica", "cost_usd",
                                              "on_demand_usd", "spot_usd", "violation_minutes", "excess_fraction",
                                              "gpu_hours", "wasted_gpu_hours", "preemptions", "scale_up_s")}

    def __str__(self) -> str:
        return (f"{self.policy} trigger, {self.billing} billing, {self.minutes / 60:g} h: USD {self.cost_usd:,.0f} "
                f"(on-demand {self.on_demand_usd:,.0f}, spot {self.spot_usd:,.0f}); SLO missed in "
                f"{self.violation_minutes} minutes ({self.excess_fraction:.2%} of requests beyond ready capacity); "
                f"{self.gpu_hours:,.0f} GPU-hours, {self.wasted_gpu_hours:,.0f} beyond the need; "
                f"{self.preemptions} spot preemptions; a replica takes {self.scale_up_s:.0f} s to start")


@checked(policy=Param("choice", choices=POLICIES_AUTOSCALE), billing=Param("choice", choices=("second", "hour")),
         utilisation=Param("real", "", low=0, low_open=True, high=1),
         prompt_tokens=Param("int", "token", low=1, high=1e7), short_tokens=Param("int", "token", low=2, high=1e7),
         long_tokens=Param("int", "token", low=2, high=1e7),
         storage_gb_s=Param("real", "GB/s", low=0, low_open=True, high=1e4),
         startup_s=Param("real", "s", low=0, high=1e5), cooldown_min=Param("int", "minute", low=0, high=1440),
         preemptions_per_hour=Param("real", "", low=0, high=60), seed=Param("int", "", low=0, high=2**32 - 1),
         on_demand_replicas=Param("int", "", low=0, high=1e6, optional=True))
def autoscale(deployment, trace, *, slo: SLO, policy: str = "tokens", prompt_tokens=1000, short_tokens=300,
              long_tokens=8000, utilisation=0.8, storage_gb_s=2.0, startup_s=60.0, cooldown_min=10,
              on_demand_replicas=None, preemptions_per_hour=0.05, billing: str = "second", seed=0,
              capacity: Capacity | None = None) -> AutoscaleResult:
    """Run one autoscaling ``policy`` through ``trace``; see the module docstring.

    Parameters
    ----------
    deployment : Deployment
        One replica.
    trace : DataFrame
        Per-minute ``rate`` (requests/s) and ``long_share`` (`traffic` or `read_trace`).
    slo : SLO
        The targets each replica must meet.
    policy : str
        ``"requests"``, ``"tokens"`` or ``"kv"``.
    prompt_tokens : int
        Prompt length of every request.
    short_tokens : int
        Answer length of a short request.
    long_tokens : int
        Answer length of a long reasoning chain (thinking included).
    utilisation : float
        Headroom each policy keeps: it targets this fraction of what it measures as capacity.
    storage_gb_s : float
        Weight-loading bandwidth per GPU when a replica starts, GB/s.
    startup_s : float
        Engine start-up besides loading weights, seconds.
    cooldown_min : int
        Minutes the target must stay below the fleet before it shrinks.
    on_demand_replicas : int, optional
        Replicas billed on demand; the rest are spot. Default: the trace's median need.
    preemptions_per_hour : float
        Chance per hour that a spot replica is taken back.
    billing : str
        ``"second"`` or ``"hour"`` (each instance billed per started hour).
    seed : int
        Seed of the preemptions.
    capacity : Capacity, optional
        Precomputed `replica_capacity` (to compare policies without recomputing it).

    Examples
    --------
    >>> dep = ml.Deployment("llama-3-8b", "h100-sxm")
    >>> a = ml.autoscale(dep, ml.traffic(hours=2, mean_rate=5), slo=ml.SLO(ttft_ms=2000), long_tokens=4000)
    >>> a.feasible, a.violation_minutes
    (True, 0)
    """
    dep = as_deployment(deployment)
    if not isinstance(slo, SLO):
        raise ValueRangeError("slo must be an mlsyslab.SLO")
    trace = check_trace(trace)
    cap = capacity or replica_capacity(dep, slo, prompt_tokens=prompt_tokens, short_tokens=short_tokens,
                                       long_tokens=long_tokens)
    rate = trace["rate"].to_numpy(dtype=float)
    share = trace["long_share"].to_numpy(dtype=float)
    n = len(rate)
    per_replica = cap.rps(share)
    need = np.ceil(rate / per_replica - 1e-9).astype(int)
    mean_share = float(np.average(share, weights=np.maximum(rate, 1e-12)))
    if policy == "requests":
        target = np.ceil(rate / (utilisation * cap.rps(mean_share)) - 1e-9)
    elif policy == "tokens":
        target = np.ceil(rate / (utilisation * per_replica) - 1e-9)
    else:
        kv_tok = float(dep.kv_bytes_per_token) if np.ndim(dep.kv_bytes_per_token) == 0 else float(np.max(dep.kv_bytes_per_token))
        pool = float(np.min(dep.kv_pool_bytes())) * int(dep.gpus)
        in_flight = rate * ((1 - share) * cap.short_e2e_s * (prompt_tokens + short_tokens / 2)
                            + share * cap.long_e2e_s * (prompt_tokens + long_tokens / 2)) * kv_tok
        target = np.ceil(in_flight / (utilisation * pool) - 1e-9)     # the first minute's fleet; then feedback
        # a replica past what it takes runs a full batch: its KV use is then the full batch's, per class
        per_gpu_pool = float(np.min(dep.kv_pool_bytes()))
        full = [min(1.0, float(load(dep, concurrency=1, prompt_tokens=prompt_tokens, output_tokens=out).batch_limit)
                    * (prompt_tokens + out / 2) * kv_tok / per_gpu_pool) for out in (short_tokens, long_tokens)]
    target = np.maximum(np.concatenate([[target[0]], target[:-1]]), 1).astype(int)    # last minute's signal
    gpus = int(dep.gpus)
    scale_up_s = float(np.max(dep.weight_bytes_per_gpu)) / (storage_gb_s * 1e9) + startup_s
    delay = max(1, math.ceil(scale_up_s / 60))
    base = int(np.median(need)) if on_demand_replicas is None else int(on_demand_replicas)
    hw = dep.hardware
    od_price = (hw.on_demand_usd_h or math.nan) * gpus
    spot_price = (hw.spot_usd_h if hw.spot_usd_h is not None else hw.on_demand_usd_h or math.nan) * gpus
    rng = np.random.default_rng(seed)
    p_pre = preemptions_per_hour / 60.0

    # instances: [launch minute, ready minute, stop minute or None, spot?]
    instances = [[-delay, 0, None, i >= base] for i in range(int(target[0]))]
    ready_n = np.zeros(n, int)
    prov_n = np.zeros(n, int)
    spot_n = np.zeros(n, int)
    low_since = None
    preemptions = 0
    pbar = bar(n, "autoscale", "minute")
    for t in range(n):
        pbar.update(1)
        live = [x for x in instances if x[2] is None]
        for x in live:              # spot preemptions, relaunched at once
            if x[3] and x[1] <= t and rng.random() < p_pre:
                x[2] = t
                preemptions += 1
                instances.append([t, t + delay, None, True])
        live = [x for x in instances if x[2] is None]
        if policy == "kv" and t > 0:      # what the ready replicas reported last minute, full at most
            serving = max(int(ready_n[t - 1]), 1)
            if rate[t - 1] > serving * per_replica[t - 1]:       # overloaded: every batch is full
                usage = (1 - share[t - 1]) * full[0] + share[t - 1] * full[1]
            else:
                usage = min(1.0, float(in_flight[t - 1]) / (serving * pool))
            target[t] = max(1, math.ceil(serving * usage / utilisation - 1e-9))
        want = int(target[t])
        if want > len(live):
            for _ in range(want - len(live)):
                instances.append([t, t + delay, None, len([y for y in instances if y[2] is None]) >= base])
            low_since = None
        elif want < len(live):
            low_since = t if low_since is None else low_since
            if t - low_since >= cooldown_min:
                for x in sorted(live, key=lambda y: -y[0])[:len(live) - want]:   # newest first
                    x[2] = t
                low_since = None
        else:
            low_since = None
        live = [x for x in instances if x[2] is None]
        prov_n[t] = len(live)
        ready_n[t] = sum(1 for x in live if x[1] <= t)
        spot_n[t] = sum(1 for x in live if x[3])
    pbar.close()
    served = np.minimum(rate, ready_n * per_replica)
    violated = ready_n < need
    total_req = float(np.sum(rate))
    excess = float(np.sum(rate - served) / total_req) if total_req > 0 else 0.0

    def billed_hours(x):
        stop = n if x[2] is None else x[2]
        minutes = max(stop - max(x[0], 0), 0)
        return minutes / 60 if billing == "second" else math.ceil(minutes / 60)

    od = sum(billed_hours(x) for x in instances if not x[3]) * od_price
    sp = sum(billed_hours(x) for x in instances if x[3]) * spot_price
    import pandas as pd

    timeline = pd.DataFrame({"minute": np.arange(n), "rate": rate, "long_share": share, "need": need,
                             "target": target, "ready": ready_n, "provisioned": prov_n, "spot": spot_n})
    return AutoscaleResult(
        policy=policy, billing=billing, minutes=n, gpus_per_replica=gpus, cost_usd=float(od + sp),
        on_demand_usd=float(od), spot_usd=float(sp), violation_minutes=int(violated.sum()),
        excess_fraction=excess, gpu_hours=float(prov_n.sum() * gpus / 60),
        wasted_gpu_hours=float(np.maximum(prov_n - need, 0).sum() * gpus / 60), preemptions=preemptions,
        scale_up_s=scale_up_s, timeline=timeline)
