r"""Serving under load: continuous batching with chunked prefill, seen by streaming clients.

What is modelled
----------------
One replica (a `Deployment`) runs an iteration-level scheduler, as vLLM (v1) and
TensorRT-LLM do. Every forward pass ("step") first gives one token to each of the ``d`` running
sequences that are decoding, then fills the rest of a token budget ``M`` (``max_batched_tokens``)
with prompt chunks of admitted requests, first come first served (chunked prefill). A request is
admitted while the running sequences are fewer than the batch bound and its KV fits. With
``kv_allocation="paged"`` (vLLM, SGLang, lmdeploy: blocks allocated as the context grows, the
newest request preempted and recomputed when the pool runs out) a request holds on average
``S + N (1 + cv_N^2) / 2`` tokens over its stay; with ``"reserved"`` (TensorRT-LLM's
``GUARANTEED_NO_EVICT``) its whole ``S + N`` is reserved at admission. The batch bound, the
budget ``M`` and the allocation default to the engine's own (`Deployment.serving_limits`, from
``engines.toml`` with sources: vLLM keeps at most 1,024 requests running and 8,192 tokens a pass
on an H100, 256 and 2,048 on an A100), so a request beyond them waits for a slot as it would in
the engine. Its first token comes at the end of the step that finishes its prompt; each later step gives it one
more token. A streaming client therefore also waits while the server prefills *other* requests'
prompts: a step that carries a prompt chunk is slower, and every decoding client sees it.

Traffic is either a *closed loop* of ``C`` clients that each send the next request as soon as
the last answer ends (``vllm bench serve --max-concurrency``, GenAI-Perf, AIPerf) or an *open
loop* of Poisson arrivals at ``rate``. Prompt and output lengths are fixed or gamma-distributed
with a stated coefficient of variation.

The steady state (a fluid model with queueing corrections)
----------------------------------------------------------
Take ``d``, the mean number of decoding sequences, as the unknown. Each request decodes for
``N - 1`` steps, so in steady state ``a = d / (N - 1)`` requests arrive per step, bringing
``p = a S'`` prompt tokens per step (``S' = S - S_cached``). Prefill may use ``M_p = M - d``
tokens of each step. Steps that carry prompt chunks are a fraction ``q`` of all steps:

    q       = min(1, max(p / M_p,  1 - exp(-a * ceil(S' / M_p))))     chunk k = p / q tokens
    t_dec   = t_step(d decode at context c_d)                          c_d = S + N (1 + cv_N^2) / 2
    t_mix   = t_step(d decode at c_d, k prefill at c_p)                c_p = (S + S_cached) / 2
    ITL     = (1 - q) t_dec + q t_mix         (mean over steps; every decoding client sees each)
    X       = a / ITL                          requests/s;  throughput = X N tokens/s

A request's time to first token adds the wait for the next step boundary (the residual of the
step in progress), the queue of earlier prompts for the prefill budget (M/G/1 on prompt work
with utilisation ``rho_p = X s_p`` in time: the requests per second times the seconds of
budget-filled steps each prompt needs) and its own chunks:

    residual = E[t^2] / (2 E[t])      (open loop: an arrival lands within a step)
    residual = E[t]                    (closed loop: the next request reaches the engine after
                                        it has started the step that follows the answer;
                                        0 when no other request keeps it busy)
    W_pre    = rho_p / (1 - rho_p) * (1 + cv_S^2) / 2 * s_p,      s_p = S' / M_p * t_step(d, M_p)
    own      = floor(S' / M_p) t_step(d, M_p) + [r > 0] t_step(d, min(M_p, r + k_o)) + t_request,
               r = S' - floor(S' / M_p) M_p,  k_o = max(k - min(S', M_p), 0)
               (full steps of the prompt, then its remainder beside others' chunks)
    TTFT     = W_slot + residual + W_pre + own,       e2e = TTFT + (N - 1) ITL

The requests inside the server are ``n(d) = d + X (residual + W_pre + own)`` (Little's law).

- **Closed loop**: ``n(d) = min(C, B)`` is solved for ``d`` (bisection); the ``C - B`` clients
  beyond the batch bound ``B`` wait for a slot, ``W_slot = (C - B) / X``.
- **Open loop**: ``X(d) = rate`` is solved for ``d``; slots form an M/G/c queue with
  ``c = B`` servers of service time ``n / X`` (Erlang C with the Allen-Cunneen correction).
  A rate above the replica's capacity (its closed-loop throughput at ``C = B``) is unstable.

A benchmark run (``start="together"``, or a `Benchmark`)
------------------------------------------------------------
A load generator (``vllm bench serve --max-concurrency C``, InferenceX, AIPerf) sends ``R``
requests from ``C`` clients that all start at once. Its first wave of ``n = min(C, B)`` prompts
reaches an idle server together and is prefilled first come first served at the token budget:
prompt ``j`` (from 0) gets its first token after ``ceil((j + 1) a)`` steps, ``a = S' / M``, each
a step carrying ``min(M, n S')`` prompt tokens beside the ``~n / 2`` requests already decoding:

    mean over the wave  k_w = max(ceil(a), a (n + 1) / 2 + (1 - 1 / n) / 2)       (steps)
    TTFT_wave = k_w * t_step(n / 2 decode, min(M, n S') prefill) + t_request
    TTFT      = (n TTFT_wave + (R - n) TTFT_later) / R
    TTFT_later = rho TTFT_convoy + (1 - rho) TTFT_steady

The other ``R - n`` requests see the steady state above where their arrivals have spread as
answers end at different times; with nearly equal lengths a share ``rho`` of the later waves
stays clumped (a convoy) and waits ``TTFT_convoy`` (`_Workload.convoy`: the closure is fitted
to the simulation's fixed-length runs). The wave is what makes a benchmark's mean TTFT grow with ``C`` far faster
than a production stream's: 70B on 4 x H200, 8K prompts, ``C = 64``: about 2.0 s where the
steady state gives 0.8 s (the simulation, run with the same protocol, agrees within a few per
cent, and InferenceX's measured runs in ``measured_aic_hopper.csv`` within 15%). Percentiles mix the two
parts: the wave's TTFTs spread evenly from one step to ``n a`` steps. ``start="staggered"``
(the default, a production stream) has no wave.

Percentiles: ITL is a mixture (``t_dec`` with weight ``1 - q``, a step carrying prompt chunks
with weight ``q``, the chunk following the prompt lengths), so p99 ITL is a prefill-interference
step once more than 1% of steps carry a prompt; p99 is reported at least at the mean (a rare step
long enough to carry the mean belongs in the tail promise). TTFT percentiles add the waits' exponential tail (an atom at zero
plus an exponential of the same mean), the residual as uniform, and the own prefill at the
length percentile (lognormal with the stated CV).

Bounds: the batch bound ``B`` is the memory limit, the KV pool over the tokens each request in
the server holds (``S + N (1 + cv_N^2) / 2`` paged, ``S + N (1 + cv_N^2)`` reserved: requests in
the server are length-biased, long answers stay longer), unless ``max_batch`` is set, and never more than ``M``. Results say which limit binds:
``memory``, ``batch cap``, ``token budget`` (the replica is full), else the binding roofline of
the steps: ``compute`` (prefill or large decode batches) or ``bandwidth``.

Assumptions: one replica, the cost of paged preemptions (recomputed prompts) left out of the
formulas (the simulation pays it), no prefix caching across requests beyond a shared prefix
(``cached_prompt_tokens``: every request's first tokens, computed and stored once per
replica), no speculative decoding; every step pays the
deployment's step overhead. The seeded simulation (`mlsyslab.simulate`) runs the same
scheduler step by step with the same step time and is the reference for these formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from statistics import NormalDist

import numpy as np

from ..errors import ValueRangeError
from ..params import P, Param, checked
from ..report import Report
from ..units import magnitude
from .benchmark import START_MODES, Benchmark
from .deployment import Deployment, as_deployment
from .queueing import erlang_c

__all__ = ["load", "LoadResult", "STATISTICS", "KV_ALLOCATIONS", "lognormal_quantile"]

KV_ALLOCATIONS = ("paged", "reserved")

STATISTICS = ("mean", "p50", "p90", "p99")
_P = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def lognormal_quantile(p: float, cv) -> np.ndarray:
    """The ``p``-quantile of a lognormal of mean 1 and coefficient of variation ``cv``."""
    cv = np.asarray(cv, dtype=float)
    sigma = np.sqrt(np.log1p(cv * cv))
    z = np.vectorize(NormalDist().inv_cdf, otypes=[float])(p) if np.ndim(p) else NormalDist().inv_cdf(p)
    return np.exp(z * sigma - sigma * sigma / 2)


def _wait_quantile(p, p_wait, mean_wait):
    """p-quantile of a wait with an atom at 0 (1 - p_wait) and an exponential tail of the same mean."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(p_wait > 1 - p, mean_wait / p_wait * np.log(p_wait / (1 - p)), 0.0)
    return np.where(mean_wait > 0, tail, 0.0)


@dataclass(frozen=True)
class _State:
    """Everything the steady state implies for a given decode occupancy ``d`` (arrays)."""

    d: np.ndarray
    a: np.ndarray
    budget: np.ndarray
    q: np.ndarray
    chunk: np.ndarray
    t_dec: np.ndarray
    t_mix: np.ndarray
    itl: np.ndarray
    x: np.ndarray
    residual: np.ndarray
    w_pre: np.ndarray
    rho_pre: np.ndarray
    own: np.ndarray
    n: np.ndarray
    compute_bound: np.ndarray


class _Workload:
    """The per-configuration constants of the fixed point (broadcast arrays)."""

    def __init__(self, dep: Deployment, S, N, Sc, cv_s, cv_n, M, closed):
        self.dep = dep
        self.closed = closed
        self.S, self.N, self.Sc, self.M = S, N, Sc, M
        self.new = S - Sc
        self.cv_s, self.cv_n = cv_s, cv_n
        self.c_dec = S + N * (1 + cv_n * cv_n) / 2      # token-weighted mean decode context
        self.c_pre = (S + Sc) / 2

    def d_max(self, bound):
        """The largest decode occupancy whose prompts the budget can still prefill (rho_p < 1)."""
        d_star = (self.N - 1) * self.M / (self.new + self.N - 1)
        return np.minimum(bound, d_star * (1 - 1e-6))

    def state(self, d, closed_n=None, final=False) -> _State:
        dep, M, new = self.dep, self.M, self.new
        a = d / (self.N - 1)
        budget = np.maximum(M - d, 1.0)
        p = a * new
        chunks = np.ceil(new / budget)
        q = np.clip(np.maximum(p / budget, 1 - np.exp(-a * chunks)), 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(q > 0, p / q, 0.0)
        t_dec = dep.step_seconds(d, self.c_dec)
        t_mix = dep.step_seconds(d, self.c_dec, k, self.c_pre)
        itl = (1 - q) * t_dec + q * t_mix
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(itl > 0, a / itl, 0.0)
            if self.closed:   # a full step, unless the engine was idle (no other request inside)
                busy = 1.0 if closed_n is None else np.clip(closed_n - 1, 0.0, 1.0)
                residual = itl * busy
            else:
                residual = ((1 - q) * t_dec ** 2 + q * t_mix ** 2) / (2 * itl)
        # the prefill queue's utilisation in time, not steps: requests/s x the seconds of budget-
        # filled steps each prompt needs (a step full of prompt tokens is far longer than the mean)
        s_pre = new / budget * dep.step_seconds(d, self.c_dec, budget, self.c_pre)
        rho = np.minimum(x * s_pre, 1 - 1e-9)
        w_pre = rho / (1 - rho) * (1 + self.cv_s ** 2) / 2 * s_pre
        if closed_n is not None:      # a finite population cannot queue behind more than n - 1
            w_pre = np.minimum(w_pre, np.maximum(closed_n - 1, 0) * s_pre)
        own = self._own_prefill(d, new, budget, k) + dep.efficiency.request_overhead_ms * 1e-3
        n = d + x * (residual + w_pre + own)
        if not final:
            return _State(d, a, budget, q, k, t_dec, t_mix, itl, x, residual, w_pre, rho, own, n, None)
        lin = dep.step_time(decode_tokens=d, decode_context=self.c_dec, prefill_tokens=k * q,
                            prefill_context=self.c_pre)
        comp = lin.linear_compute_s + np.where(lin.attention_compute_bound, lin.attention_s, 0)
        mem = lin.linear_memory_s + np.where(lin.attention_compute_bound, 0, lin.attention_s)
        return _State(d, a, budget, q, k, t_dec, t_mix, itl, x, residual, w_pre, rho, own, n, comp >= mem)

    def first_wave(self, n):
        """A benchmark's first wave of ``n`` prompts at an idle server: the first and last TTFT
        of the wave and its mean (see the module docstring)."""
        dep, M, new = self.dep, self.M, self.new
        a = new / M
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_k = np.maximum(np.ceil(a), a * (n + 1) / 2 + (1 - 1 / np.maximum(n, 1)) / 2)
        t = dep.step_seconds(n / 2, self.S, np.minimum(M, n * new), self.c_pre)
        fixed = dep.efficiency.request_overhead_ms * 1e-3
        return np.ceil(a) * t + fixed, np.ceil(n * a) * t + fixed, mean_k * t + fixed

    def convoy(self, n):
        """Later waves of a benchmark: the share ``rho`` of them still clumped, and their TTFT.

        A wave of ``n`` prompts spans ``K = max(1, n a)`` steps. Answers of equal length end in the
        same clumps, so the next requests arrive clumped again; a spread of lengths scatters the
        ends over ``sqrt(12) (cv_N N + cv_S n a)`` steps (the range of a uniform of that CV), and
        ``rho = exp(-spread / K)`` of the clumping survives. A clumped wave's prompt waits
        ``1 + 0.4 ln K`` full steps (the closure fitted to the simulation's fixed-length runs,
        within 10% of it from K = 1 to 64; it is the first wave's own mean when K = 1).
        """
        dep, M, new = self.dep, self.M, self.new
        a = new / M
        K = np.maximum(1.0, n * a)
        spread = np.sqrt(12.0) * (self.cv_n * self.N + self.cv_s * n * a)
        rho = np.exp(-spread / K)
        t = dep.step_seconds(n / 2, self.S, np.minimum(M, n * new), self.c_pre)
        k = np.maximum(np.ceil(a), 1 + 0.4 * np.log(K))
        return rho, k * t + dep.efficiency.request_overhead_ms * 1e-3

    def itl_quantile(self, st: _State, p: float):
        """p-quantile of the inter-token gap: a pure decode step, or one carrying prompt chunks.

        Among the fraction ``q`` of steps that carry prompts, the number of prompts in a step is
        a zero-truncated Poisson of mean ``a`` per step and each prompt's length follows the
        prompt-length distribution (lognormal of CV ``cv_S``); the chunk is their sum at the
        quantile, at most the budget. With varied lengths the tail grows smoothly as ``q`` passes
        ``1 - p``; with fixed lengths it jumps there, as a measured run does.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            p_mix = np.clip(1 - (1 - p) / st.q, 0.0, 1.0)
        count = _truncated_poisson_quantile(st.a, p_mix)
        length = lognormal_quantile(np.clip(p_mix, 1e-6, 1 - 1e-6), self.cv_s) if np.any(self.cv_s) else 1.0
        chunk = np.minimum(st.budget, self.new * count * length)
        t_tail = self.dep.step_seconds(st.d, self.c_dec, chunk, self.c_pre)
        return np.where(st.q > 1 - p, np.maximum(t_tail, st.t_dec), st.t_dec)

    def _own_prefill(self, d, new, budget, k):
        """The steps that prefill one prompt of ``new`` tokens: ``floor(new / budget)`` steps
        full of it, then one with its remainder beside the other prompts' tokens a step carries
        (the mean chunk ``k`` less this prompt's own share of it)."""
        full = np.floor(new / budget)
        rem = new - full * budget
        others = np.maximum(k - np.minimum(new, budget), 0.0)
        t_full = self.dep.step_seconds(d, self.c_dec, budget, self.c_pre)
        t_rem = self.dep.step_seconds(d, self.c_dec, np.minimum(budget, rem + others), self.c_pre)
        return full * t_full + np.where(rem > 0.5, t_rem, 0.0)

    def own_prefill_quantile(self, st: _State, p: float):
        """p-quantile of a request's own prefill time (its prompt at the lognormal quantile)."""
        new_p = self.new * lognormal_quantile(p, self.cv_s) if np.any(self.cv_s) else self.new
        return (self._own_prefill(st.d, new_p, st.budget, st.chunk)
                + self.dep.efficiency.request_overhead_ms * 1e-3)


def _truncated_poisson_quantile(mean, p, kmax=256):
    """Smallest k >= 1 with P(K <= k | K >= 1) >= p for K ~ Poisson(mean) (vectorised)."""
    mean, p = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(p, dtype=float))
    m = np.maximum(mean, 1e-12)
    norm = -np.expm1(-m)                       # P(K >= 1)
    term = m * np.exp(-m)                      # P(K = 1)
    cum = term.copy()
    out = np.ones(m.shape)
    done = cum >= p * norm
    for k in range(2, kmax + 1):
        term = term * m / k
        cum = cum + term
        newly = ~done & (cum >= p * norm)
        out = np.where(newly, k, out)
        done |= newly
        if done.all():
            break
    return np.where(done, out, kmax)


def _bisect(f, lo, hi, iters=80, rtol=1e-9):
    """Vectorised root of an increasing ``f`` on [lo, hi]: where ``f`` turns positive (``lo`` if
    it is positive everywhere, ``hi`` if nowhere).

    Regula falsi with the Illinois rule (the end kept twice has its value halved), with a plain
    bisection every third step, so that a jump in ``f`` (chunk counts are whole numbers) still
    converges at a steady rate and a smooth root takes a handful of evaluations. Every element
    stops when its bracket is below ``rtol`` of the first one: the search over plans runs about
    1.8x faster than the 48 bisection steps it replaces, with results equal to 1e-9."""
    lo, hi = (np.array(v, dtype=float) for v in np.broadcast_arrays(lo, hi))
    f_lo = np.broadcast_to(np.asarray(f(lo), dtype=float), lo.shape).copy()
    f_hi = np.broadcast_to(np.asarray(f(hi), dtype=float), lo.shape).copy()
    pos_lo, neg_hi = f_lo > 0, ~(f_hi > 0)             # no sign change: the answer is an end
    tol = rtol * np.maximum(hi - lo, 1e-300)
    side = np.zeros(lo.shape)                          # the end replaced last step: +1 hi, -1 lo
    for k in range(iters):
        open_ = (hi - lo > tol) & ~pos_lo & ~neg_hi
        if not open_.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        mid = (lo + hi) / 2
        x = np.where((k % 3 == 2) | ~np.isfinite(x) | (x <= lo) | (x >= hi), mid, x)
        fx = np.broadcast_to(np.asarray(f(x), dtype=float), lo.shape)
        up, down = (fx > 0) & open_, ~(fx > 0) & open_
        f_lo = np.where(up & (side == 1), f_lo / 2, f_lo)      # Illinois: lo kept twice in a row
        f_hi = np.where(down & (side == -1), f_hi / 2, f_hi)   # hi kept twice in a row
        hi, f_hi = np.where(up, x, hi), np.where(up, fx, f_hi)
        lo, f_lo = np.where(down, x, lo), np.where(down, fx, f_lo)
        side = np.where(up, 1.0, np.where(down, -1.0, side))
    return np.where(pos_lo, lo, np.where(neg_hi, hi, (lo + hi) / 2))


@dataclass(frozen=True)
class LoadResult(Report):
    """What `load` computes; arrays share the broadcast shape of the inputs.

    Times are means as a streaming client measures them (``ttft_s``, ``itl_s``, ``e2e_s``) and
    percentiles (``ttft_p99_s``, ``itl_p90_s``, ...); ``throughput_tok_s`` counts output tokens
    of the whole replica. ``batch`` is the mean number of requests inside the server (prefilling
    or decoding), ``queue`` the mean number waiting for a slot. Infeasible entries (a model or a
    sequence that does not fit, an arrival rate above capacity) have NaN times and a ``reason``.

    Attributes
    ----------
    loop : str
        ``"closed"`` (concurrency) or ``"open"`` (Poisson rate).
    offered : array
        Clients (closed loop) or requests/s (open loop).
    max_batched_tokens : int
        Token budget of one step.
    ttft_p50_s : array
        Median time to first token.
    ttft_p90_s : array
        90th-percentile time to first token.
    ttft_p99_s : array
        99th-percentile time to first token.
    itl_p50_s : array
        Median inter-token latency.
    itl_p90_s : array
        90th-percentile inter-token latency.
    itl_p99_s : array
        99th-percentile inter-token latency.
    throughput_rps : array
        Requests completed per second.
    throughput_tok_s : array
        Output tokens per second.
    capacity_rps : array
        The largest sustainable request rate of the replica.
    batch : array
        Mean sequences running.
    decode_batch : array
        Mean sequences decoding in a step.
    queue : array
        Mean requests waiting for admission.
    batch_limit : array
        The most sequences running at once (the cap, or what the KV pool holds).
    prefill_step_fraction : array
        Share of steps that carry a prompt chunk.
    prefill_time_share : array
        Share of GPU time spent on prefill.
    own_prefill_s : array
        A request's own prefill time (its chunks and the decode steps that share them).
    residual_s : array
        Wait for the step in progress when a request arrives.
    slot_wait_s : array
        Wait for a free slot in the batch (closed loop at its limit, or a full pool).
    wait_probability : array
        Probability that an arrival waits in the prefill queue.
    random_wait_s : array
        Mean wait in the prefill queue.
    bottleneck : array
        What limits the replica: ``"compute"`` or ``"bandwidth"`` in its steps, or, once its batch
        is full, ``"memory"``, ``"batch cap"`` or ``"token budget"``.
    start : str
        Closed loop: ``"staggered"`` or ``"together"``.
    """

    deployment: Deployment
    loop: str
    offered: np.ndarray               # concurrency (closed) or rate in requests/s (open)
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    max_batched_tokens: int
    ttft_s: np.ndarray
    ttft_p50_s: np.ndarray
    ttft_p90_s: np.ndarray
    ttft_p99_s: np.ndarray
    itl_s: np.ndarray
    itl_p50_s: np.ndarray
    itl_p90_s: np.ndarray
    itl_p99_s: np.ndarray
    e2e_s: np.ndarray
    throughput_rps: np.ndarray
    throughput_tok_s: np.ndarray
    capacity_rps: np.ndarray
    batch: np.ndarray
    decode_batch: np.ndarray
    queue: np.ndarray
    batch_limit: np.ndarray
    prefill_step_fraction: np.ndarray
    prefill_time_share: np.ndarray
    own_prefill_s: np.ndarray
    residual_s: np.ndarray
    slot_wait_s: np.ndarray
    wait_probability: np.ndarray
    random_wait_s: np.ndarray
    feasible: np.ndarray
    bottleneck: np.ndarray
    _reasons: np.ndarray = None
    start: str = "staggered"          # closed loop: "together" is a benchmark run with its first wave

    # quantities: ``r.ttft``, ``r.itl_p99``, ``r.throughput`` ... come from the field names (Report)
    @property
    def gpus(self):
        """GPUs of one replica (tp x pp, or ep x pp)."""
        return self.deployment.gpus

    @property
    def throughput_per_gpu_tok_s(self):
        return self.throughput_tok_s / np.asarray(self.deployment.gpus, dtype=float)

    @cached_property
    def reason(self):
        """Why an entry is infeasible (None where it is feasible): a string or an object array."""
        r = self._reasons
        return r[()] if isinstance(r, np.ndarray) and r.ndim == 0 else r

    def ttft_within(self, target_s):
        """Fraction of requests whose TTFT is at most ``target_s`` seconds (the model's distribution).

        TTFT = own prefill + residual step + fixed slot wait (closed loop) + a random wait with an
        atom at zero (probability ``1 - wait_probability``) and an exponential tail.
        """
        y = np.asarray(target_s, dtype=float) - self.own_prefill_s - self.residual_s - self.slot_wait_s
        p0, wm = np.asarray(self.wait_probability), np.asarray(self.random_wait_s)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            tail = np.where(wm > 0, p0 * np.exp(-np.maximum(y, 0) * p0 / wm), 0.0)
        out = np.where(np.asarray(self.feasible), np.where(y >= 0, 1.0 - tail, 0.0), np.nan)
        return float(out) if out.ndim == 0 else out

    def stat(self, metric: str, statistic: str = "mean"):
        """``stat("ttft", "p99")`` -> seconds (array): the named statistic of TTFT, ITL or e2e."""
        if metric not in ("ttft", "itl", "e2e"):
            raise ValueRangeError(f"metric must be 'ttft', 'itl' or 'e2e'; got {metric!r}")
        if statistic not in STATISTICS:
            raise ValueRangeError(f"statistic must be one of {', '.join(STATISTICS)}; got {statistic!r}")
        if metric == "e2e":
            if statistic != "mean":
                raise ValueRangeError("e2e is reported as a mean only")
            return self.e2e_s
        return getattr(self, f"{metric}_s" if statistic == "mean" else f"{metric}_{statistic}_s")

    def to_frame(self):
        """A tidy DataFrame: one row per configuration (ms, tokens/s, requests/s)."""
        import pandas as pd

        shape = np.broadcast(self.offered, self.prompt_tokens, self.output_tokens, self.ttft_s,
                             np.asarray(self.deployment.tp)).shape
        n = int(np.prod(shape)) if shape else 1

        def col(x):
            return np.broadcast_to(np.asarray(x), shape).reshape(n)

        d = self.deployment
        data = {"model": d.model.key, "hardware": d.hardware.key, "tp": col(d.tp).astype(int),
                "pp": d.pp, "ep": d.ep, "gpus": col(d.gpus).astype(int), "weights": d.weights, "kv": d.kv,
                ("concurrency" if self.loop == "closed" else "rate"): col(self.offered),
                "prompt_tokens": col(self.prompt_tokens).astype(int),
                "output_tokens": col(self.output_tokens).astype(int)}
        for name in ("ttft", "ttft_p50", "ttft_p90", "ttft_p99", "itl", "itl_p50", "itl_p90",
                     "itl_p99", "e2e"):
            data[f"{name}_ms"] = col(getattr(self, f"{name}_s")) * 1e3
        data["throughput_tok_s"] = col(self.throughput_tok_s)
        data["throughput_rps"] = col(self.throughput_rps)
        data["capacity_rps"] = col(self.capacity_rps)
        data["batch"] = col(self.batch)
        data["queue"] = col(self.queue)
        data["batch_limit"] = col(self.batch_limit).astype(int)
        data["bottleneck"] = col(self.bottleneck)
        data["feasible"] = col(self.feasible)
        data["reason"] = col(np.asarray(self.reason, dtype=object))
        return pd.DataFrame(data)

    def rows(self) -> list[dict]:
        """JSON-ready rows (the CLI's contract): ms and tokens/s, ``None`` where infeasible."""
        frame = self.to_frame()
        inputs = {"concurrency", "rate", "prompt_tokens", "output_tokens", "tp"}
        out = []
        for rec in frame.to_dict("records"):
            ok = bool(rec["feasible"])
            row = {}
            for k, v in rec.items():
                if isinstance(v, (float, np.floating)):
                    v = round(float(v), 4) if (ok or k in inputs) and np.isfinite(v) else None
                elif isinstance(v, np.integer):
                    v = int(v)
                elif isinstance(v, np.bool_):
                    v = bool(v)
                row[k] = v
            out.append(row)
        return out

    def __str__(self) -> str:
        d = self.deployment
        head = (f"{d.model.name} on {d.layout} ({d.weights} weights, {d.kv} KV), "
                f"{'open loop (Poisson)' if self.loop == 'open' else 'benchmark (clients start together)' if self.start == 'together' else 'closed loop'}")
        if np.ndim(self.ttft_s):
            return f"LoadResult: {head}, {np.size(self.ttft_s)} configurations (use .to_frame())"
        what = (f"{self.offered:g} concurrent clients" if self.loop == "closed"
                else f"{self.offered:g} requests/s")
        head += f": {what}, {self.prompt_tokens:,.0f} in / {self.output_tokens:,.0f} out"
        if not self.feasible:
            return f"{head}\n  INFEASIBLE: {self.reason}"
        return (f"{head}\n"
                f"  TTFT mean {self.ttft_s * 1e3:,.0f} ms, p99 {self.ttft_p99_s * 1e3:,.0f} ms | ITL mean "
                f"{self.itl_s * 1e3:,.1f} ms, p99 {self.itl_p99_s * 1e3:,.1f} ms | e2e {self.e2e_s:,.2f} s\n"
                f"  throughput {self.throughput_tok_s:,.0f} tokens/s ({self.throughput_rps:.3g} req/s of "
                f"{self.capacity_rps:.3g} capacity); {self.batch:,.1f} requests in the server "
                f"(limit {int(self.batch_limit):,}), {self.queue:,.1f} queued; bound by {self.bottleneck}")


@checked("prompt_tokens", "cached_prompt_tokens", "prompt_cv", "output_cv", "tp", "pp", "ep",
         "max_batched_tokens", "kv_allocation", "memory_utilization",
         max_batch=replace(P["max_batch"], array=True),
         concurrency=Param("int", "request", low=1, high=1e9, array=True, optional=True),
         rate=Param("real", "request/s", low=0, low_open=True, high=1e9, array=True, optional=True,
                    units=("1/s", "query/s")),
         output_tokens=Param("real", "token", low=2, high=P["output_tokens"].high, array=True),
         requests=Param("int", "request", low=1, high=1e9, array=True, optional=True),
         start=Param("choice", choices=START_MODES, help="how a closed loop's clients start"))
def load(model, hardware=None, *, concurrency=None, rate=None, prompt_tokens=512,
         output_tokens=256, prompt_cv=0.0, output_cv=0.0, cached_prompt_tokens=0, tp=1, pp=1, ep=1,
         weights="fp16", kv="fp16", max_batch=None,
         max_batched_tokens=None, kv_allocation=None, efficiency=None,
         memory_utilization=0.9, start="staggered", requests=None,
         benchmark: Benchmark | None = None) -> LoadResult:
    """Steady-state serving under a closed loop (``concurrency``) or Poisson ``rate``.

    See the module docstring for the model. Give exactly one of ``concurrency`` and ``rate``;
    they, ``prompt_tokens``, ``output_tokens``, ``cached_prompt_tokens`` and ``tp`` broadcast.

    Parameters
    ----------
    model : str, Model or Deployment
        Catalog key, `Model`, or a whole `Deployment`.
    hardware : str or Accelerator
        Catalog key or `Accelerator` (leave out with a Deployment).
    concurrency : int, array or Quantity [request]
        Closed loop: clients, each sending its next request when the last answer ends, >= 1.
    rate : float, array or Quantity [request/s]
        Open loop: Poisson arrival rate, > 0.
    prompt_tokens : int, array or Quantity [token]
        Mean prompt length, >= 1.
    output_tokens : int, array or Quantity [token]
        Mean answer length, >= 2 (an inter-token latency needs two tokens).
    prompt_cv : float
        Coefficient of variation of prompt lengths (0: fixed), >= 0.
    output_cv : float
        Coefficient of variation of answer lengths (0: fixed), >= 0.
    cached_prompt_tokens : int or array [token]
        A prompt prefix whose KV is already cached (skips prefill compute), < prompt_tokens.
    tp : int or array
        Tensor-parallel degree, as in `Deployment`.
    weights : str
        Weight precision, as in `Deployment`.
    kv : str
        KV-cache precision, as in `Deployment`.
    efficiency : Efficiency, optional
        Sustained fractions of peak; the calibrated ones by default.
    memory_utilization : float
        Fraction of each GPU's memory the engine may use, in (0, 1].
    max_batch : int or array, optional
        Cap on running sequences (vLLM ``max_num_seqs``); by default the engine's
        (`Deployment.serving_limits`: vLLM 1,024 on GPUs of 70 GiB or more, 256 on smaller ones
        and A100s; SGLang none, memory decides; TensorRT-LLM 2,048), and memory bounds it too.
    max_batched_tokens : int, optional
        Token budget of one step (vLLM ``max_num_batched_tokens``), >= 1; by default the
        engine's on this accelerator (vLLM 8,192, or 2,048 where its batch default is 256).
    kv_allocation : str, optional
        ``"paged"`` (KV blocks allocated as contexts grow, as vLLM, SGLang and lmdeploy do) or
        ``"reserved"`` (each request's whole context reserved at admission, TensorRT-LLM's
        default scheduler); by default the engine's.
    start : str
        Closed loop: ``"staggered"`` (default: a production stream, no wave) or ``"together"``
        (a benchmark: every client's first request at once; see the module docstring).
    requests : int or array, optional
        Closed loop with ``start="together"``: requests in the run, counted in the means
        (default ``10 x concurrency``, InferenceX's ``--num-prompts``), >= concurrency.
    benchmark : Benchmark, optional
        A whole benchmark run (`mlsyslab.Benchmark`): its concurrency, lengths (means and CVs),
        requests and start replace those arguments.

    Returns
    -------
    LoadResult

    Examples
    --------
    >>> r = ml.load("llama-3-8b", "h100-sxm", concurrency=[1, 64], prompt_tokens=1000, output_tokens=200)
    >>> print(r.ttft.to("ms").round(0), r.itl.to("ms").round(1))
    [50.0 81.0] ms [6.2 14.7] ms
    """
    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency,
                        memory_utilization=memory_utilization)
    max_batch, max_batched_tokens, kv_allocation = dep.serving_limits(max_batch, max_batched_tokens,
                                                                      kv_allocation)
    if benchmark is not None:
        if not isinstance(benchmark, Benchmark):
            raise ValueRangeError(f"benchmark must be an mlsyslab Benchmark; got {type(benchmark).__name__}")
        if concurrency is not None or rate is not None:
            raise ValueRangeError("give a benchmark or a concurrency / rate, not both")
        concurrency, requests, start = benchmark.concurrency, benchmark.requests, benchmark.start
        prompt_tokens, prompt_cv = benchmark.prompt.mean, benchmark.prompt.cv
        output_tokens, output_cv = benchmark.output.mean, benchmark.output.cv
    if (concurrency is None) == (rate is None):
        raise ValueRangeError("give exactly one of concurrency= (closed loop) or rate= (open loop)")
    closed = concurrency is not None
    together = closed and start == "together"
    if not closed and (start != "staggered" or requests is not None):
        raise ValueRangeError("start= and requests= describe a closed loop's clients; an open loop (rate=) "
                              "has Poisson arrivals")
    if closed:
        offered = magnitude(concurrency, "request", "concurrency", minimum=1, integer=True)
    else:
        offered = magnitude(rate, "request/s", "rate", strictly_positive=True)
    S = magnitude(prompt_tokens, "token", "prompt_tokens", minimum=1)
    N = magnitude(output_tokens, "token", "output_tokens", minimum=2)
    Sc = magnitude(cached_prompt_tokens, "token", "cached_prompt_tokens", minimum=0)
    cv_s = magnitude(prompt_cv, "", "prompt_cv", minimum=0)
    cv_n = magnitude(output_cv, "", "output_cv", minimum=0)
    M = magnitude(max_batched_tokens, "token", "max_batched_tokens", minimum=1, integer=True)
    cap = (np.inf if max_batch is None else
           magnitude(max_batch, "request", "max_batch", minimum=1, integer=True))
    if np.any(np.asarray(Sc) >= np.asarray(S)):
        raise ValueRangeError("cached_prompt_tokens must be smaller than prompt_tokens")
    TP = np.asarray(dep.tp, dtype=float)
    R = (np.asarray(10.0 * np.asarray(offered, dtype=float)) if requests is None or not together else
         magnitude(requests, "request", "requests", minimum=1, integer=True))
    if together and np.any(np.asarray(R, dtype=float) < np.asarray(offered, dtype=float)):
        raise ValueRangeError("requests must be at least the concurrency (every client sends one)")
    lam, S, N, Sc, TP, cap, R = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (offered, S, N, Sc, TP, cap, R)))
    w = _Workload(dep, S, N, Sc, cv_s, cv_n, float(M), closed)

    # the batch bound: memory, the user's cap, the token budget; requests in the server are
    # length-biased (long answers stay longer), and paged KV holds half the answer on average
    held = S + N * (1 + cv_n * cv_n) * (0.5 if kv_allocation == "paged" else 1.0)
    mem_limit = np.asarray(dep.max_batch(held, M, shared_prefix=Sc), dtype=float)
    limit = np.minimum(np.minimum(mem_limit, cap), float(M))
    fits = (limit >= 1) & np.asarray(dep.fits(1, S + N, M, shared_prefix=Sc))
    limit = np.maximum(limit, 1.0)

    # capacity: the closed loop with every slot filled
    cap_state = _solve_closed(w, limit)
    capacity = cap_state.x
    if closed:
        inside = np.minimum(lam, limit)
        st = _solve_closed(w, inside)
        x = st.x
        queue = np.maximum(lam - limit, 0.0)
        w_slot = np.where(x > 0, queue / np.maximum(x, 1e-300), 0.0)
        p_slot = (queue > 0).astype(float)
        stable = np.ones(lam.shape, dtype=bool)
    else:
        st = _solve_open(w, lam, limit)
        x = lam
        # stable only while the requests being served need fewer slots than there are: past it the
        # slot queue (M/G/c) grows without bound even where the fluid capacity is not yet reached
        stable = (lam < capacity * (1 - 1e-9)) & (st.n < limit * (1 - 1e-9))
        service = np.where(x > 0, st.n / x, 0.0)
        cv_srv2 = (cv_n * (N - 1) * st.itl / np.maximum(service, 1e-300)) ** 2
        offered_slots = np.minimum(st.n, limit * (1 - 1e-9))
        p_slot = erlang_c(limit, offered_slots)
        with np.errstate(divide="ignore", invalid="ignore"):
            w_slot = np.where(stable, p_slot / (limit / np.maximum(service, 1e-300) - lam)
                              * (1 + cv_srv2) / 2, np.inf)
        queue = lam * w_slot

    ttft = w_slot + st.residual + st.w_pre + st.own
    if together:
        wave_n = np.minimum(lam, limit)
        wave_lo, wave_hi, wave_mean = w.first_wave(wave_n)
        wave_share = wave_n / R
        rho, clumped = w.convoy(wave_n)
        ttft = wave_share * wave_mean + (1 - wave_share) * (rho * clumped + (1 - rho) * ttft)
    e2e = ttft + (N - 1) * st.itl
    if together:          # a whole run: C clients each busy for its requests' e2e (Little's law)
        x = np.where(e2e > 0, np.minimum(lam, limit) / e2e, x)
    # percentiles
    own_p = {k: w.own_prefill_quantile(st, p) for k, p in _P.items()}
    p_pre = st.rho_pre
    if closed:        # every client beyond the batch bound waits the same (FIFO, closed loop)
        fixed_wait, p_any, random_wait = w_slot, p_pre, st.w_pre
    else:
        fixed_wait, p_any, random_wait = np.zeros(lam.shape), 1 - (1 - p_pre) * (1 - p_slot), st.w_pre + w_slot
    step_wait = {k: st.residual if closed else p * 2 * st.residual for k, p in _P.items()}
    ttft_p = {k: own_p[k] + fixed_wait + _wait_quantile(p, p_any, random_wait) + step_wait[k]
              for k, p in _P.items()}
    if together:     # the wave's TTFTs spread evenly over [lo, hi]; the top (1 - p) of the run
        for k, p in _P.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                top = np.clip((1 - p) / wave_share, 0.0, 1.0)
            in_wave = wave_hi - top * (wave_hi - wave_lo)
            ttft_p[k] = np.where((1 - p) < wave_share, np.maximum(ttft_p[k], in_wave), ttft_p[k])
    itl_p = {k: w.itl_quantile(st, p) for k, p in _P.items()}
    # p99 is never reported below the mean: where fewer than 1% of gaps (or waits) are long but
    # long enough to carry the mean, the tail promise has to hold for the mean as well
    ttft_p["p99"] = np.maximum(ttft_p["p99"], ttft)
    itl_p["p99"] = np.maximum(itl_p["p99"], st.itl)

    # a result is feasible only if every time it reports is a finite, non-negative number
    times = (ttft, e2e, st.itl, *ttft_p.values(), *itl_p.values())
    sane = np.logical_and.reduce([np.isfinite(t) & (t >= 0) for t in times])
    feasible = fits & stable & sane
    full = queue > 1e-9 if closed else p_slot > 0.5
    which = np.where(limit == mem_limit, "memory", np.where(limit == cap, "batch cap", "token budget"))
    bottleneck = np.where(~fits, "memory", np.where(full, which,
                          np.where(st.compute_bound | (st.rho_pre > 0.9), "compute", "bandwidth")))
    reasons = _reasons(dep, feasible, fits, stable, S + N, held, M, lam, capacity, closed)

    nan = np.where(feasible, 1.0, np.nan)

    def out(v, mask=True):
        v = np.asarray(v, dtype=float) * (nan if mask else 1.0)
        return float(v) if v.ndim == 0 else v

    def obj(v):
        v = np.asarray(v)
        return v[()] if v.ndim == 0 else v

    return LoadResult(
        deployment=dep, loop="closed" if closed else "open", offered=out(lam, False),
        prompt_tokens=out(S, False), output_tokens=out(N, False), max_batched_tokens=int(M),
        ttft_s=out(ttft), ttft_p50_s=out(ttft_p["p50"]), ttft_p90_s=out(ttft_p["p90"]),
        ttft_p99_s=out(ttft_p["p99"]),
        itl_s=out(st.itl), itl_p50_s=out(itl_p["p50"]), itl_p90_s=out(itl_p["p90"]),
        itl_p99_s=out(itl_p["p99"]), e2e_s=out(e2e),
        throughput_rps=out(x), throughput_tok_s=out(x * N), capacity_rps=out(np.where(fits, capacity, np.nan), False),
        batch=out(st.n), decode_batch=out(st.d), queue=out(queue), batch_limit=out(np.where(fits, limit, 0), False),
        prefill_step_fraction=out(st.q),
        prefill_time_share=out(np.where(st.itl > 0, st.q * (st.t_mix - st.t_dec) / st.itl, 0.0)),
        own_prefill_s=out(st.own), residual_s=out(st.residual),
        slot_wait_s=out(fixed_wait), wait_probability=out(p_any), random_wait_s=out(random_wait),
        feasible=obj(feasible), bottleneck=obj(bottleneck),
        _reasons=obj(reasons), start="together" if together else "staggered",
    )


def _solve_closed(w: _Workload, inside) -> _State:
    """Decode occupancy ``d`` with ``n(d) = inside`` requests in the server."""
    hi = w.d_max(inside)
    d = _bisect(lambda d: w.state(d, inside).n - inside, np.zeros_like(hi), hi)
    st = w.state(d, inside, final=True)
    # prefill-saturated: more requests than the budget can turn over wait for their prompts
    short = st.n < inside * (1 - 1e-6)
    if short.any():
        extra = np.where(short & (st.x > 0), (inside - st.n) / np.maximum(st.x, 1e-300), 0.0)
        st = _State(**{**st.__dict__, "w_pre": st.w_pre + extra, "n": np.maximum(st.n, inside)})
    return st


def _solve_open(w: _Workload, rate, limit) -> _State:
    """Decode occupancy ``d`` at which the replica completes ``rate`` requests/s."""
    hi = w.d_max(limit)
    return w.state(_bisect(lambda d: w.state(d).x - rate, np.zeros_like(hi), hi), final=True)


def _reasons(dep, feasible, fits, stable, context, held, M, lam, capacity, closed):
    out = np.full(np.shape(feasible), None, dtype=object)
    if np.all(feasible):
        return out
    mem = np.broadcast_to(dep.memory_reasons(1, context, M), out.shape) if not np.all(fits) else None
    held = np.broadcast_to(held, out.shape)
    for i in zip(*np.nonzero(~np.asarray(feasible))) if out.ndim else [()]:
        if not fits[i]:
            out[i] = mem[i] or (
                f"a request holds {float(held[i]):,.0f} tokens of KV on average while it is served (long "
                f"answers stay longest, so the mean grows with the spread of answer lengths), more than "
                f"the KV pool of {dep.model.name} on {dep.hardware.name} holds; shorten the answers, "
                f"narrow their spread, or use more GPUs")
        elif not stable[i] and lam[i] >= capacity[i]:
            out[i] = (f"overloaded: {lam[i]:.3g} requests/s is more than this replica's capacity of "
                      f"{capacity[i]:.3g} requests/s, so the queue grows without bound; add replicas")
        elif not stable[i]:
            out[i] = (f"saturated: at {lam[i]:.3g} requests/s ({lam[i] / capacity[i]:.1%} of this replica's "
                      f"capacity of {capacity[i]:.3g} requests/s) every slot is busy and the queue for one "
                      f"grows without bound; run it further from capacity or add replicas")
        else:
            out[i] = "no steady state (a wait is unbounded)"
    return out
