r"""One forward pass, kernel by kernel: the step time every serving model stands on.

A continuous-batching engine runs passes that carry ``d`` decode tokens (one per running
sequence, attending to a mean context ``c_d``) and ``p`` prefill tokens (prompt chunks, each
attending to a mean of ``c_p`` earlier tokens). A pass is a sequence of kernels, each bound by
its own roofline, so a pass takes the *sum* of per-kernel maxima, plus its communication and its
fixed costs. Per GPU of one tensor-parallel group of ``tp`` GPUs, with ``T = d + p``:

    dense    = max( W_dense / BW,      2 T P_dense / (tp F_w) )          attention projections,
                                                                          dense and shared FFNs
    experts  = max( W_touched(T) / BW,  2 (P_e / tp) n_t max(T k / n_t, m_tile) / (F_w eta_moe) )
    lm_head  = max( W_vocab / BW,      2 n_logits P_vocab / (tp F_16) )   the logits, in 16 bits
    decode   = d max( KV_read(c_d) / BW_kv, A_dec(c_d) / (tp F_attn) )     each sequence its KV
    prefill  = max( p KV_tok / BW,  p A_pre(c_p) / (tp F_attn) )          FlashAttention, causal
    comm     = n_AR [ alpha_link(tp) + 2 (tp - 1) / tp  T h 2 / (eta_link BW_link) ]
    t_pass   = dense + experts + lm_head + decode + prefill + comm + L t_layer + L_moe t_moe + t_step

Terms, with their sources:

- ``BW = eta_bw`` x peak memory bandwidth (``BW_kv = eta_kv`` x peak for decode attention's
  paged KV reads, the same fraction unless the stack's attention kernels are measured slower:
  vLLM on ROCm); ``F_w = eta`` x the dense peak at the weights' math
  precision (16-bit, or fp8/fp4 tensor cores where the chip has them, each with its own
  sustained fraction: fp8 GEMMs gain about 1.4x over 16-bit, not 2x); attention runs at 16 bits
  unless the KV cache is fp8 (`mlsyslab.catalog.precision`).
- Weights: the body (attention or linear mixers, dense FFNs, shared experts) at the weights'
  precision with its quantisation scales, the vocabulary matrices in 16 bits. The input
  embedding is a gather of ``T`` rows: read, not multiplied. The lm_head multiplies only the
  tokens that produce logits, ``n_logits = d`` plus one per prompt that completes in the pass
  (engines compute no logits for the other prompt positions).
- Mixture of experts: a pass over ``T`` tokens with ``k`` of ``E`` experts per token touches
  ``n_t = E (1 - (1 - k/E)^T)`` experts per layer (uniform routing), reads only those, and runs
  each as a small GEMM of ``T k / n_t`` tokens padded to a tensor-core tile of
  ``m_tile = 16`` rows (`MOE_TILE_TOKENS`), at ``eta_moe`` of the dense rate (grouped GEMMs,
  routing, permutation). A pass never reads fewer experts than one token touches.
- Attention in the form each phase runs: GQA/MHA ``4 H d_h`` FLOPs per (query, context) pair and
  layer; MLA decode in the absorbed form, ``2 H (2 r_kv + d_rope)``, reading the latent; MLA
  prefill in the uncompressed form engines run for prompts, ``2 H (d_nope + d_rope + d_v)``.
  Sliding-window layers attend to ``min(c, W)``, sparse layers to ``min(c, k)`` plus an indexer
  that scores all ``c`` (``2 H_idx d_idx`` FLOPs and ``d_idx + 4`` bytes per context token);
  linear layers (Gated DeltaNet, Mamba-2) read and write a fixed state per sequence instead.
  ``KV_read(c)`` and ``A_dec(c)`` sum these over the layers; KV heads are split over
  ``min(tp, kv_heads)`` ranks and replicated beyond, an MLA latent is read whole on every rank.
- Communication: one ring all-reduce of the ``T x hidden`` 16-bit activations after each token
  mixer and each FFN (with expert parallelism, the MoE output returns by all-to-all instead);
  ``alpha_link(tp)`` is the link's measured small-message latency (``hardware.toml``
  ``[links]``, with sources) plus the wait for the last rank at the barrier,
  ``sigma sqrt(2 ln tp)`` (the expected maximum of ``tp`` arrival delays of spread ``sigma``,
  fitted), the bandwidth term the link at ``eta_link``.
- Each ``max(memory, compute)`` above is a kernel's roofline with its memory traffic and its
  arithmetic overlapped. ``overlap`` (`Efficiency`) is the share of the shorter side hidden under
  the longer: 1 on GPUs (asynchronous copies feed the tensor cores; the calibrated value), less
  on a CPU, whose cores issue both the loads and the multiply-adds (fitted on vLLM's CPU backend:
  `mlsyslab.measure`), where a kernel takes ``max + (1 - overlap) min``.
- Fixed costs: ``t_layer`` per layer at every tp (norms, rotary embeddings, activations,
  launches) and ``t_moe`` more per MoE layer (router, top-k, token sorting, grouped-GEMM
  launches), ``t_step`` per pass (scheduling, sampling); all fitted (``calibration.toml``).

Pipeline parallelism (``pp`` stages of ``ceil(L/pp)`` layers, ``s = ceil(L/pp) pp / L``): a pass
over ``T`` tokens runs as ``m`` micro-batches of ``T/m`` tokens that follow each other through
the stages, and the interval between a sequence's tokens is one traversal,

    t_round = s t_layers(T/m) + t_p2p(T/m) + t_step

where ``t_layers`` is the single-group pass above without its step overhead. Micro-batches are
whole requests in an engine that pipelines across requests (vLLM: ``m = min(pp, sequences)``,
so a lone prompt crosses the stages one after another and gains nothing), or prompt chunks in
one that pipelines chunks (SGLang, TensorRT-LLM: ``m = pp``). With ``m < pp`` stages idle: the
pipeline bubble. A lone prompt also pays the pipeline's fill and drain: its last chunk leaves
after ``m + pp - 1`` stage times (`ForwardPass.prefill_latency`). ``t_p2p`` sends each
micro-batch's hidden state and residual across the ``pp - 1`` stage boundaries, over the
network where a boundary crosses servers and the scale-up link otherwise.

Expert parallelism (``ep`` GPUs per stage hold whole experts, ``E/ep`` each; ``ep`` a multiple of
``tp``): attention and the dense parts run tensor-parallel in ``ep/tp`` data-parallel groups,
each with its own sequences. The busiest GPU does ``n_max = mu skew + sqrt(2 mu skew ln ep)``
token-expert pairs (``mu = T k / ep``; the square root is the finite-sample spread of uniform
routing), over its touched local experts at the same tile padding, and the all-to-all moves
``(T/ep) k hidden`` 16-bit values per GPU out and back per MoE layer, over the scale-up link
inside a domain and the network beyond it (the slower path sets the time); the busiest GPU
receives ``skew`` times that in the dispatch and sends it back in the combine, so both phases
wait for it. No per-server deduplication is modelled (DeepEP sends one copy per remote server,
and in fp8: this overstates the bytes that cross servers).

Assumptions: activations' memory traffic is ignored beside weights and KV; one precision for the
body; uniform expert routing unless ``expert_skew`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..catalog.precision import (
    BYTES_PER_ELEMENT,
    BYTES_PER_WEIGHT,
    VOCABULARY_BYTES,
    attention_math_precision,
    math_precision,
)

__all__ = ["ForwardPass", "StepTime", "MOE_TILE_TOKENS"]

MOE_TILE_TOKENS = 16
"""Rows of the smallest tensor-core tile a grouped expert GEMM pads each expert's tokens to: the
m16 MMA shape that fused-MoE kernels use for small per-expert batches (vLLM's fused_moe
configurations start at BLOCK_SIZE_M = 16; larger batches use 64-128-row tiles, where the
padding no longer matters)."""
GB = 1e9


@dataclass(frozen=True)
class StepTime:
    """One forward pass (pipeline round) by component (seconds; arrays broadcast like the inputs).

    Attributes
    ----------
    linear_memory_s : array
        Time to read the weights of the linear layers.
    linear_compute_s : array
        Time of the linear layers' FLOPs.
    attention_memory_s : array
        Time to read the KV cache.
    attention_compute_s : array
        Time of the attention FLOPs.
    attention_s : array
        Attention's time: the larger of its memory and compute times.
    attention_compute_bound : array
        True where attention is limited by compute rather than by reading the KV.
    communication_s : array
        Tensor-, pipeline- and expert-parallel communication.
    overhead_s : array
        Fixed costs per layer and per step (launches, scheduling).
    total_s : array
        The forward pass's time.
    """

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


class ForwardPass:
    """The constants of one deployment's forward pass and the equations above, vectorised.

    Built once per `Deployment` (``deployment.forward``); every method broadcasts over arrays of
    tokens and contexts (and over an array of ``tp``).
    """

    def __init__(self, dep):
        m, hw, eff = dep.model, dep.hardware, dep.efficiency
        tp = np.asarray(dep.tp, dtype=float)
        self.dep, self.pp, self.groups = dep, dep.pp, float(dep.attention_groups)
        self.share = dep.stage_share * dep.pp
        self.chunked_pipeline = dep.engine_spec.pipeline_prefill == "chunked"
        self.bw = hw.memory_bandwidth_gb_s * GB * eff.bandwidth
        self.bw_kv = hw.memory_bandwidth_gb_s * GB * (eff.kv_bandwidth or eff.bandwidth)
        w_math = math_precision(dep.weights, hw.peak_tflops)
        self.f_w = hw.peak_tflops[w_math] * 1e12 * eff.compute_at(w_math)          # per GPU
        self.f_16 = hw.peak_tflops["fp16"] * 1e12 * eff.compute
        a_math = attention_math_precision(dep.kv, hw.peak_tflops)
        self.f_attn = hw.peak_tflops[a_math] * 1e12 * eff.compute_at(a_math)
        self.f_experts = self.f_w * eff.experts
        self.serial = 1.0 - eff.overlap          # the share of the shorter roofline side not hidden
        wb, vb = BYTES_PER_WEIGHT[dep.weights], VOCABULARY_BYTES
        total = m.params_b * 1e9
        vocab = m.vocabulary_params
        routed = m.routed_expert_params_total
        self.lm_params = vocab / (1.0 if m.tied_embeddings else 2.0)
        self.dense_params = total - routed - vocab                      # attention, mixers, dense FFN
        routed_active = routed * m.experts_per_token / m.experts if m.is_moe else 0.0
        self.dense_active = m.active_params_b * 1e9 - routed_active - vocab
        self.tp = tp
        self.ep = dep.ep
        # weights read per pass, per GPU
        # the body and the lm_head; the input embedding is a gather of T rows (negligible)
        self.w_dense = (self.dense_params * wb + self.lm_params * vb) / tp
        self.w_lm = self.lm_params * vb / tp
        self.moe = m.is_moe
        if self.moe:
            self.E, self.k = float(m.experts), float(m.experts_per_token)
            self.miss = 1.0 - self.k / self.E
            self.expert_params = routed / self.E                        # one expert, every MoE layer
            self.w_routed = routed * wb / (self.ep if self.ep > 1 else tp)
        # attention: per (query, context token), all attention layers, before the tp split
        self.kvb = BYTES_PER_ELEMENT[dep.kv]
        e_layer = m.kv_elements_per_token_per_layer
        tp_kv = 1.0 if m.attention == "mla" else np.minimum(tp, m.kv_heads)
        self.kv_per_layer_tok = self.kvb * e_layer / tp_kv              # bytes, one layer, per GPU
        if m.attention == "mla":
            self.a_dec = 2.0 * m.heads * (2 * m.kv_lora_rank + m.rope_head_dim)
            self.a_pre = 2.0 * m.heads * (m.head_dim + m.rope_head_dim + m.value_head_dim)
        else:
            self.a_dec = self.a_pre = 4.0 * m.heads * m.head_dim
        self.full, self.sliding, self.window = m.full_attention_layers, m.sliding_layers, m.sliding_window
        self.topk = m.sparse_topk
        self.attn_layers = m.attention_layers
        self.index_bytes = (m.index_head_dim + 4.0) if m.sparse_topk else 0.0      # per layer, per token
        self.index_flops = 2.0 * m.index_heads * m.index_head_dim if m.sparse_topk else 0.0
        self.state_rw = 2.0 * m.state_bytes_per_sequence / tp                      # read and write
        self.linear_flops = 4.0 * m.linear_state_elements * m.linear_layers      # per token
        # communication: one all-reduce after each mixer and each FFN (MoE: all-to-all with ep)
        mixers = m.layers - m.mixerless_layers
        ffns = m.ffn_block_count - (m.moe_layers if (self.moe and self.ep > 1) else 0)
        multi = tp > 1
        link = hw.scale_up_link
        self.n_ar = np.where(multi, float(mixers + ffns), 0.0)
        skew = eff.sync_jitter_us * np.sqrt(2.0 * np.log(np.maximum(tp, 1.0)))
        self.ar_fixed = self.n_ar * (link.allreduce_latency_us(np.maximum(tp, 1)) + skew) * 1e-6
        nvlink = hw.interconnect_gb_s * GB * eff.interconnect
        network = (hw.scale_out_gb_s or hw.interconnect_gb_s) * GB * eff.interconnect
        self.ar_per_tok = np.where(multi, self.n_ar * 2.0 * (tp - 1) / tp * m.hidden * 2.0 / nvlink, 0.0)
        self.layer_fixed = (m.layers * eff.layer_overhead_us
                            + (m.moe_layers if m.is_moe else 0) * eff.moe_layer_overhead_us) * 1e-6
        self.step_fixed = eff.step_overhead_ms * 1e-3
        # pipeline sends: hidden state + residual (2 x hidden 16-bit values per token), split over
        # the tp ranks, across pp - 1 boundaries; those between servers go over the network
        from ..catalog.hardware import LINKS

        pp = dep.pp
        stage = np.asarray(dep.stage_gpus, dtype=float)
        spans = stage > hw.scale_up_gpus
        cross = np.where(spans, pp - 1, np.minimum(pp - 1, np.asarray(dep.servers) - 1))
        inside = (pp - 1) - cross
        per_tok = 2.0 * m.hidden * 2.0 / tp
        net_lat, up_lat = LINKS["network"].p2p_latency_us, link.p2p_latency_us
        self.p2p_fixed = (cross * net_lat + inside * up_lat) * 1e-6
        self.p2p_per_tok = per_tok * (cross / network + inside / nvlink)
        if self.moe and self.ep > 1:
            ep = self.ep
            far = float(np.clip((ep - hw.scale_up_gpus) / (ep - 1), 0.0, 1.0))
            per_pair = m.hidden * 2.0 * (ep - 1) / ep / ep * m.experts_per_token   # bytes per token per GPU
            self.a2a_fixed = 2.0 * m.moe_layers * (net_lat if far > 0 else up_lat) * 1e-6
            self.mu_per_tok = self.k / ep
            self.skew, self.log_ep = dep.expert_skew, float(np.log(ep))
            # the busiest GPU receives skew x the mean dispatch (and sends it back in the combine):
            # each all-to-all phase waits for it
            self.a2a_per_tok = (2.0 * m.moe_layers * per_pair * max((1 - far) / nvlink, far / network)
                                * self.skew)
            self.local_experts = self.E / ep

    # --- components ---------------------------------------------------------------------------
    def touched(self, T):
        """Distinct experts per layer a pass over ``T`` tokens touches (at least one token's worth)."""
        t = np.maximum(np.asarray(T, dtype=float), 1.0)
        return self.E * (1.0 - self.miss ** t)

    def weights_read_bytes(self, T):
        """Weight bytes one pass over ``T`` tokens reads per GPU (MoE: the touched experts)."""
        t = np.asarray(T, dtype=float)
        if not self.moe:
            return self.w_dense + 0.0 * t
        return self.w_dense + self.w_routed * (1.0 - self.miss ** np.maximum(t, 1.0))

    def linear(self, T, logits):
        """(time, memory time, compute time) of the matmuls of a pass over ``T`` tokens."""
        T = np.asarray(T, dtype=float)
        g = self.groups
        tg, lg = T / g, np.asarray(logits, dtype=float) / g
        dense_m = self.w_dense / self.bw + 0.0 * T
        dense_c = 2.0 * tg * self.dense_active / (self.tp * self.f_w)
        lm_c = 2.0 * lg * self.lm_params / (self.tp * self.f_16)
        lm_m = self.w_lm / self.bw
        # the lm_head's read is inside w_dense; its compute has its own roofline
        time = self.roof(dense_m - lm_m, dense_c) + self.roof(lm_m, lm_c)
        mem, comp = dense_m, dense_c + lm_c
        if not self.moe:
            return time, mem, comp
        if self.ep > 1:
            mu = T * self.mu_per_tok * self.skew
            pairs = mu + np.sqrt(2.0 * mu * self.log_ep)
            local_touched = self.local_experts * (1.0 - self.miss ** np.maximum(T, 1.0))
            padded = local_touched * np.maximum(pairs / np.maximum(local_touched, 1e-12), MOE_TILE_TOKENS)
            e_comp = np.where(T > 0, 2.0 * self.expert_params * padded / self.f_experts, 0.0)
            e_mem = self.w_routed * (1.0 - self.miss ** np.maximum(T, 1.0)) / self.bw
            a2a = np.where(T > 0, self.a2a_fixed + T * self.a2a_per_tok, 0.0)
            return time + self.roof(e_mem, e_comp) + a2a, mem + e_mem, comp + e_comp
        touched = self.touched(T)
        per = np.maximum(T * self.k / touched, MOE_TILE_TOKENS)
        e_comp = np.where(T > 0, 2.0 * self.expert_params / self.tp * touched * per / self.f_experts, 0.0)
        e_mem = self.w_routed * touched / self.E / self.bw
        return time + self.roof(e_mem, e_comp), mem + e_mem, comp + e_comp

    def roof(self, memory, compute):
        """One kernel's time from its memory and compute times: the larger, plus the share
        ``1 - overlap`` of the smaller that the hardware does not hide (the one place this rule is
        written; ``overlap = 1``, every GPU here, is the plain roofline maximum)."""
        longer = np.maximum(memory, compute)
        return longer if self.serial == 0 else longer + self.serial * np.minimum(memory, compute)

    def kv_read_bytes(self, context):
        """KV (and state) bytes one decode token reads per GPU at ``context``."""
        c = np.asarray(context, dtype=float)
        return (self.kv_per_layer_tok * self._attended(c)
                + self.index_bytes * self.attn_layers * c + self.state_rw)

    def _attended(self, c):
        """(layer, context token) pairs one token attends to: full layers up to a sparse top-k,
        sliding-window layers up to their window (the one place this rule is written)."""
        attended = np.minimum(c, self.topk) if self.topk else c
        windowed = np.minimum(c, self.window) if self.sliding else 0.0
        return self.full * attended + self.sliding * windowed

    def decode_flops(self, context):
        """Attention FLOPs of one decode token at ``context``, per GPU (before efficiency)."""
        c = np.asarray(context, dtype=float)
        pairs = self._attended(c)
        return (self.a_dec * pairs + self.index_flops * self.attn_layers * c + self.linear_flops) / self.tp

    def prefill_flops(self, context):
        """Attention FLOPs of one prompt token attending to ``context`` earlier ones, per GPU."""
        c = np.asarray(context, dtype=float)
        pairs = self._attended(c)
        return (self.a_pre * pairs + self.index_flops * self.attn_layers * c + self.linear_flops) / self.tp

    def attention(self, d, cd, p, cp):
        """(time, memory time, compute time) of attention for ``d`` decode and ``p`` prefill tokens."""
        g = self.groups
        d, p = np.asarray(d, dtype=float) / g, np.asarray(p, dtype=float) / g
        dec_m = d * self.kv_read_bytes(cd) / self.bw_kv
        dec_c = d * self.decode_flops(cd) / self.f_attn
        write = self.kv_per_layer_tok * self.attn_layers + self.index_bytes * self.attn_layers
        pre_m = p * write / self.bw
        pre_c = p * self.prefill_flops(cp) / self.f_attn
        return self.roof(dec_m, dec_c) + self.roof(pre_m, pre_c), dec_m + pre_m, dec_c + pre_c

    def communication(self, T):
        """Tensor-parallel all-reduces of a pass over ``T`` tokens (per data-parallel group)."""
        tg = np.asarray(T, dtype=float) / self.groups
        return np.where(tg > 0, self.ar_fixed + tg * self.ar_per_tok, 0.0)

    def layers_seconds(self, d, cd, p, cp, logits=None):
        """One pass through every layer (no step overhead, no pipeline sends)."""
        T = d + p
        if logits is None:
            logits = d + (np.asarray(p) > 0)
        lin, _, _ = self.linear(T, logits)
        att, _, _ = self.attention(d, cd, p, cp)
        return lin + att + self.communication(T) + self.layer_fixed

    def micro_batches(self, d, p, prefill_sequences=None):
        """Micro-batches a pass is cut into across the pipeline (1 without one)."""
        if self.pp == 1:
            return 1.0
        n_p = (np.asarray(p) > 0) * 1.0 if prefill_sequences is None else np.asarray(prefill_sequences, dtype=float)
        units = np.asarray(d, dtype=float) + (np.where(np.asarray(p) > 0, self.pp, 0.0)
                                              if self.chunked_pipeline else n_p)
        return np.minimum(self.pp, np.maximum(units, 1.0))

    def step_seconds(self, d, cd, p=0.0, cp=0.0, prefill_sequences=None):
        """Duration of one pass (a pipeline round when pp > 1), in seconds; 0 where empty."""
        T = d + p
        busy = np.asarray(T) > 0
        logits = d + (np.asarray(p) > 0 if prefill_sequences is None else prefill_sequences)
        if self.pp == 1:
            return np.where(busy, self.layers_seconds(d, cd, p, cp, logits) + self.step_fixed, 0.0)
        m = self.micro_batches(d, p, prefill_sequences)
        dm, pm, lm = d / m, p / m, logits / m
        total = (self.share * self.layers_seconds(dm, cd, pm, cp, lm) + self.p2p_fixed
                 + (dm + pm) / self.groups * self.p2p_per_tok + self.step_fixed)
        return np.where(busy, total, 0.0)

    def prefill_latency(self, tokens, context, sequences=1.0):
        """Time from the start of a pass over ``sequences`` prompts (``tokens`` in all, attending
        to ``context`` on average) to their first tokens, on an otherwise idle replica.

        Without a pipeline, one pass. With one, the prompts' micro-batches fill and drain it:
        a request's first token comes when its last micro-batch leaves the last stage, on average
        ``((m - 1)/2 + pp) / pp`` rounds of ``T/m`` tokens for whole requests and
        ``(m + pp - 1) / pp`` when one request's chunks fill the pipeline.
        """
        T, n = np.asarray(tokens, dtype=float), np.asarray(sequences, dtype=float)
        if self.pp == 1:
            return self.step_seconds(0.0, 0.0, T, context, n)
        m = self.micro_batches(0.0, T, n)
        rnd = self.step_seconds(0.0, 0.0, T, context, n) - self.step_fixed    # one traversal
        chunks_of_one = self.chunked_pipeline & (n < m)
        fill = np.where(chunks_of_one, (m + self.pp - 1) / self.pp, ((m - 1) / 2 + self.pp) / self.pp)
        return np.where(T > 0, fill * rnd + self.step_fixed, 0.0)

    def step_time(self, d, cd, p, cp) -> StepTime:
        """One pass (pipeline round) by component; see the module docstring.

        ``communication_s`` holds the all-reduces, the pipeline sends and the expert all-to-all;
        ``overhead_s`` the per-layer and per-pass fixed costs.
        """
        d, cd, p, cp = (np.asarray(x, dtype=float) for x in (d, cd, p, cp))
        T = d + p
        m = self.micro_batches(d, p)
        dm, pm = d / m, p / m
        x, s = dm + pm, self.share
        busy = T > 0
        logits = dm + (pm > 0)
        lin, lin_mem, lin_comp = self.linear(x, logits)
        a2a = (np.where(x > 0, self.a2a_fixed + x * self.a2a_per_tok, 0.0)
               if self.moe and self.ep > 1 else 0.0)
        att, att_mem, att_comp = self.attention(dm, cd, pm, cp)
        comm = np.where(busy, s * (self.communication(x) + a2a) + (self.p2p_fixed + x / self.groups
                                                                      * self.p2p_per_tok if self.pp > 1 else 0.0), 0.0)
        over = np.where(busy, s * self.layer_fixed + self.step_fixed, 0.0)
        total = self.step_seconds(d, cd, p, cp)
        zero = 0.0 * T
        return StepTime(s * lin_mem + zero, s * lin_comp + zero, s * att_mem + zero, s * att_comp + zero,
                        np.where(busy, s * att, 0.0), att_comp >= att_mem, comm, over, total)
