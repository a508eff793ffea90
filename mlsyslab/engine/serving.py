r"""Serving a batch that starts together: prefill (compute-bound) then decode (bandwidth-bound).

``B`` requests of ``S`` prompt tokens and ``N`` output tokens start together on one replica (a
*static* batch, as ``gptSessionBenchmark`` or ``vllm bench latency`` measure it). With the
deployment's forward-pass time ``t_step(d, c_d, p, c_p)`` (`mlsyslab.engine.deployment`):

    TTFT = t_step(d=0, p = B (S - S_c), c_p = (S + S_c) / 2)     one pass over every prompt
           + t_request                                            (admission, tokenising)
           (with pipeline stages, the fill and drain of that pass: Deployment.prefill_latency)
    ITL  = t_step(d=B, c_d = S + N/2, p=0)                        the mean over the decode steps
    e2e  = TTFT + (N - 1) ITL,      throughput = B N / e2e        (output tokens/s of the replica)

``S_c`` prompt tokens may be a cached prefix whose KV is reused: they skip prefill compute and
are read by every decode step. The sequences share it: paged engines map every sequence's
prefix to the same blocks, so its KV is stored once per ``prefix_group`` sequences (once for
the whole batch by default; best-of-N shares each prompt among its N samples). The ITL is exact for the mean: a decode step is
linear in the context, which grows from ``S`` to ``S + N - 1``.

Memory: weights, workspace and the KV of ``B`` sequences at ``S + N`` tokens must fit in
``memory_utilization`` of each GPU. A configuration that does not fit is *infeasible*: its times
are NaN, its ``reason`` says why and what would fit, and nothing downstream costs it.

A server under traffic (continuous batching, streaming clients, queues) is `mlsyslab.load`;
this static batch is what it reduces to when every request starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..catalog.hardware import Accelerator
from ..catalog.models import Model
from ..catalog.precision import math_precision
from ..errors import ValueRangeError
from ..params import Param, checked
from ..report import Report
from ..units import magnitude, quantity
from .deployment import (
    DEFAULT_EFFICIENCY,
    Deployment,
    Efficiency,
    as_deployment,
)

__all__ = ["Efficiency", "ServingResult", "serve", "decode_step", "prefill_seconds",
           "arithmetic_intensity", "DEFAULT_EFFICIENCY"]

GB = 1e9


@checked("batch", "context", "tp", "pp", "ep", "memory_utilization")
def decode_step(model, hardware=None, *, batch=1, context=1024, tp=1, pp=1, ep=1, weights="fp16", kv="fp16",
                efficiency: Efficiency | None = None, memory_utilization=0.9) -> dict:
    """Time of one decode step at ``batch`` sequences of ``context`` tokens, by component.

    Returns a dict of quantities in ms: ``memory`` (all bytes over the bandwidth) and ``compute``
    (all FLOPs over the FLOP rate), then the step's parts: ``weights`` (the linear layers'
    roofline: weight reads or their FLOPs, whichever is longer), ``attention`` (its own roofline,
    KV reads for GQA), ``communication``, ``overhead`` and ``step`` (the sum of the parts); plus
    ``compute_bound`` and ``fits`` (whether that batch and context fit in memory).

    Examples
    --------
    >>> step = ml.decode_step("llama-3-70b", "h100-sxm", batch=32, context=2048, tp=4)
    >>> sorted(step)[:3]
    ['attention', 'communication', 'compute']
    """
    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency,
                        memory_utilization=memory_utilization)
    b = magnitude(batch, "request", "batch", strictly_positive=True)
    c = magnitude(context, "token", "context", minimum=0)
    st = dep.step_time(decode_tokens=b, decode_context=c)

    def ms(x):
        return quantity(np.asarray(x, dtype=float), "s").to("ms")

    return {
        "memory": ms(st.linear_memory_s + st.attention_memory_s),
        "compute": ms(st.linear_compute_s + st.attention_compute_s),
        "weights": ms(np.maximum(st.linear_memory_s, st.linear_compute_s)),
        "attention": ms(st.attention_s),
        "communication": ms(st.communication_s),
        "overhead": ms(st.overhead_s),
        "step": ms(st.total_s),
        "compute_bound": st.compute_bound,
        "fits": dep.fits(b, c),
    }


def prefill_seconds(deployment: Deployment, batch, prompt_tokens, cached_prompt_tokens=0):
    """Time to the first token of a batch whose prompts are prefilled together (arrays broadcast).

    One forward pass over ``B (S - S_c)`` tokens attending to ``(S + S_c) / 2`` earlier tokens on
    average (with a pipeline, its fill and drain: `Deployment.prefill_latency`), plus the
    per-request overhead: the TTFT of `serve`. No memory check.
    """
    B, S, Sc = (np.asarray(x, dtype=float) for x in (batch, prompt_tokens, cached_prompt_tokens))
    pre = deployment.prefill_latency(B * (S - Sc), (S + Sc) / 2, B)
    return pre + deployment.efficiency.request_overhead_ms * 1e-3


@checked("tokens", "context")
def arithmetic_intensity(model, *, tokens, context=0, weights: str = "fp16", kv: str = "fp16"):
    """FLOPs per byte moved by one forward pass over ``tokens`` tokens (at ``context`` each).

    ``(2 P_active tokens + attention) / (weights read + KV read)``: about ``tokens`` FLOP/byte
    for fp16 weights and short contexts. Prefill of S tokens is ~S; a decode step at batch B
    is ~B, which is why decode sits far left of an accelerator's ridge point.

    Returns
    -------
    Quantity [FLOP/byte]
        FLOPs per byte moved.

    Examples
    --------
    >>> [round(ml.arithmetic_intensity("llama-3-8b", tokens=t).m) for t in (1, 64, 2048)]
    [1, 64, 2048]
    """
    dep = Deployment(model, "h100-sxm", weights=weights, kv=kv)  # hardware does not enter the ratio
    t = magnitude(tokens, "token", "tokens", strictly_positive=True)
    c = magnitude(context, "token", "context", minimum=0)
    flops = t * (dep.flops_per_token + dep.attention_flops_per_context_token * c)
    moved = dep.weights_read_bytes(t) + t * dep.kv_bytes_per_sequence(c)
    return quantity(flops / moved, "flop/byte")


# --- the result ------------------------------------------------------------------------------

_COLUMNS = {  # column name -> (attribute, unit to print)
    "ttft_ms": ("ttft_s", 1e3),
    "itl_ms": ("itl_s", 1e3),
    "e2e_ms": ("e2e_s", 1e3),
    "throughput_tok_s": ("throughput_tok_s", 1.0),
    "throughput_per_gpu_tok_s": ("throughput_per_gpu_tok_s", 1.0),
    "memory_per_gpu_gb": ("memory_per_gpu_bytes", 1e-9),
    "memory_fraction": ("memory_fraction", 1.0),
    "mfu": ("mfu", 1.0),
}


@dataclass(frozen=True)
class ServingResult(Report):
    """What `serve` computes. Arrays share the broadcast shape of the inputs.

    Magnitudes are stored in SI units (``*_s``, ``*_bytes``); the properties without a suffix
    (``ttft``, ``itl``, ``e2e``, ``throughput``, ``memory_per_gpu``) return pint quantities.
    Infeasible entries have NaN times; ``reason`` explains them.

    Attributes
    ----------
    ttft_s : array
        Time to first token of a batch that starts together (its whole prefill).
    itl_s : array
        Mean inter-token latency over the answer.
    e2e_s : array
        Time until the last token.
    throughput_tok_s : array
        Output tokens per second of the replica.
    throughput_per_gpu_tok_s : array
        Output tokens per second per GPU.
    memory_per_gpu_bytes : array
        Weights and KV per GPU at the batch's longest context.
    memory_fraction : array
        ``memory_per_gpu`` as a share of the GPU's whole memory.
    weights_per_gpu_bytes : float
        Weight bytes per GPU.
    kv_per_gpu_bytes : array
        KV bytes per GPU.
    decode_memory_bound : array
        True where a decode step is limited by memory bandwidth.
    prefill_compute_bound : array
        True where prefill is limited by compute.
    mfu : array
        Model FLOP utilisation of decode: the FLOPs done over the peak.
    prefix_group : int or None
        Sequences that share one cached prefix (its KV stored once).
    """

    model: Model
    hardware: Accelerator
    tp: int
    weights: str
    kv: str
    efficiency: Efficiency
    batch: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    cached_prompt_tokens: np.ndarray
    ttft_s: np.ndarray
    itl_s: np.ndarray
    e2e_s: np.ndarray
    throughput_tok_s: np.ndarray
    throughput_per_gpu_tok_s: np.ndarray
    memory_per_gpu_bytes: np.ndarray
    memory_fraction: np.ndarray
    weights_per_gpu_bytes: float
    kv_per_gpu_bytes: np.ndarray
    feasible: np.ndarray
    decode_memory_bound: np.ndarray
    prefill_compute_bound: np.ndarray
    mfu: np.ndarray
    deployment: Deployment = None
    prefix_group: int | None = None

    # quantities ----------------------------------------------------------------------------
    @property
    def ttft(self):
        return quantity(self.ttft_s, "s").to("ms")

    @property
    def itl(self):
        return quantity(self.itl_s, "s").to("ms")

    tpot = itl

    @property
    def e2e(self):
        return quantity(self.e2e_s, "s")

    @property
    def throughput(self):
        return quantity(self.throughput_tok_s, "token/s")

    @property
    def throughput_per_gpu(self):
        return quantity(self.throughput_per_gpu_tok_s, "token/s")

    @property
    def memory_per_gpu(self):
        return quantity(self.memory_per_gpu_bytes, "byte").to("GB")

    @property
    def gpus(self):
        """GPUs of one replica (tp x pp, or ep x pp)."""
        return self.deployment.gpus

    @property
    def bottleneck(self):
        """Which ceiling binds a decode step: 'memory bandwidth' or 'compute'."""
        out = np.where(self.decode_memory_bound, "memory bandwidth", "compute")
        return str(out) if out.ndim == 0 else out

    @cached_property
    def reason(self):
        """Why an entry is infeasible (``None`` where it fits); a string or an object array."""
        d = self.deployment
        bad = ~np.asarray(self.feasible)
        if not bad.any():
            return None if bad.ndim == 0 else np.full(bad.shape, None, dtype=object)
        ctx = np.asarray(self.prompt_tokens) + np.asarray(self.output_tokens)
        return d.memory_reasons(self.batch, ctx, shared_prefix=self.cached_prompt_tokens,
                                prefix_group=self.prefix_group)

    @property
    def all_feasible(self) -> bool:
        return bool(np.all(self.feasible))

    def to_frame(self):
        """A tidy DataFrame: one row per configuration, inputs then outputs (ms, GB, tokens/s)."""
        import pandas as pd

        shape = np.broadcast(self.batch, self.prompt_tokens, self.output_tokens, self.ttft_s,
                             np.asarray(self.tp)).shape
        n = int(np.prod(shape)) if shape else 1

        def col(x):
            return np.broadcast_to(np.asarray(x), shape).reshape(n)

        data = {
            "model": self.model.key, "hardware": self.hardware.key, "tp": col(self.tp).astype(int),
            "pp": self.deployment.pp, "ep": self.deployment.ep, "gpus": col(self.gpus).astype(int),
            "weights": self.weights, "kv": self.kv,
            "batch": col(self.batch).astype(int), "prompt_tokens": col(self.prompt_tokens).astype(int),
            "output_tokens": col(self.output_tokens).astype(int),
        }
        for name, (attr, scale) in _COLUMNS.items():
            data[name] = col(getattr(self, attr)) * scale
        data["bottleneck"] = col(np.where(self.decode_memory_bound, "memory bandwidth", "compute"))
        data["feasible"] = col(self.feasible)
        frame = pd.DataFrame(data)
        if not self.all_feasible:
            frame["reason"] = col(self.reason) if np.ndim(self.reason) else self.reason
        else:
            frame["reason"] = None
        return frame

    def summary(self) -> dict:
        """Scalar results as a JSON-ready dict (the CLI's contract)."""
        if np.ndim(self.ttft_s) != 0:
            raise ValueRangeError("summary() is for a single configuration; use to_frame() for sweeps")
        ok = bool(self.feasible)

        def num(x, scale=1.0, nd=4):
            return None if not ok else round(float(x) * scale, nd)

        return {
            "model": self.model.key, "gpu": self.hardware.key, "tp": int(self.tp),
            "pp": self.deployment.pp, "ep": self.deployment.ep, "gpus": int(self.gpus),
            "batch": int(self.batch), "prompt_tokens": int(self.prompt_tokens),
            "output_tokens": int(self.output_tokens), "weights": self.weights, "kv": self.kv,
            "feasible": ok, "reason": None if ok else self.reason,
            "ttft_ms": num(self.ttft_s, 1e3), "itl_ms": num(self.itl_s, 1e3),
            "e2e_ms": num(self.e2e_s, 1e3), "throughput_tok_s": num(self.throughput_tok_s, 1, 2),
            "memory_per_gpu_gb": round(float(self.memory_per_gpu_bytes) / GB, 3),
            "memory_fraction": round(float(self.memory_fraction), 4),
            "bottleneck": self.bottleneck,
        }

    def __str__(self) -> str:
        if np.ndim(self.ttft_s):
            return f"ServingResult: {self.model.name} on {self.deployment.layout}, {np.size(self.ttft_s)} configurations (use .to_frame())"
        head = (f"{self.model.name} on {self.deployment.layout} ({self.weights} weights, "
                f"{self.kv} KV), batch {int(self.batch)}, {int(self.prompt_tokens)} in / "
                f"{int(self.output_tokens)} out")
        if not self.feasible:
            return f"{head}\n  INFEASIBLE: {self.reason}"
        return (f"{head}\n"
                f"  TTFT {self.ttft_s * 1e3:,.1f} ms | ITL {self.itl_s * 1e3:,.2f} ms | "
                f"end-to-end {self.e2e_s:,.2f} s\n"
                f"  throughput {self.throughput_tok_s:,.0f} tokens/s ({self.throughput_per_gpu_tok_s:,.0f} per GPU), "
                f"decode bound by {self.bottleneck}, MFU {self.mfu:.1%}\n"
                f"  memory per GPU {self.memory_per_gpu_bytes / GB:,.1f} GB of {self.hardware.memory_gb:,.1f} GB "
                f"({self.memory_fraction:.0%})")




# --- the model -------------------------------------------------------------------------------

@checked("batch", "prompt_tokens", "output_tokens", "cached_prompt_tokens", "tp", "pp", "ep",
         "memory_utilization", prefix_group=Param("int", "request", low=1, high=1e9, optional=True))
def serve(model, hardware=None, *, batch=1, prompt_tokens=512, output_tokens=256, tp=1, pp=1, ep=1,
          weights="fp16", kv="fp16", cached_prompt_tokens=0, prefix_group=None,
          efficiency: Efficiency | None = None, memory_utilization=0.9) -> ServingResult:
    """Serve ``batch`` requests that start together on one replica; see the module docstring.

    ``batch``, ``prompt_tokens``, ``output_tokens``, ``cached_prompt_tokens`` (and ``tp``)
    broadcast against each other like numpy arrays, so one call evaluates a whole grid.

    Parameters
    ----------
    model : str, Model or Deployment
        Catalog key (``"llama-3-70b"``), a `Model`, or a whole
        `Deployment` (then leave out ``hardware`` and the keywords after ``tp``).
    hardware : str or Accelerator
        Catalog key (``"h100-sxm"``) or an `Accelerator`.
    batch : int, array or Quantity [request]
        Sequences that start together ``B``, > 0.
    prompt_tokens : int, array or Quantity [token]
        Prompt length ``S``, >= 1.
    output_tokens : int, array or Quantity [token]
        Generated tokens ``N``, >= 1.
    tp : int or array
        Tensor-parallel degree: divides the head count, at most the GPUs of one server.
    weights : str
        Weight precision: ``"fp16"``, ``"bf16"``, ``"fp8"``, ``"int8"`` or ``"int4"``.
    kv : str
        KV-cache precision: ``"fp16"``, ``"bf16"`` or ``"fp8"``.
    cached_prompt_tokens : int, array or Quantity [token]
        Prompt prefix whose KV is reused from a prefix cache (< S), shared by the sequences.
    prefix_group : int, optional
        Sequences that share one copy of the cached prefix (default: the whole batch).
    efficiency : Efficiency, optional
        Sustained fractions and overheads; defaults to the calibrated factors for the hardware.
    memory_utilization : float
        Fraction of each GPU's memory the engine may use, in (0, 1].

    Returns
    -------
    ServingResult
        TTFT, ITL, end-to-end latency, throughput, memory per GPU, feasibility and its reason,
        the binding ceiling and MFU.

    Examples
    --------
    >>> r = ml.serve("llama-3-8b", "h100-sxm", batch=[1, 32], prompt_tokens=1000, output_tokens=200)
    >>> print(r.itl.round(1))
    [6.2 7.8] ms
    """
    dep = as_deployment(model, hardware, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, efficiency=efficiency,
                        memory_utilization=memory_utilization)
    B = magnitude(batch, "request", "batch", strictly_positive=True)
    S = magnitude(prompt_tokens, "token", "prompt_tokens", minimum=1)
    N = magnitude(output_tokens, "token", "output_tokens", minimum=1)
    Sc = magnitude(cached_prompt_tokens, "token", "cached_prompt_tokens", minimum=0)
    if np.any(np.asarray(Sc) >= np.asarray(S)):
        raise ValueRangeError("cached_prompt_tokens must be smaller than prompt_tokens (at least one token is computed)")
    TP = np.asarray(dep.gpus, dtype=float)     # GPUs of the replica
    B, S, N, Sc, TP = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (B, S, N, Sc, TP)))

    # memory and feasibility
    kv_gpu = dep.kv_bytes_for(B, S + N, Sc, prefix_group)
    mem = dep.weight_bytes_per_gpu + dep.workspace_bytes() + kv_gpu
    feasible = np.asarray(dep.fits(B, S + N, shared_prefix=Sc, prefix_group=prefix_group))

    # prefill: every prompt in one pass; decode: the mean step over the growing context
    pre = dep.step_time(prefill_tokens=B * (S - Sc), prefill_context=(S + Sc) / 2)
    ttft = prefill_seconds(dep, B, S, Sc)
    mid = S + N / 2
    dec = dep.step_time(decode_tokens=B, decode_context=mid)
    itl = dec.total_s
    e2e = ttft + (N - 1) * itl
    throughput = B * N / e2e
    useful = B * (dep.prefill_flops(S, Sc) + (N - 1) * dep.decode_flops(mid))
    peak = dep.hardware.peak_tflops[math_precision(dep.weights, dep.hardware.peak_tflops)] * 1e12
    mfu = useful / (e2e * TP * peak)
    nan = np.where(feasible, 1.0, np.nan)

    def out(x):
        x = np.asarray(x, dtype=float)
        return float(x) if x.ndim == 0 else x

    def flag(x):
        x = np.asarray(x, dtype=bool)
        return bool(x) if x.ndim == 0 else x

    return ServingResult(
        model=dep.model, hardware=dep.hardware, tp=dep.tp, weights=dep.weights, kv=dep.kv,
        efficiency=dep.efficiency,
        batch=out(B), prompt_tokens=out(S), output_tokens=out(N), cached_prompt_tokens=out(Sc),
        ttft_s=out(ttft * nan), itl_s=out(itl * nan), e2e_s=out(e2e * nan),
        throughput_tok_s=out(throughput * nan), throughput_per_gpu_tok_s=out(throughput / TP * nan),
        memory_per_gpu_bytes=out(mem), memory_fraction=out(mem / dep.capacity_bytes),
        weights_per_gpu_bytes=out(dep.weight_bytes_per_gpu), kv_per_gpu_bytes=out(kv_gpu),
        feasible=flag(feasible), decode_memory_bound=flag(~dec.compute_bound),
        prefill_compute_bound=flag(pre.compute_bound), mfu=out(mfu * nan), deployment=dep,
        prefix_group=None if prefix_group is None else int(prefix_group),
    )
