r"""KV-cache memory: bytes per token, per sequence, and how many sequences a GPU holds.

The equations
-------------
Every layer caches, for every token, what later tokens' attention needs:

    MHA / GQA:  bytes/token = 2 (K and V) * layers * kv_heads * head_dim * bytes/element
    MLA:        bytes/token = layers * (kv_lora_rank + rope_head_dim) * bytes/element

(MHA has ``kv_heads == heads``; GQA shares each KV head among ``heads / kv_heads`` query heads;
MLA caches one compressed latent plus a small decoupled RoPE key per token and layer.)

    bytes/sequence = bytes/layer/token * (full_layers * c + sliding_layers * min(c, window))
                     + indexer keys * c + linear layers' fixed state
    max sequences  = floor(KV pool / bytes per sequence)

Linear in the context for full attention; sliding-window layers (Gemma 3, gpt-oss) stop growing
at their window and linear-attention layers (Qwen3.5, Qwen3-Next, Mamba hybrids) hold a state of
fixed size, so a hybrid's cache grows far slower than ``context * bytes/token``.

With ``tp`` GPUs the KV heads are split across ranks (``min(tp, kv_heads)`` ways; beyond that
they are replicated); an MLA latent is replicated on every rank. The pool per GPU, derived from
hardware, is ``capacity * memory_utilization - weights / tp - workspace``
(`mlsyslab.Deployment.kv_pool_bytes`).

Allocation: a contiguous allocator reserves ``max_context`` tokens per sequence up front; a paged
allocator (vLLM's PagedAttention) reserves blocks of ``block_size`` tokens as they fill, wasting
on average half a block per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..catalog.models import model as _model
from ..catalog.precision import KV_PRECISIONS, check_precision
from ..errors import ValueRangeError
from ..params import Param, checked
from ..report import Report
from ..units import magnitude, quantity
from .deployment import (
    Deployment,
    as_deployment,
    kv_bytes_per_sequence_per_gpu,
    kv_bytes_per_token_per_gpu,
    tp_refusal,
)

__all__ = [
    "kv_bytes_per_token", "kv_bytes_per_sequence", "kv_pool", "max_sequences", "kv_cache",
    "KVCacheResult", "allocation_waste", "AllocationWaste",
]


def _per_token(m, kv: str, tp: int = 1) -> float:
    return kv_bytes_per_token_per_gpu(m, kv, tp)


@checked(tp=Param("int", "", low=1, high=1024))
def kv_bytes_per_token(model, kv: str = "fp16", *, tp: int = 1):
    """KV-cache bytes one token occupies (per GPU when ``tp > 1``), as a quantity in bytes/token.

    Below any sliding window: beyond it, windowed layers stop growing (`kv_bytes_per_sequence`).

    Returns
    -------
    Quantity [byte/token]
        KV bytes one token adds on one GPU.

    Examples
    --------
    >>> ml.kv_bytes_per_token("llama-3-70b")
    <Quantity(327680.0, 'byte / token')>
    """
    m = _model(model)
    return quantity(_per_token(m, kv, _tp(tp, m)), "byte/token")


@checked("context", tp=Param("int", "", low=1, high=1024))
def kv_bytes_per_sequence(model, context, kv: str = "fp16", *, tp: int = 1):
    """KV-cache (and fixed-state) bytes of one sequence of ``context`` tokens, in GB, per GPU when
    ``tp > 1``: sliding-window layers capped at their window, linear layers' state counted once.

    Returns
    -------
    Quantity [byte]
        KV bytes of one sequence of ``context`` tokens on one GPU.

    Examples
    --------
    >>> ml.kv_bytes_per_sequence("llama-3-70b", 8192).to("GB")
    <Quantity(2.68435456, 'gigabyte')>
    """
    c = magnitude(context, "token", "context", minimum=0)
    m = _model(model)
    return quantity(kv_bytes_per_sequence_per_gpu(m, kv, _tp(tp, m), c), "byte").to("GB")


def _tp(tp, m=None, hw=None) -> int:
    t = magnitude(tp, "", "tp", minimum=1, integer=True)
    if np.ndim(t):
        raise ValueRangeError("tp must be a single whole number")
    if m is not None and hw is not None:
        Deployment(m, hw, tp=int(t))          # the same rule as every model: divides the heads, fits a server
    elif m is not None and tp_refusal(m, int(t)):
        allowed = [d for d in range(1, min(m.heads, 1024) + 1) if tp_refusal(m, d) is None]
        raise ValueRangeError(f"tp={int(t)} must divide {tp_refusal(m, int(t))} of {m.name} "
                              f"(allowed: {', '.join(map(str, allowed))})")
    return int(t)


@checked("memory_utilization", tp=Param("int", "", low=1, high=1024))
def kv_pool(model, hardware=None, *, tp: int = 1, weights: str = "fp16", memory_utilization=0.9):
    """Memory left for KV on each GPU, ``capacity * memory_utilization - weights / tp - workspace``.

    In GB; negative when the weights alone do not fit. Takes a `Deployment` or
    a model and hardware.

    Returns
    -------
    Quantity [byte]
        KV memory per GPU once the weights are loaded.

    Examples
    --------
    >>> ml.kv_pool("llama-3-8b", "h100-sxm").to("GB").round(1)
    <Quantity(60.1, 'gigabyte')>
    """
    dep = as_deployment(model, hardware, tp=tp, weights=weights, memory_utilization=memory_utilization)
    return quantity(float(dep.kv_pool_bytes()), "byte").to("GB")


@checked("pool", context=Param("real", "token", low=1, high=1e12, array=True), tp=Param("int", "", low=1, high=1024))
def max_sequences(model, context, kv: str = "fp16", *, pool=None, hardware=None, tp: int = 1,
                  weights: str = "fp16"):
    """How many sequences of ``context`` tokens fit: ``floor(pool / bytes per sequence)``.

    Give ``pool`` (bytes per GPU; a number in GB or a quantity such as ``"60 GB"``) directly, or
    ``hardware`` (with ``tp`` and ``weights``) to derive it with `kv_pool`. Returns an int
    (or int array); 0 where not even one fits (including when the weights alone do not fit, and
    contexts longer than the model's window, ``Model.max_context``).

    Returns
    -------
    int or array
        Sequences of ``context`` tokens whose KV fits the pool (0 where none fits).

    Examples
    --------
    >>> ml.max_sequences("llama-3-8b", [2048, 32768], hardware="h100-sxm")
    array([223,   0])
    """
    m = _model(model)
    t = _tp(tp, m, hardware)
    if (pool is None) == (hardware is None):
        raise ValueRangeError("give exactly one of pool= or hardware=")
    if pool is None:
        pool_bytes = kv_pool(m, hardware, tp=t, weights=weights).to("byte").magnitude
    else:
        pool_bytes = magnitude(pool, "GB", "pool", strictly_positive=True) * 1e9
    c = magnitude(context, "token", "context", strictly_positive=True)
    n = np.floor(np.maximum(pool_bytes, 0) / kv_bytes_per_sequence_per_gpu(m, kv, t, c))
    if m.max_context is not None:
        n = np.where(np.asarray(c) > m.max_context, 0.0, n)
    return int(n) if np.ndim(n) == 0 else n.astype(int)


@dataclass(frozen=True)
class KVCacheResult(Report):
    """KV-cache footprint of one model at one context (see `kv_cache`)."""

    model: str
    kv: str
    context: float
    tp: int
    bytes_per_token: float
    bytes_per_sequence: float
    pool_bytes: float | None
    max_sequences: int | None
    reason: str | None = None
    layer_kinds: str = ""        # the mixers in words, e.g. "62 layers: 10 full attention, 52 in a 1,024-token window"

    @property
    def feasible(self) -> bool:
        """False when the context is longer than the model's window or no KV pool is left."""
        return self.reason is None

    def summary(self) -> dict:
        out = {"model": self.model, "kv": self.kv, "context": int(self.context), "tp": self.tp,
               "feasible": self.feasible, "reason": self.reason,
               "bytes_per_token": int(round(self.bytes_per_token)),
               "bytes_per_sequence": int(round(self.bytes_per_sequence)), "layer_kinds": self.layer_kinds}
        if self.max_sequences is not None:
            out["kv_pool_gb"] = round(self.pool_bytes / 1e9, 3)
            out["max_sequences"] = self.max_sequences
        return out

    def __str__(self) -> str:
        s = (f"{self.model} ({self.kv} KV{f', tp={self.tp}' if self.tp > 1 else ''}): "
             f"{self.bytes_per_token:,.0f} bytes/token; {self.context:,.0f} tokens = "
             f"{self.bytes_per_sequence / 1e9:,.3f} GB per sequence")
        if self.layer_kinds and not self.layer_kinds.endswith(" full attention"):
            s += f" ({self.layer_kinds})"
        if self.max_sequences is not None and self.pool_bytes > 0:
            s += f"; a {self.pool_bytes / 1e9:,.1f} GB pool holds {self.max_sequences:,} sequences"
        if self.reason:
            s += f"\n  INFEASIBLE: {self.reason}"
        return s


@checked("pool", context=Param("real", "token", low=1, high=1e12), tp=Param("int", "", low=1, high=1024))
def kv_cache(model, context, kv: str = "fp16", *, pool=None, hardware=None, tp: int = 1,
             weights: str = "fp16") -> KVCacheResult:
    """Bytes per token and per sequence, and (with ``pool`` or ``hardware``) the sequences that fit.

    Examples
    --------
    >>> print(ml.kv_cache("llama-3-8b", 8192, hardware="h100-sxm"))
    llama-3-8b (fp16 KV): 131,072 bytes/token; 8,192 tokens = 1.074 GB per sequence; a 60.1
        GB pool holds 55 sequences
    """
    m = _model(model)
    t = _tp(tp, m, hardware)
    kv = check_precision(kv, KV_PRECISIONS, "KV-cache")
    c = magnitude(context, "token", "context", strictly_positive=True)
    if np.ndim(c):
        raise ValueRangeError("kv_cache takes one context; use kv_bytes_per_sequence for arrays")
    per_tok = _per_token(m, kv, t)
    per_seq = float(kv_bytes_per_sequence_per_gpu(m, kv, t, c))
    pool_bytes = n = None
    if pool is not None or hardware is not None:
        n = max_sequences(m, c, kv, pool=pool, hardware=hardware, tp=t, weights=weights)
        pool_bytes = (magnitude(pool, "GB", "pool") * 1e9 if pool is not None
                      else kv_pool(m, hardware, tp=t, weights=weights).to("byte").magnitude)
    why = None
    if pool_bytes is not None and pool_bytes <= 0:
        why = (f"the weights and workspace leave no KV pool on each GPU ({pool_bytes / 1e9:,.1f} GB): "
               f"use more GPUs (tp) or smaller weights")
    elif m.max_context is not None and c > m.max_context:
        why = (f"a context of {c:,.0f} tokens is longer than {m.name}'s {m.max_context:,}-token window "
               f"(max_position_embeddings)")
    return KVCacheResult(m.key, kv, c, t, per_tok, per_seq, pool_bytes, n, why, m.layer_kinds)


@dataclass(frozen=True)
class AllocationWaste:
    """Reserved-but-unused KV memory under contiguous and paged allocation."""

    contiguous_waste: float      # fraction of reserved KV memory never used
    paged_waste: float
    contiguous_sequences: int    # sequences a pool holds under each policy
    paged_sequences: int

    def __str__(self) -> str:
        return (f"contiguous: {self.contiguous_waste:.0%} wasted, {self.contiguous_sequences:,} sequences; "
                f"paged: {self.paged_waste:.1%} wasted, {self.paged_sequences:,} sequences")


@checked("max_context", "actual_context", "block_size", pool=Param("real", "GB", low=0, low_open=True, high=1e9))
def allocation_waste(model, max_context, actual_context, *, pool="60 GB", kv: str = "fp16",
                     block_size: int = 16) -> AllocationWaste:
    """Compare contiguous pre-allocation at ``max_context`` with paged allocation.

    ``actual_context`` is the tokens each sequence really uses (a number or an array of samples).
    Contiguous reserves ``max_context`` per sequence; paged reserves
    ``ceil(actual / block_size) * block_size``. Waste = 1 - used / reserved.

    Examples
    --------
    >>> w = ml.allocation_waste("llama-3-8b", 8192, [500, 2000, 6000])
    >>> print(w)
    contiguous: 65% wasted, 55 sequences; paged: 0.1% wasted, 161 sequences
    """
    m = _model(model)
    cmax = magnitude(max_context, "token", "max_context", strictly_positive=True)
    actual = np.atleast_1d(magnitude(actual_context, "token", "actual_context", strictly_positive=True))
    if np.any(actual > cmax):
        raise ValueRangeError("actual_context cannot exceed max_context")
    bs = magnitude(block_size, "token", "block_size", strictly_positive=True, integer=True)
    per_tok = _per_token(m, kv)
    pool_bytes = magnitude(pool, "GB", "pool", strictly_positive=True) * 1e9
    used = actual.mean()
    paged = (np.ceil(actual / bs) * bs).mean()
    return AllocationWaste(
        contiguous_waste=float(1 - used / cmax),
        paged_waste=float(1 - used / paged),
        contiguous_sequences=int(pool_bytes // (cmax * per_tok)),
        paged_sequences=int(pool_bytes // (paged * per_tok)),
    )
