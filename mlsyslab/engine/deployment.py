r"""A deployment: one model on one replica of ``tp`` x ``pp`` accelerators, at stated precisions.

Everything that serves traffic (`serve`, `load`, the simulation, fleets, routing, caching,
reasoning) asks a `Deployment` two questions: *does it fit*, and *how long does one forward
pass take*. Both are answered here, once: the memory below, the pass in
`mlsyslab.engine.forward` (its equations, terms and sources).

Memory (per GPU)
----------------

    usable     = capacity * memory_utilization          (vLLM's gpu_memory_utilization, 0.9)
    weights    = (P_body b_w + P_vocab 2) / tp * ceil(L/pp)/L          (MoE with ep > 1:
                 routed experts over ep instead of tp)
    workspace  = runtime + activations(max_batched_tokens)
    KV pool    = usable - weights - workspace
    per sequence(c) = [ b_kv (L_full c + L_window min(c, W)) e / min(tp, kv_heads)
                        + c L_attn idx + state / tp ] * ceil(L/pp)/L / groups
    max_batch(c) = floor(KV pool / per sequence(c))

``b_w`` is the weights' bytes per parameter with their quantisation scales and ``P_vocab`` the
input embedding and lm_head, which quantised checkpoints keep in 16 bits
(`mlsyslab.catalog.precision`). ``runtime`` is 0.5 GB (CUDA graphs, NCCL and cuBLAS buffers);
the activation peak of one pass over ``T`` tokens is the widest layer's live tensors in 16-bit,
``T * (hidden + (heads + 2 kv_heads) d_h / tp + 2 ffn / tp) * 2 bytes``. KV heads are split
across ranks ``min(tp, kv_heads)`` ways and replicated beyond that; an MLA latent is replicated
on every rank. Sliding-window layers hold at most their window, a sparse-attention indexer adds
``idx`` bytes per token and layer, and linear-attention layers hold a fixed state per sequence
whatever its context (`mlsyslab.catalog.models`).

A deployment also names its serving engine (``vllm``, ``sglang``, ``trtllm``): the engine's
calibrated overheads (`calibrated_efficiency`), how it feeds a pipeline, and its default limits
(`mlsyslab.catalog.engines`).

Tensor-parallel degrees are those engines accept (`valid_tps`): ``tp`` divides the query heads,
divides the KV heads or is a multiple of them (replication), and divides the FFN and expert
widths and the linear-attention heads it shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalog.engines import Engine
from ..catalog.engines import engine as engine_spec
from ..catalog.hardware import Accelerator, accelerator
from ..catalog.models import Model, model
from ..catalog.precision import (
    BYTES_PER_ELEMENT,
    BYTES_PER_WEIGHT,
    KV_PRECISIONS,
    VOCABULARY_BYTES,
    WEIGHT_PRECISIONS,
    check_native,
    check_precision,
)
from ..errors import ValueRangeError
from .efficiency import (
    CALIBRATION_PROVENANCE,
    DEFAULT_EFFICIENCY,
    Efficiency,
    calibrated_efficiency,
)
from .forward import ForwardPass, StepTime

__all__ = ["Efficiency", "DEFAULT_EFFICIENCY", "calibrated_efficiency", "Deployment",
           "as_deployment", "StepTime", "CALIBRATION_PROVENANCE", "kv_bytes_per_token_per_gpu",
           "valid_tps", "RUNTIME_MEMORY_GB", "DEFAULT_MAX_BATCHED_TOKENS"]

GB = 1e9
RUNTIME_MEMORY_GB = 0.5
"""Per-GPU memory a serving runtime holds besides weights, activations and KV (CUDA graphs,
NCCL and cuBLAS workspaces), in GB: a stated estimate."""
DEFAULT_MAX_BATCHED_TOKENS = 8192
"""Token budget of one forward pass (vLLM's ``max_num_batched_tokens`` for its API server on
large-memory GPUs; TensorRT-LLM's ``max_num_tokens`` default is the same)."""


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == v


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
    engine : str
        The serving engine (``"vllm"``, ``"sglang"``, ``"trtllm"``): its calibrated overheads,
        how it feeds a pipeline and its default limits.

    Examples
    --------
    >>> dep = Deployment("llama-3.1-70b", "h100-sxm", tp=4, weights="fp8")
    >>> round(float(dep.weight_bytes_per_gpu) / 1e9, 1)
    18.2
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
    engine: str = "vllm"
    _forward: ForwardPass = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        m, hw = model(self.model), accelerator(self.hardware)
        set_ = object.__setattr__
        set_(self, "model", m)
        set_(self, "hardware", hw)
        set_(self, "weights", check_precision(self.weights, WEIGHT_PRECISIONS, "weight"))
        check_native(self.weights, hw)
        set_(self, "kv", check_precision(self.kv, KV_PRECISIONS, "KV-cache"))
        set_(self, "tp", _check_tp(self.tp, m, hw))
        set_(self, "engine", engine_spec(self.engine).key)
        eff = calibrated_efficiency(hw, self.engine) if self.efficiency is None else self.efficiency
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
        set_(self, "_forward", None)

    @property
    def engine_spec(self) -> Engine:
        """The serving engine's catalog entry (defaults, flags, sources)."""
        return engine_spec(self.engine)

    def serving_limits(self, max_batch=None, max_batched_tokens=None, kv_allocation=None):
        """``(max_batch, max_batched_tokens, kv_allocation)`` with each one not given (None) taken
        from the engine's defaults on this accelerator (``engines.toml``, with its source): the
        running-request limit (vLLM ``max_num_seqs``, SGLang ``max_running_requests``,
        TensorRT-LLM ``max_batch_size``; None where the engine leaves it to the KV memory), the
        tokens one pass may carry and how the KV cache is allocated. A request beyond the limit
        waits for a slot, in the engine and in the model.

        Examples
        --------
        >>> ml.Deployment("llama-3-8b", "a100-80gb").serving_limits()
        (256, 2048, 'paged')
        >>> ml.Deployment("llama-3-8b", "h100-sxm", engine="trtllm").serving_limits(max_batch=64)
        (64, 8192, 'reserved')
        """
        spec = self.engine_spec
        running, tokens = spec.limits(self.hardware)
        return (max_batch if max_batch is not None else (running or None),
                max_batched_tokens if max_batched_tokens is not None else tokens,
                kv_allocation if kv_allocation is not None else spec.kv_allocation)

    @property
    def forward(self) -> ForwardPass:
        """The forward-pass physics of this deployment (`mlsyslab.engine.forward`)."""
        if self._forward is None:
            object.__setattr__(self, "_forward", ForwardPass(self))
        return self._forward

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
        """Bytes of the whole model's weights: the body at its precision with quantisation
        scales, the vocabulary matrices in 16 bits."""
        m = self.model
        vocab = m.vocabulary_params
        return (m.params_b * 1e9 - vocab) * BYTES_PER_WEIGHT[self.weights] + vocab * VOCABULARY_BYTES

    @property
    def weight_bytes_per_gpu(self):
        """Weight bytes on each GPU of the largest stage (experts whole on ``ep`` GPUs if ep > 1)."""
        tp = np.asarray(self.tp, dtype=float)
        m = self.model
        if self.ep > 1:
            routed = m.routed_expert_params_total * BYTES_PER_WEIGHT[self.weights]
            per = (self.weight_bytes - routed) / tp + routed / self.ep
        else:
            per = self.weight_bytes / tp
        return per * self.stage_share

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes of one token, whole model, below any sliding window (indexer keys included)."""
        return self.model.kv_elements_per_token * BYTES_PER_ELEMENT[self.kv] + self.model.index_bytes_per_token

    def kv_bytes_per_sequence(self, context):
        """KV and state bytes of one sequence of ``context`` tokens, whole model (arrays broadcast)."""
        m = self.model
        c = np.asarray(context, dtype=float)
        return (m.kv_elements(c) * BYTES_PER_ELEMENT[self.kv] + c * m.index_bytes_per_token
                + m.state_bytes_per_sequence)

    @property
    def kv_bytes_per_token_per_gpu(self):
        """KV bytes of one token on each GPU below any window (averaged over the attention groups).

        Split ``min(tp, kv_heads)`` ways (MLA: not split); a pipeline stage holds its share of the
        layers; with expert parallelism the ``ep/tp`` attention groups keep their own sequences.
        """
        return (kv_bytes_per_token_per_gpu(self.model, self.kv, self.tp) * self.stage_share
                / self.attention_groups)

    def kv_bytes_per_sequence_per_gpu(self, context):
        """KV and state bytes of one sequence of ``context`` tokens on each GPU (arrays broadcast).

        Full-attention layers grow with the context, sliding-window layers stop at their window,
        linear layers hold a fixed state (split over the tp ranks).
        """
        return (kv_bytes_per_sequence_per_gpu(self.model, self.kv, self.tp, context)
                * self.stage_share / self.attention_groups)

    @property
    def flops_per_token(self) -> float:
        """Matmul FLOPs per token through the body and the lm_head, ``2 (P_active - P_embedding)``:
        the input embedding is a lookup, not a matmul."""
        m = self.model
        return 2.0 * (m.active_params_b * 1e9 - (0.0 if m.tied_embeddings else m.vocabulary_params / 2))

    @property
    def attention_flops_per_context_token(self) -> float:
        """Attention FLOPs of one decoding token per context token (all attention layers, all
        heads): ``4 L H d_h`` for GQA, ``2 L H (2 r_kv + d_rope)`` for MLA's absorbed decode."""
        f = self.forward
        return float(np.ravel(f.a_dec * (f.full + f.sliding))[0])

    def prefill_flops(self, prompt_tokens, cached_prompt_tokens=0):
        """FLOPs to prefill one prompt: body matmuls on the new tokens, the lm_head on the last,
        causal attention over the context (sliding and sparse layers capped)."""
        S, Sc = np.asarray(prompt_tokens, dtype=float), np.asarray(cached_prompt_tokens, dtype=float)
        f = self.forward
        lm = 2.0 * f.lm_params
        body = self.flops_per_token - lm
        attn = f.prefill_flops((S + Sc) / 2) * np.asarray(self.tp, dtype=float)
        return body * (S - Sc) + lm + attn * (S - Sc)

    def decode_flops(self, context):
        """FLOPs of one decode token at ``context``: ``2 P`` through body and lm_head, plus attention."""
        f = self.forward
        return self.flops_per_token + f.decode_flops(context) * np.asarray(self.tp, dtype=float)

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

    def kv_bytes_for(self, batch, context, shared_prefix=0, prefix_group=None):
        """KV bytes on each GPU of ``batch`` sequences of ``context`` tokens (arrays broadcast).

        Their first ``shared_prefix`` tokens are one prefix that sequences share: paged engines
        map every sequence's prefix to the same physical blocks (vLLM's prefix caching,
        SGLang's radix cache), so it is stored once per ``prefix_group`` sequences (``None``:
        once for the whole batch), the rest of each context once per sequence.
        """
        B = np.asarray(batch, dtype=float)
        per = self.kv_bytes_per_sequence_per_gpu(context)
        prefix = self.kv_bytes_per_sequence_per_gpu(shared_prefix) * (np.asarray(shared_prefix) > 0)
        copies = 1.0 if prefix_group is None else np.ceil(B / np.asarray(prefix_group, dtype=float))
        return B * (per - prefix) + np.minimum(copies, B) * prefix

    def max_batch(self, context, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS, shared_prefix=0):
        """How many sequences of ``context`` tokens the KV pool holds (0 where none fits); a
        ``shared_prefix`` of each is stored once for all of them (`kv_bytes_for`)."""
        c = np.asarray(context, dtype=float)
        prefix = self.kv_bytes_per_sequence_per_gpu(shared_prefix) * (np.asarray(shared_prefix) > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.floor(np.maximum(self.kv_pool_bytes(max_batched_tokens) - prefix, 0.0)
                         / (self.kv_bytes_per_sequence_per_gpu(c) - prefix))
        n = np.where(c > 0, n, 0.0)
        return n.astype(int) if n.ndim else int(n)

    def weights_fit(self, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS):
        """True where the weights and workspace leave room for at least some KV."""
        return self.kv_pool_bytes(max_batched_tokens) > 0

    def fits(self, batch, context, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS, shared_prefix=0,
             prefix_group=None):
        """True where ``batch`` sequences of ``context`` tokens fit beside the weights and in the
        window (a ``shared_prefix`` stored once per ``prefix_group``: `kv_bytes_for`)."""
        c = np.asarray(context, dtype=float)
        need = self.kv_bytes_for(batch, c, shared_prefix, prefix_group)
        return (need <= self.kv_pool_bytes(max_batched_tokens)) & self.within_window(c)

    def within_window(self, context):
        """True where ``context`` tokens fit in the model's context window (``max_context``)."""
        c = np.asarray(context, dtype=float)
        return c <= (np.inf if self.model.max_context is None else self.model.max_context)

    def memory_reasons(self, batch, context, max_batched_tokens=DEFAULT_MAX_BATCHED_TOKENS,
                       shared_prefix=0, prefix_group=None):
        """Why ``batch`` sequences of ``context`` tokens do not fit, with a fix (None where they fit).

        Arrays broadcast (tp included); returns a string for scalar inputs, else an object array.
        """
        b, c, tp = np.broadcast_arrays(np.asarray(batch, dtype=float), np.asarray(context, dtype=float),
                                       np.asarray(self.tp))
        ok = np.broadcast_to(self.fits(batch, context, max_batched_tokens, shared_prefix, prefix_group), b.shape)
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
        kv = np.broadcast_to(self.kv_bytes_for(b, c, shared_prefix, prefix_group), b.shape)[bad] / GB
        mb = np.broadcast_to(self.max_batch(c, max_batched_tokens, shared_prefix), b.shape)[bad]

        def weights_reason(ti, wi, wsi):
            split = ti * self.pp * self.attention_groups
            per = (f" per GPU on {split} GPUs (tp={ti}{f', pp={self.pp}' if self.pp > 1 else ''}"
                   f"{f', ep={self.ep}' if self.ep > 1 else ''})" if split > 1 else "")
            L = self.model.layers
            fix = [f"tp={u}" for u in valid if u > ti and wi * ti / u + wsi < usable][:1]
            fix += [p for p in ("fp8", "int4") if BYTES_PER_WEIGHT[p] < BYTES_PER_WEIGHT[self.weights]
                    and wi * BYTES_PER_WEIGHT[p] / BYTES_PER_WEIGHT[self.weights] + wsi < usable][:1]
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
    def weights_read_bytes(self, tokens):
        """Weight bytes one pass over ``tokens`` tokens reads per GPU, whole model.

        MoE: the experts those tokens touch (never fewer than one token's); with expert
        parallelism, the dense part plus the local experts touched.
        """
        return self.forward.weights_read_bytes(tokens)

    def step_seconds(self, decode_tokens, decode_context, prefill_tokens=0.0, prefill_context=0.0,
                     prefill_sequences=None):
        """Duration of one forward pass (a pipeline round when pp > 1) in seconds.

        The equations of `mlsyslab.engine.forward`, no input checks. Works on floats and on
        arrays alike, so the simulation's inner loop and a 100k-point sweep share this one
        formula. ``prefill_sequences`` (default: one where there are prefill tokens) sets how
        many prompts complete in the pass (their logits) and how a pipeline is fed.
        """
        return self.forward.step_seconds(decode_tokens, decode_context, prefill_tokens, prefill_context,
                                         prefill_sequences)

    def prefill_latency(self, tokens, context, sequences=1.0):
        """Seconds from a pass's start to the first tokens of the ``sequences`` prompts it
        carries on an idle replica, pipeline fill and drain included (`ForwardPass.prefill_latency`)."""
        return self.forward.prefill_latency(tokens, context, sequences)

    def step_time(self, *, decode_tokens=0, decode_context=0, prefill_tokens=0,
                  prefill_context=0) -> StepTime:
        """One forward pass (pipeline round) by component; see `mlsyslab.engine.forward`.

        ``communication_s`` holds the all-reduces, the pipeline sends and the expert all-to-all;
        ``overhead_s`` the fixed per-layer and per-pass costs.
        """
        return self.forward.step_time(decode_tokens, decode_context, prefill_tokens, prefill_context)

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
                f"{self.kv} KV, memory_utilization {self.memory_utilization:g}, {self.engine})")


def kv_bytes_per_token_per_gpu(m: Model, kv: str, tp=1):
    """KV-cache bytes one token occupies on each of ``tp`` GPUs, below any sliding window.

    ``elements * bytes / min(tp, kv_heads)``: KV heads are split across ranks and replicated
    beyond ``kv_heads``; an MLA latent (and a sparse indexer's keys) is replicated on every rank.
    """
    per = m.kv_elements_per_token * BYTES_PER_ELEMENT[check_precision(kv, KV_PRECISIONS, "KV-cache")]
    tp_kv = 1.0 if m.attention == "mla" else np.minimum(np.asarray(tp, dtype=float), m.kv_heads)
    out = per / tp_kv + m.index_bytes_per_token
    return float(out) if np.ndim(out) == 0 else out


def kv_bytes_per_sequence_per_gpu(m: Model, kv: str, tp, context):
    """KV and state bytes one sequence of ``context`` tokens holds on each of ``tp`` GPUs.

    ``(full_layers * c + sliding_layers * min(c, window)) * elements * bytes / min(tp, kv_heads)``
    plus the sparse indexer's keys (``c * index_bytes``, every rank) and the linear layers' fixed
    state (``state / tp``, whatever the context). MLA's latent is not split over the ranks.
    """
    tp = np.asarray(tp, dtype=float)
    c = np.asarray(context, dtype=float)
    tp_kv = 1.0 if m.attention == "mla" else np.minimum(tp, m.kv_heads)
    per = m.kv_elements(c) * BYTES_PER_ELEMENT[check_precision(kv, KV_PRECISIONS, "KV-cache")]
    return per / tp_kv + c * m.index_bytes_per_token + m.state_bytes_per_sequence / tp


def tp_refusal(m: Model, tp: int) -> str | None:
    """Why an engine refuses ``tp`` for a model (None where it accepts it).

    vLLM, SGLang and TensorRT-LLM shard the query heads, the KV heads (or replicate them when tp
    is a multiple of their count), the FFN and expert widths and the linear-attention heads over
    the ranks, and each must divide evenly.
    """
    if m.heads % tp:
        return f"the {m.heads} attention heads"
    if m.attention != "mla" and m.kv_heads % tp and tp % m.kv_heads:
        return f"the {m.kv_heads} KV heads (tp must divide them or be a multiple of them)"
    dense_ffn = m.ffn_block_count - (m.moe_layers if m.is_moe else 0)
    if dense_ffn and m.ffn % tp:
        return f"the FFN width {m.ffn:,}"
    if m.is_moe and m.expert_ffn % tp:
        return f"the expert width {m.expert_ffn:,}"
    return None


def valid_tps(m: Model, hw: Accelerator) -> list[int]:
    """Tensor-parallel degrees engines accept for a model in one scale-up domain (`tp_refusal`)."""
    return [t for t in range(1, hw.scale_up_gpus + 1) if tp_refusal(m, t) is None]


def _check_tp(tp, m: Model, hw: Accelerator):
    arr = np.asarray(tp)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueRangeError(f"tp must be a whole number (or an array of them); got {tp!r}")
    a = arr.astype(float)
    valid = valid_tps(m, hw)
    ok = np.isfinite(a) & (a == np.round(a)) & np.isin(a, valid)
    if not np.all(ok):
        bad = np.ravel(a[~ok])[0] if a.ndim else float(a)
        why = (f"it is more than the {hw.scale_up_gpus} GPUs of one scale-up domain"
               if bad > hw.scale_up_gpus or bad < 1 or bad != round(bad)
               else f"it does not divide {tp_refusal(m, int(bad))}")
        raise ValueRangeError(
            f"tp={bad:g} is not possible for {m.name} on {hw.name}: {why} "
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
                  efficiency=None, memory_utilization=0.9, pp=1, ep=1, expert_skew=1.0,
                  engine="vllm") -> Deployment:
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
                      expert_skew=expert_skew, engine=engine)
