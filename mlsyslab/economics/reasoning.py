r"""Inference-time reasoning: what thinking costs per query, built on the serving model.

Every strategy is a sequence of *phases*, each one a call of `mlsyslab.serve`, so the
context that grows with every thinking token raises the ITL exactly as it does in serving.

Strategies (``P`` prompt tokens, ``K`` steps of ``T`` tokens, ``A`` answer tokens, ``c``
concurrent queries sharing the replica):

    cot          one sequence:            tokens = K*T + A
                 latency = TTFT(P) + (K*T + A - 1) * ITL(c, context P -> P + K*T + A)
    best-of-n    N samples of K*T + A:    tokens = N * (K*T + A)
                 parallel: one prefill, N sequences decoded together (batch N*c), the prompt's
                           KV shared: peak KV = (P + N*(K*T + A)) tokens
                 series:   N runs one after another, the prompt cached after the first
    tree         beam search of depth K (= steps), branching b, beam w, T tokens per node:
                 tokens = K*w*b*T + A; each level decodes w*b branches together; the peak of
                 live partial states is w*b, peak KV = w*b*(P + K*T) tokens (no prefix sharing
                 between branches: an upper bound; radix-tree sharing lowers it)
    verify       R (= steps) rounds: the generator writes T tokens, the verifier reads them
                 (prefix cached) and writes V verdict tokens; then the answer.

Per query:

    GPU-seconds = sum over phases of duration * tp / c
    energy      = GPU-seconds * TDP * power_fraction * PUE

Assumptions: accelerators draw ``power_fraction`` x TDP while busy and the data centre's
``PUE`` multiplies it, both defaulting to the values the TCO uses (``pricing.toml``, with their
sources: `PRICING_DEFAULTS`), so a query's energy and the fleet's power bill agree; host CPUs,
networking and idle time are not counted. The *multiplier* is every quantity divided by the same strategy at one
step (and one sample): a first-class output, because that is the number a budget meets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalog.models import model as _model
from ..engine.deployment import Efficiency, as_deployment
from ..engine.kv import kv_bytes_per_token
from ..engine.serving import decode_step, serve
from ..params import Param, checked, one
from ..report import Report
from ..units import magnitude, quantity
from .tco import PRICING_DEFAULTS

__all__ = ["reason", "sweep_steps", "ReasoningResult", "STRATEGIES"]

DEFAULT_PUE = PRICING_DEFAULTS["pue"]
"""The data centre's power usage effectiveness the TCO uses (``pricing.toml``, with its source)."""
DEFAULT_POWER_FRACTION = PRICING_DEFAULTS["gpu_power_fraction"]
"""The fraction of TDP a GPU draws while serving, as the TCO assumes (``pricing.toml``)."""

STRATEGIES = ("cot", "best-of-n", "tree", "verify")


@dataclass(frozen=True)
class _Phase:
    name: str
    duration_s: float
    gpus: int
    tdp_w: float
    feasible: bool
    reason: str | None


@dataclass(frozen=True)
class ReasoningResult(Report):
    """Per-query cost of one reasoning strategy (see `reason`).

    Attributes
    ----------
    strategy : str
        The strategy: ``"cot"``, ``"best-of-n"``, ``"tree"`` or ``"verify"``.
    steps : int
        Reasoning steps K.
    samples : int
        Samples drawn (best-of-n).
    concurrency : int
        Queries served at once on the replica.
    tokens_generated : float
        Tokens generated for one query, every chain and verdict included.
    ttft_s : float
        Time until the first token of the answer the user sees.
    latency_s : float
        Time until the whole answer is out.
    itl_start_s : float
        Inter-token latency at the start of the chain.
    itl_end_s : float
        Inter-token latency at its end, once the context has grown.
    peak_live_sequences : int
        The most sequences decoding at once for one query.
    peak_kv_bytes : float
        The most KV memory one query holds at once.
    gpu_seconds : float
        GPU time one query costs (the replica's time, shared over ``concurrency``).
    energy_j : float
        Energy of one query at the wall (PUE included).
    multiplier : float
        GPU time against one direct answer (K=1, one sample).
    latency_multiplier : float
        Latency against one direct answer.
    token_multiplier : float
        Tokens against one direct answer.
    phases : tuple
        The phases of the query in order (prefill, reasoning, verification, answer) with their times.
    """

    strategy: str
    model: str
    hardware: str
    tp: int
    steps: int
    samples: int
    concurrency: int
    tokens_generated: float
    ttft_s: float
    latency_s: float
    itl_start_s: float
    itl_end_s: float
    peak_live_sequences: int
    peak_kv_bytes: float
    gpu_seconds: float
    energy_j: float
    feasible: bool
    reason: str | None
    multiplier: float            # GPU-seconds (cost) against one step / one sample
    latency_multiplier: float
    token_multiplier: float
    phases: tuple = field(default=(), repr=False)
    pp: int = 1
    ep: int = 1

    @property
    def gpus(self) -> int:
        """GPUs of the replica: tp x pp (ep x pp with expert parallelism)."""
        return (self.ep if self.ep > 1 else self.tp) * self.pp

    @property
    def latency(self):
        return quantity(self.latency_s, "s")

    @property
    def ttft(self):
        return quantity(self.ttft_s, "s").to("ms")

    @property
    def energy(self):
        return quantity(self.energy_j, "J")

    @property
    def peak_kv(self):
        return quantity(self.peak_kv_bytes, "byte").to("GB")

    def summary(self) -> dict:
        ok = self.feasible

        def num(x, nd=4):
            return round(float(x), nd) if ok else None

        return {
            "strategy": self.strategy, "model": self.model, "gpu": self.hardware, "tp": self.tp,
            "pp": self.pp, "ep": self.ep, "steps": self.steps, "samples": self.samples, "concurrency": self.concurrency,
            "feasible": ok, "reason": self.reason,
            "tokens_generated": int(round(self.tokens_generated)),
            "ttft_ms": num(self.ttft_s * 1e3, 2), "latency_ms": num(self.latency_s * 1e3, 2),
            "itl_start_ms": num(self.itl_start_s * 1e3), "itl_end_ms": num(self.itl_end_s * 1e3),
            "energy_j": num(self.energy_j, 2), "peak_kv_gb": round(self.peak_kv_bytes / 1e9, 4),
            "peak_live_sequences": self.peak_live_sequences,
            "gpu_seconds": num(self.gpu_seconds, 4), "multiplier": num(self.multiplier, 3),
            "latency_multiplier": num(self.latency_multiplier, 3),
            "token_multiplier": round(self.token_multiplier, 3),
        }

    def __str__(self) -> str:
        split = "".join(f" x {n}={v}" for n, v in (("pp", self.pp), ("ep", self.ep)) if v > 1)
        where = f"{self.tp} x {self.hardware}" if not split else f"{self.gpus} x {self.hardware} as tp={self.tp}{split}"
        head = (f"{self.strategy} on {self.model} ({where}), steps={self.steps}"
                f"{f', samples={self.samples}' if self.samples > 1 else ''}, concurrency {self.concurrency}")
        if not self.feasible:
            return f"{head}\n  INFEASIBLE: {self.reason}"
        return (f"{head}\n"
                f"  {self.tokens_generated:,.0f} tokens generated; latency {self.latency_s:,.2f} s "
                f"(TTFT {self.ttft_s * 1e3:,.0f} ms); ITL {self.itl_start_s * 1e3:.2f} -> {self.itl_end_s * 1e3:.2f} ms\n"
                f"  {self.gpu_seconds:,.3f} GPU-s and {self.energy_j / 1e3:,.2f} kJ per query; peak KV "
                f"{self.peak_kv_bytes / 1e9:,.2f} GB in {self.peak_live_sequences} live sequences\n"
                f"  x{self.multiplier:.2f} cost, x{self.latency_multiplier:.2f} latency, "
                f"x{self.token_multiplier:.2f} tokens against one step")



def _phase(name, r, duration) -> _Phase:
    ok = bool(r.feasible)
    return _Phase(name, float(duration) if ok else float("nan"), r.gpus, r.hardware.tdp_w, ok,
                  None if ok else r.reason)


def _run(strategy, m, hw, *, steps, T, P, A, n, parallel, b, w, v, verifier, c, common):
    """Phases, tokens, peak live sequences and KV tokens of one query."""
    phases = []
    if strategy == "cot":
        r = serve(m, hw, batch=c, prompt_tokens=P, output_tokens=steps * T + A, **common)
        phases.append(_phase("think+answer", r, r.e2e_s))
        return phases, steps * T + A, 1, P + steps * T + A, P + steps * T + A
    if strategy == "best-of-n":
        L = steps * T + A
        if parallel:
            pre = serve(m, hw, batch=c, prompt_tokens=P, output_tokens=1, **common)
            # the n samples of a query share its prompt's KV (prefix caching): one copy per query
            dec = serve(m, hw, batch=n * c, prompt_tokens=P, output_tokens=L, cached_prompt_tokens=P - 1,
                        prefix_group=n, **common)
            phases.append(_phase("prefill", pre, pre.ttft_s))
            phases.append(_phase(f"{n} samples", dec, (L - 1) * dec.itl_s))
            return phases, n * L, n, P + n * L, P + L
        first = serve(m, hw, batch=c, prompt_tokens=P, output_tokens=L, **common)
        phases.append(_phase("sample 1", first, first.e2e_s))
        if n > 1:
            rest = serve(m, hw, batch=c, prompt_tokens=P, output_tokens=L,
                         cached_prompt_tokens=P - 1, prefix_group=1, **common)
            phases.append(_phase(f"samples 2-{n}", rest, (n - 1) * rest.e2e_s))
        return phases, n * L, 1, P + L, P + L
    if strategy == "tree":
        width = b * w
        pre = serve(m, hw, batch=c, prompt_tokens=P, output_tokens=1, **common)
        phases.append(_phase("prefill", pre, pre.ttft_s))
        for level in range(steps):
            r = serve(m, hw, batch=width * c, prompt_tokens=P + level * T, output_tokens=T + 1,
                      cached_prompt_tokens=P + level * T - 1, prefix_group=1, **common)
            phases.append(_phase(f"level {level + 1}", r, T * r.itl_s))
        ans = serve(m, hw, batch=c, prompt_tokens=P + steps * T, output_tokens=A + 1,
                    cached_prompt_tokens=P + steps * T - 1, prefix_group=1, **common)
        phases.append(_phase("answer", ans, A * ans.itl_s))
        return phases, steps * width * T + A, width, width * (P + steps * T), P + steps * T + A
    # verify
    ctx = P
    pre = serve(m, hw, batch=c, prompt_tokens=P, output_tokens=1, **common)
    phases.append(_phase("prefill", pre, pre.ttft_s))
    for rnd in range(steps):
        g = serve(m, hw, batch=c, prompt_tokens=ctx, output_tokens=T + 1, cached_prompt_tokens=ctx - 1,
                  prefix_group=1, **common)
        phases.append(_phase(f"generate {rnd + 1}", g, T * g.itl_s))
        ver = serve(verifier, hw, batch=c, prompt_tokens=ctx + T, output_tokens=v,
                    cached_prompt_tokens=ctx if rnd else 0, prefix_group=1,
                    **(common if verifier.is_moe else {**common, "ep": 1}))
        phases.append(_phase(f"verify {rnd + 1}", ver, ver.e2e_s))
        ctx += T + v
    ans = serve(m, hw, batch=c, prompt_tokens=ctx, output_tokens=A + 1, cached_prompt_tokens=ctx - 1,
                prefix_group=1, **common)
    phases.append(_phase("answer", ans, A * ans.itl_s))
    return phases, steps * (T + v) + A, 1, ctx + A, ctx + A


@checked("steps", "tokens_per_step", "answer_tokens", "samples", "branching", "beam", "verifier_tokens",
         "pue", "power_fraction", "pp", "ep", tp=one("tp"),
         prompt_tokens=Param("int", "token", low=1, high=1e7),
         concurrency=Param("int", "request", low=1, high=1e6),
         strategy=Param("choice", choices=("cot", "best-of-n", "tree", "verify")),
         parallel=Param("bool"))
def reason(model, hardware=None, *, strategy: str = "cot", steps=1, tokens_per_step=256,
           prompt_tokens=512, answer_tokens=256, samples: int = 1, parallel: bool = True,
           branching: int = 2, beam: int = 1, verifier=None, verifier_tokens=32,
           concurrency: int = 1, tp: int = 1, pp: int = 1, ep: int = 1, weights: str = "fp16",
           kv: str = "fp16", efficiency: Efficiency | None = None,
           pue: float = DEFAULT_PUE, power_fraction: float = DEFAULT_POWER_FRACTION,
           _baseline: bool = True) -> ReasoningResult:
    """Cost of one query under an inference-time-compute strategy; see the module docstring.

    Parameters
    ----------
    model : str, Model or Deployment
        The reasoning model (a whole `Deployment` fixes hardware, tp and precisions).
    hardware : str or Accelerator
        The accelerator (leave out with a Deployment); ``tp``, ``weights`` and ``kv`` are as in `serve`.
    strategy : str
        ``"cot"``, ``"best-of-n"``, ``"tree"`` or ``"verify"``.
    steps : int
        Reasoning steps K (the tree's depth; the verification rounds), >= 1.
    tokens_per_step : int [token]
        Tokens T per step (per tree node; per generator turn).
    prompt_tokens : int [token]
        P, the prompt.
    answer_tokens : int [token]
        A, the answer written after the reasoning.
    samples : int
        N for best-of-n.
    parallel : bool
        Decode the N samples together (True) or one after another.
    branching : int
        Tree search branching factor b.
    beam : int
        Tree search beam width w.
    verifier : str or Model, optional
        The verifier model (defaults to ``model``); it writes ``verifier_tokens`` per verdict.
    concurrency : int [request]
        Queries served together on the replica (they share its GPU-seconds).
    tp : int
        Tensor-parallel degree, as in `Deployment`.
    pp : int
        Pipeline stages, as in `Deployment` (GPU-seconds count every stage's GPUs).
    ep : int
        Expert-parallel degree for an MoE model, as in `Deployment`.
    pue : float
        Power usage effectiveness, >= 1 (default: the TCO's, ``PRICING_DEFAULTS["pue"]``).
    power_fraction : float
        Fraction of TDP drawn while busy, in (0, 1] (default: the TCO's ``gpu_power_fraction``).

    Examples
    --------
    >>> r = ml.reason("llama-3-8b", "h100-sxm", strategy="cot", steps=8)
    >>> round(r.token_multiplier, 1), round(r.latency_multiplier, 1)
    (4.5, 4.5)
    """
    K = int(magnitude(steps, "", "steps", minimum=1, integer=True))
    T = int(magnitude(tokens_per_step, "token", "tokens_per_step", minimum=1, integer=True))
    P = int(magnitude(prompt_tokens, "token", "prompt_tokens", minimum=1, integer=True))
    A = int(magnitude(answer_tokens, "token", "answer_tokens", minimum=1, integer=True))
    n = int(magnitude(samples, "", "samples", minimum=1, integer=True))
    b = int(magnitude(branching, "", "branching", minimum=1, integer=True))
    w = int(magnitude(beam, "", "beam", minimum=1, integer=True))
    v = int(magnitude(verifier_tokens, "token", "verifier_tokens", minimum=1, integer=True))
    c = int(magnitude(concurrency, "request", "concurrency", minimum=1, integer=True))
    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency)
    m, hw = dep.model, dep.hardware
    ver = _model(verifier) if verifier is not None else m
    common = dict(tp=dep.tp, pp=dep.pp, ep=dep.ep, weights=dep.weights, kv=dep.kv, efficiency=dep.efficiency)

    phases, tokens, live, kv_tokens, final_ctx = _run(
        strategy, m, hw, steps=K, T=T, P=P, A=A, n=n, parallel=parallel, b=b, w=w, v=v,
        verifier=ver, c=c, common=common)
    feasible = all(p.feasible for p in phases)
    why = next((p.reason for p in phases if not p.feasible), None)
    latency = sum(p.duration_s for p in phases)
    ttft = phases[0].duration_s if strategy != "cot" else serve(
        m, hw, batch=c, prompt_tokens=P, output_tokens=1, **common).ttft_s
    gpu_s = sum(p.duration_s * p.gpus / c for p in phases)
    energy = gpu_s * hw.board_power_w() * power_fraction * pue
    kv_per_tok = kv_bytes_per_token(m, kv).magnitude
    step_width = {"best-of-n": n if parallel else 1, "tree": b * w}.get(strategy, 1) * c
    itl = [decode_step(m, hw, batch=step_width, context=ctx, **common)["step"].to("s").magnitude
           for ctx in (P, final_ctx)]

    if _baseline:
        base = reason(m, hw, strategy=strategy, steps=1, tokens_per_step=T, prompt_tokens=P,
                      answer_tokens=A, samples=1, parallel=parallel, branching=b, beam=w,
                      verifier=ver, verifier_tokens=v, concurrency=c, pue=pue,
                      power_fraction=power_fraction, _baseline=False, **common)
        mult = (gpu_s / base.gpu_seconds, latency / base.latency_s, tokens / base.tokens_generated)
    else:
        mult = (1.0, 1.0, 1.0)
    nan = 1.0 if feasible else float("nan")
    return ReasoningResult(
        strategy=strategy, model=m.key, hardware=hw.key, tp=int(dep.tp), pp=dep.pp, ep=dep.ep, steps=K, samples=n,
        concurrency=c, tokens_generated=float(tokens), ttft_s=ttft * nan, latency_s=latency * nan,
        itl_start_s=itl[0] * nan, itl_end_s=itl[1] * nan, peak_live_sequences=live * c,
        peak_kv_bytes=float(kv_tokens * c * kv_per_tok), gpu_seconds=gpu_s * nan,
        energy_j=energy * nan, feasible=feasible, reason=why, multiplier=mult[0] * nan,
        latency_multiplier=mult[1] * nan, token_multiplier=mult[2], phases=tuple(phases),
    )


def sweep_steps(model, hardware, steps, **kwargs):
    """`reason` for each K in ``steps``, as a tidy DataFrame (one row per K).

    Parameters
    ----------
    model : str, Model or Deployment
        What to serve.
    hardware : str or Accelerator
        The accelerator.
    steps : sequence of int
        The reasoning steps K to try.
    **kwargs
        Any other argument of `reason`.

    Returns
    -------
    pandas.DataFrame
        One row per K: the fields of `ReasoningResult`.

    Examples
    --------
    >>> df = ml.sweep_steps("llama-3-8b", "h100-sxm", [1, 4, 16])
    >>> print(df[["steps", "tokens_generated"]].to_string(index=False))
     steps  tokens_generated
         1               512
         4              1280
        16              4352
    """
    import pandas as pd

    rows = [reason(model, hardware, steps=int(k), **kwargs).summary() for k in np.atleast_1d(steps)]
    return pd.DataFrame(rows)
