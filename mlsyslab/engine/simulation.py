r"""A seeded, step-by-step simulation of one replica under load: the reference for `load`.

It runs the scheduler that `mlsyslab.load` describes, one forward pass at a time, with the
deployment's own step time (`Deployment.step_seconds`):

1. arrivals up to now join a FIFO queue;
2. the queue's head is admitted while running sequences < the batch bound (``max_batch`` and the
   token budget ``M``) and its KV fits: with ``kv_allocation="paged"`` (vLLM, SGLang, lmdeploy)
   its prompt must fit in the free pool and its cache then grows a token a step; when a step
   would overflow the pool the newest request is preempted (its KV freed, recomputed when it is
   readmitted at the head of the queue); with ``"reserved"`` (TensorRT-LLM's
   ``GUARANTEED_NO_EVICT``) its whole context ``S + N`` is reserved at admission;
3. the step gives one token to every decoding sequence and fills the rest of the budget with
   prompt chunks, first come first served (chunked prefill);
4. a request whose prompt completes gets its first token at the end of that step; one that has
   all ``N`` tokens leaves and frees its KV; in a closed loop its client sends the next request
   at that moment, which reaches the engine after it has started its next step (the answer
   and the new request cross the API server and the network), so it joins one step later.

Between events nothing changes but the contexts, which grow by one token a step, so runs of
pure decode steps are advanced in closed form (step time is linear in the context): the
simulation costs a few Python operations per request, not per token.

Closed-loop clients start at random times within one idle request's latency, so they do not
move in lock step; the first ``warmup`` fraction of requests (and, in a closed loop, the last
``concurrency``, which run while the load drains) are excluded from the statistics.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..errors import InfeasibleError, ValueRangeError
from ..params import Param, checked, one
from ..progress import bar
from ..report import Report
from ..units import magnitude
from .benchmark import Benchmark, sample_lengths
from .deployment import as_deployment
from .load import LoadResult

__all__ = ["simulate", "SimulationResult"]


@dataclass(frozen=True)
class SimulationResult(Report):
    """Measured statistics of a simulated run (seconds; throughput of the whole replica).

    Attributes
    ----------
    loop : str
        ``"closed"``, ``"open"`` or ``"benchmark"``.
    offered : float
        Clients (closed loop) or requests/s (open loop).
    requests : int
        Requests simulated.
    duration_s : float
        Simulated time of the requests counted.
    throughput_rps : float
        Requests completed per second.
    throughput_tok_s : float
        Output tokens per second.
    ttft_p50_s : float
        Median time to first token.
    ttft_p90_s : float
        90th-percentile time to first token.
    ttft_p99_s : float
        99th-percentile time to first token.
    itl_p50_s : float
        Median inter-token latency (over every gap between tokens).
    itl_p90_s : float
        90th-percentile inter-token latency.
    itl_p99_s : float
        99th-percentile inter-token latency.
    tpot_s : float
        Mean time per output token of a request (its decode time over its tokens after the first).
    tpot_p50_s : float
        Median time per output token over requests.
    tpot_p99_s : float
        99th-percentile time per output token over requests.
    batch : float
        Mean sequences running in a step.
    queue : float
        Mean requests waiting for admission.
    steps : int
        Forward passes simulated.
    preemptions : int
        Requests preempted (their KV freed and later recomputed) when the paged pool ran out.
    """

    loop: str
    offered: float
    requests: int
    duration_s: float
    throughput_rps: float
    throughput_tok_s: float
    ttft_s: float
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    itl_s: float
    itl_p50_s: float
    itl_p90_s: float
    itl_p99_s: float
    tpot_s: float
    e2e_s: float
    batch: float
    queue: float
    steps: int
    preemptions: int = 0
    feasible: bool = True
    reason: str | None = None
    tpot_p50_s: float = float("nan")
    tpot_p99_s: float = float("nan")

    stat = LoadResult.stat      # the same statistics by the same names, so an SLO reads either

    def __str__(self) -> str:
        what = (f"{self.offered:g} clients" if self.loop == "closed" else f"{self.offered:g} req/s")
        return (f"simulated {self.requests:,} requests at {what} over {self.duration_s:,.1f} s: "
                f"{self.throughput_tok_s:,.0f} tokens/s ({self.throughput_rps:.3g} req/s); TTFT mean "
                f"{self.ttft_s * 1e3:,.0f} ms p99 {self.ttft_p99_s * 1e3:,.0f} ms; ITL mean "
                f"{self.itl_s * 1e3:.1f} ms p99 {self.itl_p99_s * 1e3:.1f} ms; e2e {self.e2e_s:,.2f} s; "
                f"{self.batch:,.1f} in the server, {self.queue:,.1f} queued")


def _weighted_quantile(values, weights, p):
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights, dtype=float)[order]
    cum = np.cumsum(w)
    return float(v[min(np.searchsorted(cum, p * cum[-1]), len(v) - 1)])


MAX_SIMULATION_S = 60.0
"""The most work one `simulate` call takes on, in seconds of a 2-core machine (see `estimated_seconds`)."""


def estimated_seconds(requests, output_tokens) -> float:
    """About how long `simulate` runs on a 2-core machine: ``requests x (1e-4 s + 9e-8 s x output_tokens)``.

    Measured here (2026-12, 50,000 requests of Llama-3-8B on an H100 at 20 req/s): 5.9 s with
    200-token answers, 23 s with 4,000. Pure decode runs advance in closed form, so most of the
    cost is per event (an arrival, a prefill chunk, a completion), and longer answers hold more
    sequences in each pass."""
    return float(requests) * (1e-4 + 9e-8 * float(output_tokens))

@checked("prompt_cv", "output_cv", "requests", "warmup", "max_batch", "max_batched_tokens",
         "kv_allocation", "seed", "memory_utilization", "pp", "ep", tp=one("tp"),
         prompt_tokens=one("prompt_tokens"), cached_prompt_tokens=one("cached_prompt_tokens"),
         concurrency=Param("int", "request", low=1, high=1e6, optional=True),
         rate=Param("real", "request/s", low=0, low_open=True, high=1e7, optional=True, units=("1/s", "query/s")),
         output_tokens=Param("real", "token", low=2, high=1e7))
def simulate(model, hardware=None, *, concurrency=None, rate=None, prompt_tokens=512,
             output_tokens=256, prompt_cv=0.0, output_cv=0.0, cached_prompt_tokens=0,
             requests=2000, warmup=0.2, max_batch=None,
             max_batched_tokens=None, kv_allocation=None, seed=0, tp=1, pp=1, ep=1,
             weights="fp16", kv="fp16", efficiency=None, memory_utilization=0.9,
             benchmark: Benchmark | None = None) -> SimulationResult:
    """Simulate ``requests`` requests through one replica (see the module docstring).

    The work is bounded: a call that `estimated_seconds` puts above ``MAX_SIMULATION_S`` (60 s
    on a 2-core machine) is refused with what to do instead, and one that runs past a couple of
    seconds shows a progress bar where someone watches (`mlsyslab.progress`).

    Arguments are those of `mlsyslab.load` (scalars only; ``kv_allocation`` "paged" or
    "reserved" as there), plus ``requests`` (>= 10),
    ``warmup`` (fraction excluded at the start, in [0, 0.9)) and ``seed``.

    ``benchmark`` runs a `Benchmark` exactly as a load generator does: its ``requests`` in
    all, at most ``concurrency`` in flight, started together or staggered, lengths drawn from its
    distributions, and every request counted (the first wave and the final drain included, as
    the benchmark's report counts them). It replaces ``concurrency``, ``rate``, the lengths,
    ``requests`` and ``warmup``.

    Raises `InfeasibleError` when a request cannot fit in memory at all.

    Parameters
    ----------
    benchmark : Benchmark, optional
        A whole benchmark run; replaces ``concurrency``, ``rate``, the lengths, ``requests`` and
        ``warmup``.

    Returns
    -------
    SimulationResult
        Means and percentiles of TTFT, ITL, TPOT and end-to-end latency, throughput and
        preemptions, from the simulated requests.

    Examples
    --------
    >>> s = ml.simulate("llama-3-8b", "h100-sxm", concurrency=16, requests=200, seed=1)
    >>> f"{s.ttft.to('ms'):.0f~P}, {s.itl.to('ms'):.1f~P}"
    '48 ms, 6.9 ms'
    """
    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency,
                        memory_utilization=memory_utilization)
    if np.ndim(dep.tp):
        raise ValueRangeError("simulate takes one tp (loop over several)")
    max_batch, max_batched_tokens, kv_allocation = dep.serving_limits(max_batch, max_batched_tokens,
                                                                      kv_allocation)
    if benchmark is not None:
        if not isinstance(benchmark, Benchmark):
            raise ValueRangeError(f"benchmark must be an mlsyslab Benchmark; got {type(benchmark).__name__}")
        if concurrency is not None or rate is not None:
            raise ValueRangeError("give a benchmark or a concurrency / rate, not both")
        concurrency, requests, warmup = benchmark.concurrency, max(benchmark.requests, 10), 0.0
        prompt_tokens, output_tokens = benchmark.prompt.mean, benchmark.output.mean
    if (concurrency is None) == (rate is None):
        raise ValueRangeError("give exactly one of concurrency= (closed loop) or rate= (open loop)")
    closed = concurrency is not None
    scalars = {}
    for name, value, unit, kw in (
            ("prompt_tokens", prompt_tokens, "token", dict(minimum=1)),
            ("output_tokens", output_tokens, "token", dict(minimum=2)),
            ("cached_prompt_tokens", cached_prompt_tokens, "token", dict(minimum=0)),
            ("prompt_cv", prompt_cv, "", dict(minimum=0)), ("output_cv", output_cv, "", dict(minimum=0)),
            ("requests", requests, "request", dict(minimum=10, integer=True)),
            ("warmup", warmup, "", dict(minimum=0)),
            ("max_batched_tokens", max_batched_tokens, "token", dict(minimum=1, integer=True)),
            ("seed", seed, "", dict(minimum=0, integer=True))):
        v = magnitude(value, unit, name, **kw)
        if np.ndim(v):
            raise ValueRangeError(f"simulate takes one {name}; loop over several")
        scalars[name] = float(v)
    offered = (magnitude(concurrency, "request", "concurrency", minimum=1, integer=True) if closed
               else magnitude(rate, "request/s", "rate", strictly_positive=True))
    if np.ndim(offered):
        raise ValueRangeError("simulate takes one concurrency or rate; loop over several")
    total = int(scalars["requests"])
    cost_s = estimated_seconds(total, scalars["output_tokens"])
    if cost_s > MAX_SIMULATION_S:
        raise ValueRangeError(f"simulate is bounded to about {MAX_SIMULATION_S:.0f} s of work on a 2-core machine; "
                              f"{total:,} requests of {scalars['output_tokens']:,.0f} output tokens would take about "
                              f"{cost_s:,.0f} s: simulate fewer requests, or use the analytic load() for the steady state")
    if closed and benchmark is None and total < 2 * offered + 10:
        raise ValueRangeError(f"a closed loop of {offered:g} clients needs at least {2 * int(offered) + 10} "
                              f"requests (the last {offered:g} run while the load drains); got {total}")
    M = int(scalars["max_batched_tokens"])
    cap = M if max_batch is None else min(M, int(magnitude(max_batch, "request", "max_batch", minimum=1, integer=True)))

    rng = np.random.default_rng(int(scalars["seed"]))
    if benchmark is not None:
        S = benchmark.prompt.sample(rng, total, 1)
        N = benchmark.output.sample(rng, total, 2)
    else:
        S = sample_lengths(rng, scalars["prompt_tokens"], scalars["prompt_cv"], total, 1)
        N = sample_lengths(rng, scalars["output_tokens"], scalars["output_cv"], total, 2)
    Sc = np.minimum(int(scalars["cached_prompt_tokens"]), S - 1)
    # the pool counted in tokens: bytes per token at the workload's mean full context (exact for
    # full attention; sliding windows and fixed states spread over a typical sequence's tokens)
    typical = float(S.mean() + N.mean())
    kv_tok = float(dep.kv_bytes_per_sequence_per_gpu(typical)) / typical
    pool = float(dep.kv_pool_bytes(M))
    shared = int(scalars["cached_prompt_tokens"])     # one copy per replica (prefix caching)
    pool_tokens = math.floor(max(pool, 0.0) / kv_tok) - shared
    window = dep.model.max_context
    if window is not None and typical > window:     # the same refusal as load's
        raise InfeasibleError(dep.memory_reasons(1, typical, M, shared_prefix=shared))
    worst = int((S + N).max())
    if worst - shared > pool_tokens:
        raise InfeasibleError(dep.memory_reasons(1, worst, M, shared_prefix=shared))
    paged = kv_allocation == "paged"

    step = dep.step_seconds
    t_request = dep.efficiency.request_overhead_ms * 1e-3   # delays the first token, holds no GPU
    arrive = np.full(total, np.nan)
    first = np.full(total, np.nan)
    done = np.full(total, np.nan)
    if closed:
        C = min(int(offered), total)
        idle = float(step(0, 0, S.mean(), S.mean() / 2) + (N.mean() - 1) * step(1, S.mean() + N.mean() / 2))
        if benchmark is not None and benchmark.start == "together":
            future = [0.0] * C
        else:
            future = sorted(rng.uniform(0, idle, C).tolist())
    else:
        future = np.cumsum(rng.exponential(1.0 / float(offered), total)).tolist()
    fut_i = issued = completed = preemptions = 0
    waiting: deque[int] = deque()         # arrived, not admitted (preempted requests rejoin at the head)
    late: list[int] = []                  # closed loop: reach the engine after its next step starts
    prefilling: deque[list] = deque()     # [id, prompt tokens computed so far, tokens to compute]
    heap: list[tuple[int, int, int]] = [] # (finish step, id, version) of decoding sequences
    version = np.zeros(total, dtype=np.int64)
    generated = np.zeros(total, dtype=np.int64)   # tokens emitted so far
    offset = np.zeros(total, dtype=np.int64)      # context = offset + D while decoding
    admitted_at = np.zeros(total, dtype=np.int64)
    running: dict[int, str] = {}          # id -> "prefill" or "decode"
    dec_count = 0
    dec_base = 0                          # sum of offsets of decoding sequences
    held_prefill = 0                      # KV tokens held by requests in prefill
    reserved = 0                          # reservation policy: S + N per running request
    D = 0
    admissions = 0
    t = 0.0
    seg_t, seg_dur, seg_k, seg_d, seg_run, seg_wait = [], [], [], [], [], []

    def record(dt, k, d):
        seg_t.append(t)
        seg_dur.append(dt)
        seg_k.append(k)
        seg_d.append(d)
        seg_run.append(len(running))
        seg_wait.append(len(waiting))

    def used_tokens():      # the shared prefix of every running request is stored once (pool_tokens)
        return reserved if not paged else dec_base + dec_count * D + held_prefill - len(running) * shared

    def admit_cost(i):
        return int(S[i] + N[i] - Sc[i]) if not paged else int(S[i] + generated[i] - Sc[i])

    def leave(i, now):
        nonlocal completed, issued, reserved
        done[i] = now
        del running[i]
        if not paged:
            reserved -= int(S[i] + N[i] - Sc[i])
        completed += 1
        if closed and issued < total:
            arrive[issued] = now
            late.append(issued)
            issued += 1

    def finish_until(now):
        nonlocal dec_count, dec_base
        while heap and heap[0][0] <= D:
            _, i, v = heapq.heappop(heap)
            if v != version[i]:
                continue                  # a stale entry of a preempted sequence
            generated[i] = N[i]
            dec_count -= 1
            dec_base -= offset[i]
            leave(i, now)

    def preempt_one():
        """Recompute preemption (vLLM): free the newest request's KV, requeue it at the head."""
        nonlocal dec_count, dec_base, held_prefill, preemptions
        i = max(running, key=lambda j: admitted_at[j])
        if running[i] == "decode":
            generated[i] = offset[i] + D - S[i]
            dec_count -= 1
            dec_base -= offset[i]
            version[i] += 1
        else:
            for entry in prefilling:
                if entry[0] == i:
                    held_prefill -= entry[2] + int(Sc[i])
                    prefilling.remove(entry)
                    break
        del running[i]
        waiting.appendleft(i)
        preemptions += 1

    pbar = bar(total, "simulate", "request")
    passes = 0
    while completed < total:
        passes += 1
        if passes % 512 == 0:
            pbar.update(completed - pbar.n)
        while fut_i < len(future) and future[fut_i] <= t and issued < total:
            arrive[issued] = future[fut_i]
            waiting.append(issued)
            issued += 1
            fut_i += 1
        while waiting and len(running) < cap and used_tokens() + admit_cost(waiting[0]) <= pool_tokens:
            i = waiting.popleft()
            todo = int(S[i] + generated[i] - Sc[i])        # a preempted request recomputes its tokens
            prefilling.append([i, 0, todo])
            held_prefill += todo + int(Sc[i])              # paged: its prompt's blocks, allocated now
            if not paged:
                reserved += int(S[i] + N[i] - Sc[i])
            running[i] = "prefill"
            admissions += 1
            admitted_at[i] = admissions
        if not running:
            if late:
                waiting.extend(late)
                late.clear()
                continue
            if fut_i < len(future) and issued < total:
                t = max(t, future[fut_i])
                continue
            break  # pragma: no cover - nothing left to do
        # paged KV: the next step's decode tokens need room, or the newest request is preempted
        while paged and len(running) > 1 and used_tokens() + dec_count > pool_tokens:
            preempt_one()
        d = dec_count
        ctx = (dec_base + d * D) / d if d else 0.0
        if not prefilling:
            # a run of pure decode steps until the next departure, arrival or full KV pool
            while heap and heap[0][2] != version[heap[0][1]]:
                heapq.heappop(heap)
            k = heap[0][0] - D
            if late:          # they reach the engine during the next step and join after it
                k = 1
            if paged and d:
                k = max(1, min(k, (pool_tokens - used_tokens()) // d))
            alpha = float(step(d, ctx))
            beta = float(step(d, ctx + 1)) - alpha
            if not waiting and fut_i < len(future) and issued < total:
                gap = future[fut_i] - t
                if beta > 0:
                    kk = (-(alpha - beta / 2) + math.sqrt((alpha - beta / 2) ** 2 + 2 * beta * gap)) / beta
                else:
                    kk = gap / alpha
                k = max(1, min(k, math.ceil(kk - 1e-12)))
            dt = k * alpha + beta * k * (k - 1) / 2
            record(dt, k, d)
            t += dt
            D += k
            waiting.extend(late)
            late.clear()
            finish_until(t)
            continue
        budget = M - d
        p, pctx, finished_prompts = 0, 0.0, []
        for entry in prefilling:
            if budget <= 0:
                break
            i, got, todo = entry
            chunk = min(todo - got, budget)
            pctx += chunk * (Sc[i] + got + chunk / 2)
            p += chunk
            budget -= chunk
            entry[1] = got + chunk
            if got + chunk == todo:
                finished_prompts.append(i)
        dt = float(step(d, ctx, p, pctx / p))
        record(dt, 1, d)
        t += dt
        D += 1
        waiting.extend(late)
        late.clear()
        for i in finished_prompts:
            entry = prefilling.popleft()
            held_prefill -= entry[2] + int(Sc[i])
            if generated[i] == 0:
                first[i] = t + t_request
            generated[i] += 1                      # the pass over the prompt samples a token
            if generated[i] >= N[i]:
                leave(i, t)
                continue
            running[i] = "decode"
            offset[i] = S[i] + generated[i] - D
            dec_count += 1
            dec_base += offset[i]
            heapq.heappush(heap, (D + int(N[i] - generated[i]), i, int(version[i])))
        finish_until(t)

    # the measured window (a benchmark counts every request, the first wave and the drain too)
    pbar.close()
    lo = int(total * scalars["warmup"])
    hi = total if benchmark is not None else total - (int(offered) if closed else 0)
    hi = max(hi, lo + 1)
    sel = slice(lo, hi)
    ends = np.sort(done)
    t0, t1 = ends[min(lo, total - 1)], ends[min(hi, total) - 1]
    if benchmark is not None:    # a benchmark's duration runs from its start to its last answer
        t0 = 0.0
    in_window = (done >= t0) & (done <= t1)
    span = max(t1 - t0, 1e-12)
    ttft = (first - arrive)[sel]
    e2e = (done - arrive)[sel]
    tpot = ((done - first) / (N - 1))[sel]
    st = np.asarray(seg_t)
    dur, k, dd = np.asarray(seg_dur), np.asarray(seg_k), np.asarray(seg_d)
    win = (st >= t0) & (st < t1)
    per_step = dur[win] / k[win]
    weight = (dd * k)[win]
    if weight.sum() <= 0:  # pragma: no cover - a window with no decoding
        per_step, weight = dur / k, np.maximum(dd * k, 1)
    time_w = dur[win]
    return SimulationResult(
        loop="closed" if closed else "open", offered=float(offered), requests=int(hi - lo),
        duration_s=float(span), throughput_rps=float(in_window.sum() / span),
        throughput_tok_s=float(N[in_window].sum() / span),
        ttft_s=float(ttft.mean()), ttft_p50_s=float(np.quantile(ttft, 0.5)),
        ttft_p90_s=float(np.quantile(ttft, 0.9)), ttft_p99_s=float(np.quantile(ttft, 0.99)),
        itl_s=float((per_step * weight).sum() / weight.sum()),
        itl_p50_s=_weighted_quantile(per_step, weight, 0.5),
        itl_p90_s=_weighted_quantile(per_step, weight, 0.9),
        itl_p99_s=_weighted_quantile(per_step, weight, 0.99),
        tpot_s=float(tpot.mean()), tpot_p50_s=float(np.quantile(tpot, 0.5)),
        tpot_p99_s=float(np.quantile(tpot, 0.99)), e2e_s=float(e2e.mean()),
        batch=float((np.asarray(seg_run)[win] * time_w).sum() / max(time_w.sum(), 1e-12)),
        queue=float((np.asarray(seg_wait)[win] * time_w).sum() / max(time_w.sum(), 1e-12)),
        steps=int(k.sum()), preemptions=int(preemptions),
    )
