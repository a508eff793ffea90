r"""A deployment: one model on one replica of ``tp`` x ``pp`` accelerators, at stated precisions.

Everything that serves traffic (`serve`, `load`, the simulation,
fleets, routing, caching, reasoning) asks a `Deployment` two questions: *does it fit*, and
*how long does one forward pass take*. Both are answered here, once.

Memory (per GPU)
----------------

    usable     = capacity * memory_utilization          (vLLM's gpu_memory_utilization, 0.9)
    weights    = P * bytes_per_weight / tp * ceil(L/pp)/L      (MoE with ep > 1:
                 (P_non_expert / tp + P_routed / ep) * bytes_per_weight * ceil(L/pp)/L)
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

Pipeline parallelism (``pp`` stages, each ``tp`` GPUs, across servers where they do not fit one):
a stage holds ``ceil(L/pp)`` layers (the largest stage sets the pace, ``s = ceil(L/pp) pp / L``).
A pass over ``T`` tokens is cut into ``m = min(pp, max(T, 1))`` micro-batches of ``T/m`` tokens
that follow each other through the stages; each token waits for every stage in turn, so one
round (the interval between a sequence's tokens) is

    t_round(T) = s * t_layers(T/m) + t_p2p(T/m) + t_overhead

where ``t_layers`` is the single-group pass above without its overhead: the full model's time at
``T/m`` tokens. With ``m = pp`` micro-batches every stage is busy and the replica does ``pp``
times the work of one group per round; with fewer tokens than stages (``T < pp``, small batch)
stages idle: that is the pipeline bubble. ``t_p2p`` sends each micro-batch's hidden state and
residual (``2 hidden`` 16-bit values per token, split over the ``tp`` ranks' links) across the
``pp - 1`` stage boundaries, over the network where a boundary crosses servers
(``scale_out_gb_s``) and NVLink otherwise, each with a fixed latency (``P2P_LATENCY_US``).
Long prompts are pipelined chunk by chunk (as SGLang's and TensorRT-LLM's chunked pipeline
parallelism do); vLLM pipelines only across sequences, so there a lone long prompt gains nothing.

Expert parallelism (``ep`` GPUs per stage hold the routed experts, ``E/ep`` whole experts each;
``ep`` a multiple of ``tp``): attention and the dense parts run tensor-parallel in ``ep/tp``
data-parallel groups, each with its own sequences; the experts are not sharded. Per pass, the
busiest GPU does

    expert     = max( W_routed/ep * (1 - (1 - k/E)^T) / BW,  n_max * 2 P_expert / F_gpu )
    n_max      = mu * skew + sqrt(2 mu skew ln ep),   mu = T k / ep      (token-expert pairs)
    all-to-all = 2 L_moe [ alpha + (T/ep) k hidden * 2 bytes * (ep-1)/ep / BW_a2a ]

(dispatch and combine; ``skew`` >= 1 is the hottest GPU's share of routed tokens over the mean,
1 for uniform routing, and the square root is the finite-sample spread of uniform top-k
routing). ``BW_a2a`` is NVLink inside a server; when the experts span servers the share of
traffic to other servers goes over the network, and the slower of the two paths sets the time.
The tensor-parallel group then does one all-reduce per layer (attention), not two.

Assumptions: matmul FLOPs are ``2 P_active`` per token; activations' memory traffic is ignored;
fp8 weights use fp8 tensor cores where the chip has them, int8/int4 are weight-only (computed in
16-bit, see `mlsyslab.catalog.precision`). The efficiency factors are sustained fractions of
datasheet peaks (`Efficiency`), calibrated per accelerator and serving stack on published
measurements (``mlsyslab/data/calibration.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..catalog.hardware import Accelerator, accelerator
from ..catalog.models import Model, model
from ..catalog.precision import (
    BYTES_PER_ELEMENT,
    KV_PRECISIONS,
    WEIGHT_PRECISIONS,
    check_native,
    check_precision,
    math_precision,
)
from ..catalog.reader import read_data
from ..errors import ValueRangeError

__all__ = ["Efficiency", "DEFAULT_EFFICIENCY", "calibrated_efficiency", "Deployment", "P2P_LATENCY_US",
           "as_deployment", "StepTime", "CALIBRATION_PROVENANCE", "kv_bytes_per_token_per_gpu", "valid_tps", "RUNTIME_MEMORY_GB", "DEFAULT_MAX_BATCHED_TOKENS"]

GB = 1e9
RUNTIME_MEMORY_GB = 0.5
"""Per-GPU memory a serving runtime holds besides weights, activations and KV (CUDA graphs,
NCCL and cuBLAS workspaces), in GB: a stated estimate."""
DEFAULT_MAX_BATCHED_TOKENS = 8192
P2P_LATENCY_US = {"nvlink": 5.0, "network": 15.0}
"""Fixed latency of one point-to-point transfer (a pipeline send, one all-to-all phase), in
microseconds, inside a server (NVLink) and between servers (RDMA over InfiniBand/RoCE, NCCL
included): stated estimates, not fitted."""
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
    base_key = hw.key.split(":")[0]          # a MIG slice ("h100-sxm:1g.10gb") runs its GPU's stack
    override = _CALIBRATION["efficiency"].get("by_hardware", {}).get(base_key, {})
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
    pp : int
        Pipeline-parallel stages (1 to the layer count), each ``tp`` GPUs (``ep`` with expert
        parallelism); stages beyond one server are joined by the network (``scale_out_gb_s``).
    ep : int
        Expert-parallel degree of an MoE model: GPUs per stage that hold whole experts (1 = the
        experts are tensor-parallel like dense layers). A multiple of ``tp`` dividing the expert
        count; may exceed one server.
    expert_skew : float
        The busiest GPU's share of routed tokens over the mean under expert parallelism, >= 1
        (1 = uniform routing, the default).
    """

    model: Model
    hardware: Accelerator
    tp: int | np.ndarray = 1
    weights: str = "fp16"
    kv: str = "fp16"
    efficiency: Efficiency | None = None
    memory_utilization: float = 0.9
    pp: int = 1
    ep: int = 1
    expert_skew: float = 1.0
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
        _check_split(self)
        set_(self, "pp", int(self.pp))
        set_(self, "ep", int(self.ep))
        set_(self, "expert_skew", float(self.expert_skew))
        set_(self, "_arrays", None)

    # --- sizes ------------------------------------------------------------------------------
    @property
    def attention_groups(self) -> int:
        """Data-parallel attention groups per stage: ``ep / tp`` with expert parallelism, else 1."""
        return self.ep // int(np.max(self.tp)) if self.ep > 1 else 1

    @property
    def stage_gpus(self):
        """GPUs of one pipeline stage: ``tp`` (``ep`` with expert parallelism)."""
        return self.ep if self.ep > 1 else self.tp

    @property
    def gpus(self):
        """GPUs of one replica: ``tp x pp`` (``ep x pp`` with expert parallelism)."""
        return self.stage_gpus * self.pp

    @property
    def servers(self):
        """Servers one replica spans: ``ceil(gpus / scale_up_gpus)``."""
        n = -(-np.asarray(self.gpus) // self.hardware.scale_up_gpus)
        return int(n) if n.ndim == 0 else n

    @property
    def stage_share(self) -> float:
        """Share of the layers the largest pipeline stage holds: ``ceil(L/pp) / L``."""
        L = self.model.layers
        return -(-L // self.pp) / L

    @property
    def weight_bytes(self) -> float:
        """Bytes of the whole model's weights."""
        return self.model.params_b * 1e9 * BYTES_PER_ELEMENT[self.weights]

    @property
    def weight_bytes_per_gpu(self):
        """Weight bytes on each GPU of the largest stage (experts whole on ``ep`` GPUs if ep > 1)."""
        tp = np.asarray(self.tp, dtype=float)
        if self.ep > 1:
            b = BYTES_PER_ELEMENT[self.weights]
            per = (self.model.non_expert_params / tp + self.model.routed_expert_params_total / self.ep) * b
        else:
            per = self.weight_bytes / tp
        return per * self.stage_share

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes of one token, whole model."""
        return self.model.kv_elements_per_token * BYTES_PER_ELEMENT[self.kv]

    @property
    def kv_bytes_per_token_per_gpu(self):
        """KV bytes of one token on each GPU (averaged over the attention groups).

        Split ``min(tp, kv_heads)`` ways (MLA: not split); a pipeline stage holds its share of the
        layers; with expert parallelism the ``ep/tp`` attention groups keep their own sequences.
        """
        return (kv_bytes_per_token_per_gpu(self.model, self.kv, self.tp) * self.stage_share
                / self.attention_groups)

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
        w = np.broadcast_to(self.weight_bytes_per_gpu / GB, b.shape)[bad]
        kv = b[bad] * c[bad] * np.broadcast_to(self.kv_bytes_per_token_per_gpu, b.shape)[bad] / GB
        mb = np.broadcast_to(self.max_batch(c, max_batched_tokens), b.shape)[bad]

        def weights_reason(ti, wi, wsi):
            split = ti * self.pp * self.attention_groups
            per = (f" per GPU on {split} GPUs (tp={ti}{f', pp={self.pp}' if self.pp > 1 else ''}"
                   f"{f', ep={self.ep}' if self.ep > 1 else ''})" if split > 1 else "")
            L = self.model.layers
            fix = [f"tp={u}" for u in valid if u > ti and wi * ti / u + wsi < usable][:1]
            fix += [p for p in ("fp8", "int4") if BYTES_PER_ELEMENT[p] < BYTES_PER_ELEMENT[self.weights]
                    and wi * BYTES_PER_ELEMENT[p] / BYTES_PER_ELEMENT[self.weights] + wsi < usable][:1]
            widest = max(valid[-1], ti)        # stages of the widest tensor-parallel group
            whole = wi * ti / widest / self.stage_share
            stages = [q for q in range(max(self.pp + 1, 2), min(L, 64) + 1)
                      if whole * (-(-L // q) / L) + wsi < usable][:1]
            more_tp = any(f.startswith("tp=") for f in fix)     # a wider group in one server comes first
            if stages and not more_tp and (self.hardware.scale_out_gb_s
                                           or stages[0] * widest <= self.hardware.scale_up_gpus):
                across = " across servers" if stages[0] * widest > self.hardware.scale_up_gpus else ""
                fix.append(f"tp={widest} x pp={stages[0]} (pipeline stages{across})")
            hint = (f"; try {' or '.join(fix)}" if fix else
                    "; it does not fit at this precision: use a larger GPU or lower precision")
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
            f_gpu = hw.peak_tflops[math] * 1e12 * eff.compute
            flops = f_gpu * tp
            nvlink = hw.interconnect_gb_s * GB * eff.interconnect
            network = (hw.scale_out_gb_s or hw.interconnect_gb_s) * GB * eff.interconnect
            m, ep, pp = self.model, self.ep, self.pp
            multi = tp > 1
            per_layer_allreduces = 1.0 if ep > 1 else 2.0
            coeff = {
                "bw": bw, "flops": flops, "pp": pp, "groups": float(self.attention_groups),
                "share": self.stage_share * pp,
                "kv_tok": kv_bytes_per_token_per_gpu(m, self.kv, self.tp),
                "w_gpu": self.weight_bytes / tp,
                "lin_per_tok": self.flops_per_token / flops,
                "attn_per_ctx": self.attention_flops_per_context_token / flops,
                "comm_fixed": np.where(multi, per_layer_allreduces * m.layers * eff.allreduce_latency_us * 1e-6, 0.0),
                "comm_per_tok": np.where(multi, per_layer_allreduces * m.layers * 2.0 * (tp - 1) / tp
                                         * m.hidden * 2.0 / nvlink, 0.0),
                "overhead": eff.step_overhead_ms * 1e-3,
            }
            # pipeline: hidden state + residual (2 x hidden 16-bit values per token), split over
            # the tp ranks, across pp - 1 boundaries; those between servers go over the network
            stage = np.asarray(self.stage_gpus, dtype=float)
            spans = stage > hw.scale_up_gpus
            cross = np.where(spans, pp - 1, np.minimum(pp - 1, np.asarray(self.servers) - 1))
            inside = (pp - 1) - cross
            per_tok = 2.0 * m.hidden * 2.0 / tp
            coeff["p2p_fixed"] = (cross * P2P_LATENCY_US["network"] + inside * P2P_LATENCY_US["nvlink"]) * 1e-6
            coeff["p2p_per_tok"] = per_tok * (cross / network + inside / nvlink)
            if m.is_moe:
                b = BYTES_PER_ELEMENT[self.weights]
                miss = 1.0 - m.experts_per_token / m.experts
                if ep > 1:
                    # dense parts tensor-parallel in each attention group; experts whole on ep GPUs
                    active_dense = self.flops_per_token - 2.0 * m.experts_per_token * m.routed_expert_params_total / m.experts
                    far = np.clip((ep - hw.scale_up_gpus) / (ep - 1), 0.0, 1.0)
                    per_pair = m.hidden * 2.0 * (ep - 1) / ep / ep * m.experts_per_token   # bytes per token per GPU
                    a2a_time_per_tok = per_pair * np.maximum((1 - far) / nvlink, far / network)
                    coeff["ep"] = {
                        "w_dense": m.non_expert_params * b / tp, "dense_per_tok": active_dense / flops,
                        "w_experts": m.routed_expert_params_total * b / ep, "miss": miss,
                        "pair_s": 2.0 * m.routed_expert_params_total / m.experts / f_gpu,
                        "mu_per_tok": m.experts_per_token / ep, "skew": self.expert_skew, "log_ep": np.log(ep),
                        "a2a_fixed": 2.0 * m.moe_layers * P2P_LATENCY_US["network" if far > 0 else "nvlink"] * 1e-6,
                        "a2a_per_tok": 2.0 * m.moe_layers * a2a_time_per_tok,
                    }
                else:
                    bt = b / tp
                    coeff["moe"] = (m.non_expert_params * bt, m.routed_expert_params_total * bt, miss)
            coeff["kv_read_s"] = coeff["kv_tok"] / bw                  # reading one token's KV
            coeff["ctx_s"] = np.maximum(coeff["kv_read_s"], coeff["attn_per_ctx"])   # per context token
            object.__setattr__(self, "_arrays", coeff)
        return self._arrays

    def weights_read_bytes(self, tokens):
        """Weight bytes one pass over ``tokens`` tokens reads per GPU, whole model.

        MoE: the experts those tokens touch; with expert parallelism, the dense part plus the
        local experts touched.
        """
        k = self._coefficients()
        t = np.asarray(tokens, dtype=float)
        if "ep" in k:
            e = k["ep"]
            return e["w_dense"] + e["w_experts"] * (1.0 - e["miss"] ** t)
        if "moe" not in k:
            return k["w_gpu"] + 0.0 * t
        non, routed, miss = k["moe"]
        return non + routed * (1.0 - miss ** t)

    def _linear_seconds(self, T):
        """Matmul time of one pass over ``T`` tokens (per micro-batch, whole model)."""
        k = self._coefficients()
        if "ep" not in k:
            return np.maximum(self.weights_read_bytes(T) / k["bw"], T * k["lin_per_tok"])
        e = k["ep"]
        group_tokens = T / k["groups"]
        dense = np.maximum(e["w_dense"] / k["bw"], group_tokens * e["dense_per_tok"])
        mu = T * e["mu_per_tok"] * e["skew"]
        busiest = mu + np.sqrt(2.0 * mu * e["log_ep"])
        experts = np.maximum(e["w_experts"] * (1.0 - e["miss"] ** T) / k["bw"], busiest * e["pair_s"])
        a2a = np.where(T > 0, e["a2a_fixed"] + T * e["a2a_per_tok"], 0.0)
        return dense + experts + a2a

    def _group_seconds(self, d, cd, p, cp):
        """One pass of ``d`` decode and ``p`` prefill tokens through every layer, overheads and
        pipeline sends aside: linear layers, attention (per data-parallel group) and the
        tensor-parallel all-reduces."""
        k = self._coefficients()
        x = d + p
        if k["groups"] != 1.0:                  # attention per data-parallel group, on its share
            d, p = d / k["groups"], p / k["groups"]
        dec = d * cd * k["ctx_s"]
        pre = np.maximum(p * k["kv_read_s"], p * cp * k["attn_per_ctx"])
        return self._linear_seconds(x) + dec + pre + k["comm_fixed"] + (d + p) * k["comm_per_tok"]

    def step_seconds(self, decode_tokens, decode_context, prefill_tokens=0.0, prefill_context=0.0):
        """Duration of one forward pass (a pipeline round when pp > 1) in seconds.

        The module's equation, no input checks. Works on floats and on arrays alike, so the
        simulation's inner loop and a 100k-point sweep share this one formula.
        """
        k = self._coefficients()
        d, p = decode_tokens, prefill_tokens
        T = d + p
        busy = np.asarray(T) > 0
        if k["pp"] == 1:
            return np.where(busy, self._group_seconds(d, decode_context, p, prefill_context) + k["overhead"], 0.0)
        m = np.minimum(k["pp"], np.maximum(T, 1.0))      # micro-batches of T/m tokens each
        d, p = d / m, p / m
        total = (k["share"] * self._group_seconds(d, decode_context, p, prefill_context)
                 + k["p2p_fixed"] + (d + p) / k["groups"] * k["p2p_per_tok"] + k["overhead"])
        return np.where(busy, total, 0.0)

    def step_time(self, *, decode_tokens=0, decode_context=0, prefill_tokens=0,
                  prefill_context=0) -> StepTime:
        """One forward pass (pipeline round) by component; see the module docstring.

        ``communication_s`` holds the all-reduces, the pipeline sends and the expert all-to-all.
        """
        k = self._coefficients()
        d, cd, p, cp = (np.asarray(x, dtype=float) for x in
                        (decode_tokens, decode_context, prefill_tokens, prefill_context))
        T = d + p
        m = np.minimum(k["pp"], np.maximum(T, 1.0)) if k["pp"] > 1 else 1.0
        dm, pm = d / m, p / m
        x, g, s = dm + pm, k["groups"], k["share"]
        busy = T > 0
        if "ep" in k:
            e = k["ep"]
            mu = x * e["mu_per_tok"] * e["skew"]
            busiest = mu + np.sqrt(2.0 * mu * e["log_ep"])
            lin_mem = s * self.weights_read_bytes(x) / k["bw"]
            lin_comp = s * (x / g * e["dense_per_tok"] + busiest * e["pair_s"])
            a2a = np.where(busy, e["a2a_fixed"] + x * e["a2a_per_tok"], 0.0)
            linear = s * (self._linear_seconds(x) - a2a)
        else:
            a2a = 0.0
            lin_mem = s * self.weights_read_bytes(x) / k["bw"]
            lin_comp = s * x * k["lin_per_tok"]
            linear = np.maximum(lin_mem, lin_comp)
        att_mem = s * (dm * cd + pm) / g * k["kv_tok"] / k["bw"] + 0.0 * T
        att_comp = s * (dm * cd + pm * cp) / g * k["attn_per_ctx"] + 0.0 * T
        comm = np.where(busy, s * (k["comm_fixed"] + x / g * k["comm_per_tok"] + a2a)
                        + k["p2p_fixed"] + x / g * k["p2p_per_tok"], 0.0)
        over = np.where(busy, k["overhead"], 0.0)
        total = self.step_seconds(d, cd, p, cp)
        attn = total - np.where(busy, linear, 0.0) - comm - over
        return StepTime(lin_mem, lin_comp, att_mem, att_comp, attn, att_comp >= att_mem, comm, over, total)

    @property
    def layout(self) -> str:
        """``"8 x NVIDIA H200 ..."``, or ``"16 x NVIDIA H100 ... as tp=8 x pp=2"`` when split."""
        tp = self.tp if np.ndim(self.tp) == 0 else list(np.ravel(self.tp))
        split = "".join(f" x {n}={v}" for n, v in (("pp", self.pp), ("ep", self.ep)) if v > 1)
        if not split:
            return f"{tp} x {self.hardware.name}"
        gpus = self.gpus if np.ndim(self.gpus) == 0 else list(np.ravel(self.gpus))
        return f"{gpus} x {self.hardware.name} as tp={tp}{split}"

    def __str__(self) -> str:
        return (f"{self.model.name} on {self.layout} ({self.weights} weights, "
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


def _check_split(dep: Deployment) -> None:
    """pp, ep and expert_skew: whole numbers in range, a layout the model and the servers allow."""
    m, hw = dep.model, dep.hardware
    for name, hi in (("pp", min(m.layers, 64)), ("ep", 4096)):
        v = getattr(dep, name)
        if not _is_real(v) or v != int(v) or not 1 <= v <= hi:
            raise ValueRangeError(f"{name} must be a whole number from 1 to {hi} for {m.name}; got {v!r}")
    skew = dep.expert_skew
    if not _is_real(skew) or not 1 <= skew < np.inf:
        raise ValueRangeError(f"expert_skew must be a number >= 1 (1 = uniform routing); got {skew!r}")
    pp, ep = int(dep.pp), int(dep.ep)
    if ep > 1:
        if not m.is_moe:
            raise ValueRangeError(f"ep={ep}: expert parallelism needs a mixture-of-experts model; "
                                  f"{m.name} is dense (use tp or pp)")
        if np.ndim(dep.tp):
            raise ValueRangeError("with ep > 1, give one tp (not an array)")
        if ep % int(dep.tp) or m.experts % ep:
            raise ValueRangeError(f"ep={ep} must be a multiple of tp={int(dep.tp)} and divide "
                                  f"{m.name}'s {m.experts} experts")
    stage = ep if ep > 1 else int(np.max(dep.tp))
    if stage * pp > hw.scale_up_gpus and not hw.scale_out_gb_s:
        raise ValueRangeError(f"{stage * pp} GPUs span servers, but the catalog states no network "
                              f"between {hw.name} servers (scale_out_gb_s); use at most "
                              f"{hw.scale_up_gpus} GPUs")


def as_deployment(model_or_deployment, hardware=None, *, tp=1, weights="fp16", kv="fp16",
                  efficiency=None, memory_utilization=0.9, pp=1, ep=1, expert_skew=1.0) -> Deployment:
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
                      efficiency=efficiency, memory_utilization=memory_utilization, pp=pp, ep=ep,
                      expert_skew=expert_skew)
