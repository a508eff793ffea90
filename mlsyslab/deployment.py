r"""A deployment: one model on one replica of ``tp`` accelerators, at stated precisions.

Everything that serves traffic (`serve`, `load`, the simulation,
fleets, routing, caching, reasoning) asks a `Deployment` two questions: *does it fit*, and
*how long does one forward pass take*. Both are answered here, once.

Memory (per GPU)
----------------

    usable     = capacity * memory_utilization          (vLLM's gpu_memory_utilization, 0.9)
    weights    = P * bytes_per_weight / tp
    workspace  = runtime + activations(max_batched_tokens)
    KV pool    = usable - weights - workspace
    max_batch(context) = floor(KV pool / (context * kv_bytes_per_token_per_gpu))

``runtime`` is 0.5 GB (CUDA graphs, NCCL and cuBLAS buffers); the activation peak of one forward
pass over ``T`` tokens is the widest layer's live tensors in 16-bit,
``T * (hidden + (heads + 2 kv_heads) d_h / tp + 2 ffn / tp) * 2 bytes`` (residual stream, QKV,
gate and up projections). KV heads are split across ranks ``min(tp, kv_heads)`` ways and
replicated beyond that; an MLA latent is replicated on every rank.

Step time (one forward pass)
----------------------------
A continuous-batching engine runs passes that carry ``d`` decode tokens (one per running
sequence, attending to a mean context ``c_d``) and ``p`` prefill tokens (prompt chunks, each
attending to a mean of ``c_p`` earlier tokens). A pass is a sequence of kernels, and each kernel
is bound by its own roofline, so the pass takes the *sum* of per-kernel maxima:

    T        = d + p
    linear   = max( W_read(T) / BW,  T * 2 P_active / (tp F) )          weights once per pass
    decode   = d * c_d * max( kv_tok / BW,  a / (tp F) )                 each sequence reads its KV
    prefill  = max( p * kv_tok / BW,  p * c_p * a / (tp F) )             FlashAttention, causal
    t_step   = linear + decode + prefill + t_comm(T) + t_overhead

with ``BW = eta_bw * peak bandwidth`` and ``F = eta_f * peak FLOP/s`` per GPU, ``kv_tok`` the KV
bytes per token per GPU and ``a`` the attention FLOPs per (query token, context token):
``4 L H d_h`` for MHA/GQA and ``2 L H (2 r_kv + d_rope)`` for MLA with absorbed weights (which is
why MLA decode attention is compute-bound while GQA's is bandwidth-bound).

Mixture of experts: a pass over ``T`` tokens with ``k`` of ``E`` experts per token touches, with
uniform routing, ``E (1 - (1 - k/E)^T)`` distinct experts per layer:

    W_read(T) = (P_non_expert + P_routed (1 - (1 - k/E)^T)) * bytes_per_weight / tp

Tensor-parallel communication: two ring all-reduces per layer of ``T * hidden`` 16-bit
activations:

    t_comm(T) = 2 L [ alpha + 2 (tp - 1) / tp * T * hidden * 2 / (eta_link * BW_link) ]

Assumptions: matmul FLOPs are ``2 P_active`` per token; activations' memory traffic is ignored;
fp8 weights use fp8 tensor cores where the chip has them, int8/int4 are weight-only (computed in
16-bit, see `mlsyslab.precision`). The efficiency factors are sustained fractions of
datasheet peaks (`Efficiency`), calibrated per accelerator and serving stack on published
measurements (``mlsyslab/data/calibration.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from ._catalog import read_data
from .errors import ValueRangeError
from .hardware import Accelerator, accelerator
from .models import Model, model
from .precision import (
    BYTES_PER_ELEMENT,
    KV_PRECISIONS,
    WEIGHT_PRECISIONS,
    check_native,
    check_precision,
    math_precision,
)

__all__ = ["Efficiency", "DEFAULT_EFFICIENCY", "calibrated_efficiency", "Deployment",
           "as_deployment", "StepTime", "CALIBRATION_PROVENANCE", "kv_bytes_per_token_per_gpu", "valid_tps", "RUNTIME_MEMORY_GB", "DEFAULT_MAX_BATCHED_TOKENS"]

GB = 1e9
RUNTIME_MEMORY_GB = 0.5
"""Per-GPU memory a serving runtime holds besides weights, activations and KV (CUDA graphs,
NCCL and cuBLAS workspaces), in GB: a stated estimate."""
DEFAULT_MAX_BATCHED_TOKENS = 8192
"""Token budget of one forward pass (vLLM's ``max_num_batched_tokens`` for its API server on
large-memory GPUs; TensorRT-LLM's ``max_num_tokens`` default is the same order)."""


@dataclass(frozen=True)
class Efficiency:
    """Sustained fractions of datasheet peaks, and fixed overheads.

    Parameters
    ----------
    bandwidth : float
        Fraction of peak memory bandwidth that weight and KV reads sustain (``eta_bw``), in (0, 1].
    compute : float
        Fraction of dense peak FLOP/s that matmuls sustain (``eta_f``), in (0, 1].
    interconnect : float
        Fraction of the scale-up link bandwidth an all-reduce sustains, in (0, 1].
    step_overhead_ms : float
        Fixed time per forward pass (scheduling, kernel launches, sampling), in ms, >= 0.
    allreduce_latency_us : float
        Fixed latency of one all-reduce, in microseconds, >= 0.
    request_overhead_ms : float
        Fixed time a request waits before its first token besides the forward passes (the
        engine admitting it, tokenising, setting up its cache), in ms, >= 0. It delays the first
        token but occupies no accelerator time.
    """

    bandwidth: float = 0.8
    compute: float = 0.65
    interconnect: float = 0.8
    step_overhead_ms: float = 0.0
    allreduce_latency_us: float = 0.0
    request_overhead_ms: float = 0.0

    def __post_init__(self):
        for name in ("bandwidth", "compute", "interconnect"):
            v = getattr(self, name)
            if not _is_real(v) or not 0 < v <= 1:
                raise ValueRangeError(f"efficiency {name} must be a number in (0, 1]; got {v!r}")
        for name in ("step_overhead_ms", "allreduce_latency_us", "request_overhead_ms"):
            v = getattr(self, name)
            if not _is_real(v) or not 0 <= v < np.inf:
                raise ValueRangeError(f"efficiency {name} must be a finite number >= 0; got {v!r}")

    @classmethod
    def ideal(cls) -> Efficiency:
        """Datasheet peaks, no overheads: the roofline bound nothing real can beat."""
        return cls(bandwidth=1.0, compute=1.0, interconnect=1.0)

    @classmethod
    def sustained(cls, hw, *, bandwidth_gb_s: float, tflops: float, precision: str = "fp16",
                  **kw) -> Efficiency:
        """Efficiency from absolute sustained figures (e.g. 'BW_eff = 1,800 GB/s, F_eff = 250 TFLOP/s')."""
        hw = accelerator(hw)
        return cls(bandwidth=bandwidth_gb_s / hw.memory_bandwidth_gb_s,
                   compute=tflops / hw.peak_tflops[precision], **kw)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == v


_CALIBRATION = read_data("calibration.toml")
_EFF_FIELDS = {f.name for f in fields(Efficiency)}
DEFAULT_EFFICIENCY = Efficiency(**{k: v for k, v in _CALIBRATION["efficiency"].items()
                                   if k in _EFF_FIELDS})
"""The calibrated factors shared by every accelerator (``calibration.toml``, ``[efficiency]``)."""


CALIBRATION_PROVENANCE = dict(_CALIBRATION.get("provenance", {}))
"""Which efficiency factors ``calibration.toml`` states as fitted and which as priors, and on what data."""


def calibrated_efficiency(hardware) -> Efficiency:
    """The calibrated `Efficiency` for an accelerator and its usual serving stack.

    ``DEFAULT_EFFICIENCY`` with the per-accelerator factors that ``calibration.toml`` states
    (``[efficiency.by_hardware.<key>]``), where the published measurements showed that one
    global value cannot fit (see ``make calibrate``).
    """
    hw = accelerator(hardware)
    override = _CALIBRATION["efficiency"].get("by_hardware", {}).get(hw.key, {})
    return replace(DEFAULT_EFFICIENCY, **{k: v for k, v in override.items() if k in _EFF_FIELDS})


@dataclass(frozen=True)
class StepTime:
    """One forward pass, by component (seconds; arrays broadcast like the inputs)."""

    linear_memory_s: np.ndarray
    linear_compute_s: np.ndarray
    attention_memory_s: np.ndarray
    attention_compute_s: np.ndarray
    attention_s: np.ndarray
    attention_compute_bound: np.ndarray
    communication_s: np.ndarray
    overhead_s: np.ndarray
    total_s: np.ndarray

    @property
    def compute_bound(self):
        """True where the linear layers (the bulk of a pass) are compute-bound."""
        return self.linear_compute_s >= self.linear_memory_s


@dataclass(frozen=True, eq=False)
class Deployment:
    """A model served on one replica of ``tp`` accelerators at given precisions.

    Parameters
    ----------
    model : str or Model
        Catalog key or a `Model`.
    hardware : str or Accelerator
        Catalog key or an `Accelerator`.
    tp : int or array of int
        Tensor-parallel degree: divides the attention heads, at most the GPUs of one server.
        An array makes every derived figure an array (a sweep over tp).
    weights : str
        Weight precision (``fp16``, ``bf16``, ``fp8``, ``int8``, ``int4``).
    kv : str
        KV-cache precision (``fp16``, ``bf16``, ``fp8``).
    efficiency : Efficiency, optional
        Sustained fractions of peak; defaults to `calibrated_efficiency` for the hardware.
    memory_utilization : float
        Fraction of each GPU's memory the engine may use, in (0, 1] (vLLM's
        ``gpu_memory_utilization``; default 0.9).
    """

    model: Model
    hardware: Accelerator
    tp: int | np.ndarray = 1
    weights: str = "fp16"
    kv: str = "fp16"
    efficiency: Efficiency | None = None
    memory_utilization: float = 0.9
    _arrays: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        m, hw = model(self.model), accelerator(self.hardware)
        set_ = object.__setattr__
        set_(self, "model", m)
        set_(self, "hardware", hw)
        set_(self, "weights", check_precision(self.weights, WEIGHT_PRECISIONS, "weight"))
        check_native(self.weights, hw)
        set_(self, "kv", check_precision(self.kv, KV_PRECISIONS, "KV-cache"))
        set_(self, "tp", _check_tp(self.tp, m, hw))
        eff = calibrated_efficiency(hw) if self.efficiency is None else self.efficiency
        if not isinstance(eff, Efficiency):
            raise ValueRangeError(f"efficiency must be an mlsyslab.Efficiency; got {type(eff).__name__}")
        set_(self, "efficiency", eff)
        u = self.memory_utilization
        if not _is_real(u) or not 0 < u <= 1:
            raise ValueRangeError(f"memory_utilization must be a number in (0, 1]; got {u!r}")
        set_(self, "_arrays", None)

    # --- sizes ------------------------------------------------------------------------------
    @property
    def gpus(self):
        """GPUs of one replica (= tp)."""
        return self.tp

    @property
    def weight_bytes(self) -> float:
        """Bytes of the whole model's weights."""
        return self.model.params_b * 1e9 * BYTES_PER_ELEMENT[self.weights]

    @property
    def weight_bytes_per_gpu(self):
        return self.weight_bytes / np.asarray(self.tp, dtype=float)

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes of one token, whole model."""
        return self.model.kv_elements_per_token * BYTES_PER_ELEMENT[self.kv]

    @property
    def kv_bytes_per_token_per_gpu(self):
        """KV bytes of one token on each GPU: split ``min(tp, kv_heads)`` ways (MLA: not split)."""
        return kv_bytes_per_token_per_gpu(self.model, self.kv, self.tp)

    @property
    def flops_per_token(self) -> float:
        """Matmul FLOPs per token, ``2 P_active``."""
        return 2.0 * self.model.active_params_b * 1e9

    @property
    def attention_flops_per_context_token(self) -> float:
        """Attention FLOPs of one query token per context token (all layers, all heads)."""
        m = self.model
        if m.attention == "mla":
            return 2.0 * m.layers * m.heads * (2 * m.kv_lora_rank + m.rope_head_dim)
        return 4.0 * m.layers * m.heads * m.head_dim

    def prefill_flops(self, prompt_tokens, cached_prompt_tokens=0):
        """FLOPs to prefill one prompt: ``2 P (S - S_c) + a (S^2 - S_c^2) / 2`` (causal attention)."""
        S, Sc = np.asarray(prompt_tokens, dtype=float), np.asarray(cached_prompt_tokens, dtype=float)
        return self.flops_per_token * (S - Sc) + self.attention_flops_per_context_token * (S * S - Sc * Sc) / 2

    def decode_flops(self, context):
        """FLOPs of one decode token at ``context``: ``2 P + a c``."""
        return self.flops_per_token + self.attention_flops_per_context_token * np.asarray(context, dtype=float)

    @property
    def capacity_bytes(self) -> float:
        """Physical memory of one GPU, in bytes."""
        return self.hardware.memory_gb * GB

    @property
    def usable_bytes(self) -> float:
        """Memory the engine may use on each GPU: ``capacity * memory_utilization``."""
        return self.capacity_bytes * self.memory_utilization

    def activation_bytes(self, tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """Peak activation memory of one forward pass over ``tokens`` tokens, per GPU."""
        m, tp = self.model, np.asarray(self.tp, dtype=float)
        ffn = m.expert_ffn * m.experts_per_token if m.is_moe else m.ffn
        width = m.hidden + (m.heads + 2 * m.kv_heads) * m.head_dim / tp + 2 * ffn / tp
        return np.asarray(tokens, dtype=float) * width * 2.0

    def workspace_bytes(self, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """Runtime buffers plus the activation peak, per GPU."""
        return RUNTIME_MEMORY_GB * GB + self.activation_bytes(max_batched_tokens)

    def kv_pool_bytes(self, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """Memory left for the KV cache on each GPU (negative when the weights do not fit)."""
        return self.usable_bytes - self.weight_bytes_per_gpu - self.workspace_bytes(max_batched_tokens)

    def max_batch(self, context, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """How many sequences of ``context`` tokens the KV pool holds (0 where none fits)."""
        c = np.asarray(context, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.floor(np.maximum(self.kv_pool_bytes(max_batched_tokens), 0.0)
                         / (c * self.kv_bytes_per_token_per_gpu))
        n = np.where(c > 0, n, 0.0)
        return n.astype(int) if n.ndim else int(n)

    def weights_fit(self, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """True where the weights and workspace leave room for at least some KV."""
        return self.kv_pool_bytes(max_batched_tokens) > 0

    def fits(self, batch, context, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """True where ``batch`` sequences of ``context`` tokens fit beside the weights and in the window."""
        c = np.asarray(context, dtype=float)
        need = np.asarray(batch, dtype=float) * c * self.kv_bytes_per_token_per_gpu
        return (need <= self.kv_pool_bytes(max_batched_tokens)) & self.within_window(c)

    def within_window(self, context):
        """True where ``context`` tokens fit in the model's context window (``max_context``)."""
        c = np.asarray(context, dtype=float)
        return c <= (np.inf if self.model.max_context is None else self.model.max_context)

    def memory_reasons(self, batch, context, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """Why ``batch`` sequences of ``context`` tokens do not fit, with a fix (None where they fit).

        Arrays broadcast (tp included); returns a string for scalar inputs, else an object array.
        """
        b, c, tp = np.broadcast_arrays(np.asarray(batch, dtype=float), np.asarray(context, dtype=float),
                                       np.asarray(self.tp))
        ok = np.broadcast_to(self.fits(batch, context, max_batched_tokens), b.shape)
        out = np.full(b.shape, None, dtype=object)
        bad = ~ok
        if not bad.any():
            return out[()] if out.ndim == 0 else out
        hw, cap = self.hardware, self.capacity_bytes / GB
        usable = self.usable_bytes / GB
        valid = valid_tps(self.model, hw)
        t = tp[bad].astype(int)
        ws = np.broadcast_to(self.workspace_bytes(max_batched_tokens) / GB, b.shape)[bad]
        w = self.weight_bytes / t / GB
        kv = b[bad] * c[bad] * np.broadcast_to(self.kv_bytes_per_token_per_gpu, b.shape)[bad] / GB
        mb = np.broadcast_to(self.max_batch(c, max_batched_tokens), b.shape)[bad]

        def weights_reason(ti, wi, wsi):
            per = f" per GPU at tp={ti}" if ti > 1 else ""
            fix = [f"tp={u}" for u in valid if u > ti and self.weight_bytes / u / GB + wsi < usable][:1]
            fix += [p for p in ("fp8", "int4") if BYTES_PER_ELEMENT[p] < BYTES_PER_ELEMENT[self.weights]
                    and self.model.params_b * BYTES_PER_ELEMENT[p] / ti + wsi < usable][:1]
            hint = (f"; try {' or '.join(fix)}" if fix else
                    "; it does not fit one server at this precision: use a larger GPU, lower "
                    "precision or pipeline parallelism (not modelled)")
            return (f"needs {wi:,.1f} GB of {self.weights} weights{per} + {wsi:,.1f} GB workspace, "
                    f"more than the {usable:,.1f} GB usable of {cap:,.1f} GB on {hw.name} "
                    f"(memory_utilization {self.memory_utilization:g}){hint}")

        def kv_reason(ti, wi, wsi, bi, ci, ki, mbi):
            more = [u for u in valid if u > ti][:1]
            tail = (", fp8 KV" if self.kv != "fp8" else "") + "".join(f", tp={u}" for u in more)
            fix = f"batch <= {mbi}" if mbi >= 1 else "a shorter context"
            return (f"weights {wi:,.1f} GB + workspace {wsi:,.1f} GB + KV for {bi:,.0f} "
                    f"sequences x {ci:,.0f} tokens {ki:,.1f} GB = {wi + wsi + ki:,.1f} GB > "
                    f"{usable:,.1f} GB usable on {hw.name}; try {fix}{tail}")

        window = self.model.max_context
        cache = {}
        reasons = []
        for ti, wi, wsi, bi, ci, ki, mbi in zip(t.tolist(), w.tolist(), ws.tolist(), b[bad].tolist(),
                                                c[bad].tolist(), kv.tolist(), mb.tolist()):
            if window is not None and ci > window:
                reasons.append(f"a context of {ci:,.0f} tokens is longer than {self.model.name}'s "
                               f"{window:,}-token window (max_position_embeddings); use a shorter "
                               f"prompt and answer or a long-context model")
            elif wi + wsi >= usable:
                if ti not in cache:
                    cache[ti] = weights_reason(ti, wi, wsi)
                reasons.append(cache[ti])
            else:
                reasons.append(kv_reason(ti, wi, wsi, bi, ci, ki, mbi))
        if out.ndim == 0:
            return reasons[0]
        out[bad] = reasons
        return out[()] if out.ndim == 0 else out

    # --- time -------------------------------------------------------------------------------
    def _coefficients(self) -> dict:
        if self._arrays is None:
            hw, eff, tp = self.hardware, self.efficiency, np.asarray(self.tp, dtype=float)
            math = math_precision(self.weights, hw.peak_tflops)
            bw = hw.memory_bandwidth_gb_s * GB * eff.bandwidth
            flops = hw.peak_tflops[math] * 1e12 * eff.compute * tp
            link = hw.interconnect_gb_s * GB * eff.interconnect
            m = self.model
            multi = tp > 1
            coeff = {
                "bw": bw, "flops": flops,
                "kv_tok": self.kv_bytes_per_token_per_gpu,
                "w_gpu": self.weight_bytes / tp,
                "lin_per_tok": self.flops_per_token / flops,
                "attn_per_ctx": self.attention_flops_per_context_token / flops,
                "comm_fixed": np.where(multi, 2.0 * m.layers * eff.allreduce_latency_us * 1e-6, 0.0),
                "comm_per_tok": np.where(multi, 2.0 * m.layers * 2.0 * (tp - 1) / tp * m.hidden * 2.0 / link, 0.0),
                "overhead": eff.step_overhead_ms * 1e-3,
            }
            if m.is_moe:
                b = BYTES_PER_ELEMENT[self.weights] / tp
                coeff["moe"] = (m.non_expert_params * b, m.routed_expert_params_total * b,
                                1.0 - m.experts_per_token / m.experts)
            object.__setattr__(self, "_arrays", coeff)
        return self._arrays

    def weights_read_bytes(self, tokens):
        """Weight bytes one forward pass over ``tokens`` tokens reads, per GPU (MoE: experts touched)."""
        k = self._coefficients()
        t = np.asarray(tokens, dtype=float)
        if "moe" not in k:
            return k["w_gpu"] + 0.0 * t
        non, routed, miss = k["moe"]
        return non + routed * (1.0 - miss ** t)

    def step_seconds(self, decode_tokens, decode_context, prefill_tokens=0.0, prefill_context=0.0):
        """Duration of one forward pass in seconds (the module's equation; no input checks).

        Works on floats and on arrays alike, so the simulation's inner loop and a 100k-point
        sweep share this one formula.
        """
        k = self._coefficients()
        d, p = decode_tokens, prefill_tokens
        T = d + p
        lin = np.maximum(self.weights_read_bytes(T) / k["bw"], T * k["lin_per_tok"])
        dec = d * decode_context * np.maximum(k["kv_tok"] / k["bw"], k["attn_per_ctx"])
        pre = np.maximum(p * k["kv_tok"] / k["bw"], p * prefill_context * k["attn_per_ctx"])
        busy = np.asarray(T) > 0
        return np.where(busy, lin + dec + pre + k["comm_fixed"] + T * k["comm_per_tok"] + k["overhead"], 0.0)

    def step_time(self, *, decode_tokens=0, decode_context=0, prefill_tokens=0,
                  prefill_context=0) -> StepTime:
        """One forward pass by component; see the module docstring for the equation."""
        k = self._coefficients()
        d, cd, p, cp = (np.asarray(x, dtype=float) for x in
                        (decode_tokens, decode_context, prefill_tokens, prefill_context))
        T = d + p
        lin_mem = self.weights_read_bytes(T) / k["bw"]
        lin_comp = T * k["lin_per_tok"]
        att_mem = (d * cd + p) * k["kv_tok"] / k["bw"] + 0.0 * T
        att_comp = (d * cd + p * cp) * k["attn_per_ctx"] + 0.0 * T
        comm = np.where(T > 0, k["comm_fixed"] + T * k["comm_per_tok"], 0.0)
        over = np.where(T > 0, k["overhead"], 0.0)
        total = self.step_seconds(d, cd, p, cp)
        attn = total - np.maximum(lin_mem, lin_comp) - comm - over
        return StepTime(lin_mem, lin_comp, att_mem, att_comp, attn, att_comp >= att_mem, comm, over, total)

    def __str__(self) -> str:
        tp = self.tp if np.ndim(self.tp) == 0 else list(np.ravel(self.tp))
        return (f"{self.model.name} on {tp} x {self.hardware.name} ({self.weights} weights, "
                f"{self.kv} KV, memory_utilization {self.memory_utilization:g})")


def kv_bytes_per_token_per_gpu(m: Model, kv: str, tp=1):
    """KV-cache bytes one token occupies on each of ``tp`` GPUs.

    ``elements * bytes / min(tp, kv_heads)``: KV heads are split across ranks and replicated
    beyond ``kv_heads``; an MLA latent is replicated on every rank.
    """
    per = m.kv_elements_per_token * BYTES_PER_ELEMENT[check_precision(kv, KV_PRECISIONS, "KV-cache")]
    tp_kv = 1.0 if m.attention == "mla" else np.minimum(np.asarray(tp, dtype=float), m.kv_heads)
    out = per / tp_kv
    return float(out) if np.ndim(out) == 0 else out


def valid_tps(m: Model, hw: Accelerator) -> list[int]:
    """Tensor-parallel degrees possible for a model on a server: divisors of the head count."""
    return [t for t in range(1, hw.scale_up_gpus + 1) if m.heads % t == 0]


def _check_tp(tp, m: Model, hw: Accelerator):
    arr = np.asarray(tp)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueRangeError(f"tp must be a whole number (or an array of them); got {tp!r}")
    a = arr.astype(float)
    valid = valid_tps(m, hw)
    ok = np.isfinite(a) & (a == np.round(a)) & np.isin(a, valid)
    if not np.all(ok):
        bad = np.ravel(a[~ok])[0] if a.ndim else float(a)
        raise ValueRangeError(
            f"tp={bad:g} is not possible for {m.name} on {hw.name}: tp must divide the {m.heads} "
            f"attention heads and be at most the {hw.scale_up_gpus} GPUs of one server "
            f"(allowed: {', '.join(map(str, valid))})")
    return int(a) if a.ndim == 0 else a.astype(int)


def as_deployment(model_or_deployment, hardware=None, *, tp=1, weights="fp16", kv="fp16",
                  efficiency=None, memory_utilization=0.9) -> Deployment:
    """A `Deployment` from one, or from a model and hardware with the usual keywords.

    Every public function takes either ``(deployment)`` or ``(model, hardware, tp=..., ...)``.
    """
    if isinstance(model_or_deployment, Deployment):
        if hardware is not None:
            raise ValueRangeError("pass either a Deployment or a model and hardware, not both")
        return model_or_deployment
    if hardware is None:
        raise ValueRangeError("hardware is required (or pass a Deployment)")
    return Deployment(model_or_deployment, hardware, tp=tp, weights=weights, kv=kv,
                      efficiency=efficiency, memory_utilization=memory_utilization)
