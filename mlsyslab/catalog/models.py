"""Model architectures, each with its source, and the parameter counts they imply.

Parameter count of a decoder-only transformer (norms and biases ignored, embeddings untied):

    attention (GQA/MHA) = hidden * heads * head_dim * (2 with an output gate, else 1)   (Q)
                        + 2 * hidden * kv_heads * head_dim    (K, V)
                        + heads * head_dim * hidden           (O)
    attention (MLA)     = hidden * q_lora + q_lora * heads * (head_dim + rope)
                        + hidden * (kv_lora + rope) + kv_lora * heads * (head_dim + v_head_dim)
                        + heads * v_head_dim * hidden
                        + a sparse-attention indexer: q_lora * index_heads * index_head_dim
                          + hidden * (index_head_dim + index_heads)
    linear mixer        = linear_layer_params     (Gated DeltaNet, Mamba-2: from config.json)
    dense FFN           = 3 * hidden * ffn   (gated: SwiGLU, GeGLU; 2 * hidden * ffn ungated)
    MoE layer           = experts * 3 * hidden * expert_ffn + shared * 3 * hidden * shared_ffn
    embeddings          = 2 * vocab * hidden      (vocab * hidden when input and output are tied)

Each block has a token mixer and a feed-forward part. The mixer is attention (full context, or a
sliding window of ``sliding_window`` tokens on ``sliding_layers`` of them, or sparse: a
DeepSeek-style indexer picking ``sparse_topk`` context tokens per query), a *linear* mixer with a
fixed-size state and no KV cache (``linear_layers``: Gated DeltaNet, Mamba-2), or none
(``mixerless_layers``: Nemotron-H's MLP-only blocks). Only attention layers keep a KV cache, and
a sliding-window layer keeps at most its window (vLLM's hybrid KV-cache manager and SGLang's SWA
pool free the blocks that fall out of it).

The loader checks that the stated total and active parameters agree with this within 5%, so a
typo in a layer count is caught when the package is imported. Vendors count "active" parameters
differently (OpenAI leaves the input embedding out of gpt-oss's figure); the catalog states the
count this formula gives and quotes the vendor's in ``notes``. Multi-token-prediction modules
(``mtp_layers``) ship with some checkpoints; they are not counted in the parameters (vendors
leave them out of the published totals) and serve as a draft for speculative decoding.

`Model.from_hf_config` builds a model from a Hugging Face ``config.json``: Llama, Mistral,
Mixtral, MiniMax-M2, Qwen2/2.5, Qwen3, Qwen3-MoE, Qwen3-Next and Qwen3.5 (hybrid linear
attention), DeepSeek-V3/R1 and V3.2 (sparse attention), Kimi-K2 (DeepSeek-V3's architecture under
another label), GLM-5 (MLA with a sparse indexer), gpt-oss, Gemma 2/3 and Nemotron-H (Mamba-2
hybrids); multimodal configs through their ``text_config``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .. import units as _units
from ..errors import CatalogError
from .reader import Catalog, Source, read_data, read_sources, resolve

__all__ = ["Model", "MODELS", "model"]

_INT_FIELDS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")
_COUNT_FIELDS = ("kv_lora_rank", "rope_head_dim", "q_lora_rank", "experts", "experts_per_token",
                 "expert_ffn", "moe_layers", "shared_experts", "shared_expert_ffn", "sliding_window",
                 "sliding_layers", "linear_layers", "linear_state_elements", "linear_layer_params",
                 "mixerless_layers", "v_head_dim", "sparse_topk", "index_heads", "index_head_dim",
                 "mtp_layers")
_BOOL_FIELDS = ("tied_embeddings", "hypothetical", "gated_ffn", "attention_output_gate")


@dataclass(frozen=True)
class Model:
    """A decoder-only transformer, dense or mixture-of-experts, with full, windowed, sparse or
    linear token mixers.

    Parameters
    ----------
    key : str
        Catalog key, such as ``llama-3-70b``.
    name : str
        Display name.
    layers : int
        Transformer blocks.
    hidden : int
        Width of the residual stream (``hidden_size``).
    heads : int
        Query heads per attention layer.
    kv_heads : int
        Key/value heads per attention layer (equal to ``heads`` for MHA, fewer for GQA).
    head_dim : int
        Width of one attention head (for MLA, the non-RoPE part of a query or key head).
    ffn : int
        Width of a dense feed-forward layer (``intermediate_size``).
    vocab : int
        Vocabulary size.
    params_b : float
        Total parameters, in billions.
    active_params_b : float
        Parameters one token uses, in billions (equal to ``params_b`` for dense models).
    attention : str
        ``"mha"``, ``"gqa"`` or ``"mla"``.
    kv_lora_rank : int
        MLA only: width of the cached latent (0 for other attention kinds).
    rope_head_dim : int
        MLA only: width of the decoupled RoPE key that is cached beside the latent.
    q_lora_rank : int
        MLA only: width of the query compression (0 when queries are not compressed).
    v_head_dim : int
        MLA only: width of a value head (0: equal to ``head_dim``; GLM-5 has 256 against 192).
    experts : int
        Routed experts per MoE layer (1 for dense models).
    experts_per_token : int
        Experts each token is routed to (1 for dense models).
    expert_ffn : int
        Width of one routed expert's feed-forward layer (0 for dense models).
    moe_layers : int
        Layers whose feed-forward part is a mixture of experts (0 for dense models).
    shared_experts : int
        Experts every token uses in each MoE layer (0 unless the model has them).
    shared_expert_ffn : int
        Width of a shared expert (0: equal to ``expert_ffn``).
    sliding_window : int
        Tokens a sliding-window attention layer attends to (0: none).
    sliding_layers : int
        Attention layers that use the sliding window (the others attend to the whole context).
    sparse_topk : int
        Sparse attention (DeepSeek-V3.2, GLM-5): context tokens a lightweight indexer picks for
        each query (0: dense attention).
    index_heads, index_head_dim : int
        The indexer's heads and their width (its keys are cached beside the KV, in 8 bits).
    linear_layers : int
        Layers whose mixer is linear attention or a state-space model (Gated DeltaNet, Mamba-2):
        no KV cache, a state of ``linear_state_elements`` per sequence instead.
    linear_state_elements : int
        Elements of one linear layer's state per sequence (recurrent state and convolution window).
    linear_state_bytes : float
        Bytes per state element (2 for 16-bit; Qwen3.5 keeps it in fp32, 4).
    linear_layer_params : int
        Parameters of one linear mixer (its projections).
    mixerless_layers : int
        Blocks with no token mixer (Nemotron-H's MLP-only blocks).
    ffn_layers : int or None
        Blocks with a feed-forward part (``None``: every block; Nemotron-H: its MLP blocks only).
    gated_ffn : bool
        Three FFN matrices (SwiGLU, GeGLU; the default) or two (squared ReLU, Nemotron-H).
    attention_output_gate : bool
        The query projection also produces an output gate (Qwen3-Next, Qwen3.5): twice its width.
    mtp_layers : int
        Multi-token-prediction modules shipped with the checkpoint (a built-in draft).
    max_context : int or None
        The longest context (prompt plus output, tokens) the model supports
        (``max_position_embeddings``); ``None`` where unstated (then not checked).
    tied_embeddings : bool
        Input embedding and output projection share one matrix.
    hypothetical : bool
        A made-up model; ``notes`` must then state its assumptions.
    notes : str
        Assumptions and remarks (vendor counts, context extensions).
    source : Source or None
        Where the architecture comes from, with its date.
    """

    key: str
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    params_b: float
    active_params_b: float
    attention: str = "gqa"
    kv_lora_rank: int = 0
    rope_head_dim: int = 0
    q_lora_rank: int = 0
    v_head_dim: int = 0
    experts: int = 1
    experts_per_token: int = 1
    expert_ffn: int = 0
    moe_layers: int = 0
    shared_experts: int = 0
    shared_expert_ffn: int = 0
    sliding_window: int = 0
    sliding_layers: int = 0
    sparse_topk: int = 0
    index_heads: int = 0
    index_head_dim: int = 0
    linear_layers: int = 0
    linear_state_elements: int = 0
    linear_state_bytes: float = 2.0
    linear_layer_params: int = 0
    mixerless_layers: int = 0
    ffn_layers: int | None = None
    gated_ffn: bool = True
    attention_output_gate: bool = False
    mtp_layers: int = 0
    max_context: int | None = None
    tied_embeddings: bool = False
    hypothetical: bool = False
    notes: str = ""
    source: Source | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        def bad(msg):
            raise CatalogError(f"model {self.key!r}: {msg}")

        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not _whole(value) or value < 1:
                bad(f"{name} must be a positive whole number; got {value!r}")
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if not _whole(value) or value < 0:
                bad(f"{name} must be a whole number >= 0; got {value!r}")
        for name in _BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                bad(f"{name} must be true or false; got {getattr(self, name)!r}")
        for name in ("params_b", "active_params_b", "linear_state_bytes"):
            value = getattr(self, name)
            if not _real(value) or not 0 < value < math.inf:
                bad(f"{name} must be a finite number > 0; got {value!r}")
        if self.attention not in ("mha", "gqa", "mla"):
            bad(f"attention must be 'mha', 'gqa' or 'mla'; got {self.attention!r}")
        if self.heads % self.kv_heads:
            bad(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.attention == "mha" and self.kv_heads != self.heads:
            bad("MHA needs kv_heads == heads")
        if self.attention == "mla" and (self.kv_lora_rank < 1 or self.rope_head_dim < 1):
            bad("MLA needs kv_lora_rank and rope_head_dim")
        if not 0 < self.active_params_b <= self.params_b:
            bad("need 0 < active_params_b <= params_b")
        if self.experts < 1:
            bad(f"experts must be at least 1 (1 for a dense model); got {self.experts}")
        if self.is_moe:
            if not 1 <= self.experts_per_token <= self.experts:
                bad("experts_per_token must be in 1..experts")
            if self.expert_ffn < 1 or not 1 <= self.moe_layers <= self.layers:
                bad("an MoE model needs expert_ffn and moe_layers")
        if self.linear_layers + self.mixerless_layers >= self.layers:
            bad("at least one layer must be an attention layer")
        if self.sliding_layers > self.attention_layers:
            bad(f"sliding_layers ({self.sliding_layers}) is more than the {self.attention_layers} "
                f"attention layers")
        if (self.sliding_layers > 0) != (self.sliding_window > 0):
            bad("sliding_window and sliding_layers go together (both 0 or both positive)")
        if self.linear_layers and (self.linear_state_elements < 1 or self.linear_layer_params < 1):
            bad("linear layers need linear_state_elements and linear_layer_params")
        if self.sparse_topk and (self.attention != "mla" or not self.index_heads or not self.index_head_dim):
            bad("sparse attention (sparse_topk) is modelled for MLA with an indexer (index_heads, index_head_dim)")
        if self.ffn_layers is not None and (not _whole(self.ffn_layers) or not 0 <= self.ffn_layers <= self.layers):
            bad(f"ffn_layers must be a whole number from 0 to {self.layers}; got {self.ffn_layers!r}")
        if self.moe_layers > self.ffn_block_count:
            bad(f"moe_layers ({self.moe_layers}) is more than the {self.ffn_block_count} FFN blocks")
        if self.max_context is not None and (not _whole(self.max_context) or self.max_context < 1):
            bad("max_context must be a positive whole number or None")
        if self.hypothetical and not self.notes.strip():
            bad("a hypothetical model must state its assumptions in notes")

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    # --- layers by kind -------------------------------------------------------------------
    @property
    def attention_layers(self) -> int:
        """Layers with attention (and so a KV cache): all but the linear and mixer-less ones."""
        return self.layers - self.linear_layers - self.mixerless_layers

    @property
    def full_attention_layers(self) -> int:
        """Attention layers that attend to the whole context (not in a sliding window)."""
        return self.attention_layers - self.sliding_layers

    @property
    def ffn_block_count(self) -> int:
        """Blocks with a feed-forward part (every block unless ``ffn_layers`` says otherwise)."""
        return self.layers if self.ffn_layers is None else self.ffn_layers

    @property
    def value_head_dim(self) -> int:
        """MLA value head width (``v_head_dim``, or ``head_dim`` when not stated)."""
        return self.v_head_dim or self.head_dim

    # --- parameter accounting -------------------------------------------------------------
    def _attention_params_per_layer(self) -> float:
        h, hd = self.hidden, self.head_dim
        if self.attention == "mla":
            vd = self.value_head_dim
            q = (h * self.q_lora_rank + self.q_lora_rank * self.heads * (hd + self.rope_head_dim)
                 if self.q_lora_rank else h * self.heads * (hd + self.rope_head_dim))
            kv = h * (self.kv_lora_rank + self.rope_head_dim) + self.kv_lora_rank * self.heads * (hd + vd)
            index = 0.0
            if self.index_heads:
                index = ((self.q_lora_rank or h) * self.index_heads * self.index_head_dim
                         + h * (self.index_head_dim + self.index_heads))
            return q + kv + self.heads * vd * h + index
        gate = 2 if self.attention_output_gate else 1
        return h * self.heads * hd * gate + 2 * h * self.kv_heads * hd + self.heads * hd * h

    @property
    def expert_params(self) -> float:
        """Parameters of one routed expert in one layer (SwiGLU: 3 x hidden x expert_ffn)."""
        return 3.0 * self.hidden * self.expert_ffn if self.is_moe else 0.0

    @property
    def shared_expert_params(self) -> float:
        """Parameters of the shared experts of one MoE layer."""
        return self.shared_experts * 3.0 * self.hidden * (self.shared_expert_ffn or self.expert_ffn)

    @property
    def embedding_params(self) -> float:
        """One vocabulary matrix (``vocab x hidden``): the input embedding, or the lm_head."""
        return float(self.vocab * self.hidden)

    def architecture_params(self) -> tuple[float, float]:
        """(total, active) parameters implied by the architecture, from the formula above."""
        attn = self._attention_params_per_layer() * self.attention_layers
        mixers = attn + float(self.linear_layer_params) * self.linear_layers
        embed = (1.0 if self.tied_embeddings else 2.0) * self.embedding_params
        dense_layers = self.ffn_block_count - (self.moe_layers if self.is_moe else 0)
        dense_ffn = (3.0 if self.gated_ffn else 2.0) * self.hidden * self.ffn * dense_layers
        if not self.is_moe:
            total = mixers + embed + dense_ffn
            return total, total
        routed = self.experts * self.expert_params * self.moe_layers
        shared = self.shared_expert_params * self.moe_layers
        base = mixers + embed + dense_ffn + shared
        active = base + self.experts_per_token * self.expert_params * self.moe_layers
        return base + routed, active

    @property
    def routed_expert_params_total(self) -> float:
        """All routed-expert parameters (every expert, every MoE layer), from the stated total.

        Scaled so that ``non_expert_params + routed_expert_params_total == params``.
        """
        if not self.is_moe:
            return 0.0
        arch_total, _ = self.architecture_params()
        routed = self.experts * self.expert_params * self.moe_layers
        return routed * self.params_b * 1e9 / arch_total

    @property
    def non_expert_params(self) -> float:
        """Parameters every token uses: attention, embeddings, dense and shared-expert FFNs."""
        return self.params_b * 1e9 - self.routed_expert_params_total

    @property
    def vocabulary_params(self) -> float:
        """Parameters of the vocabulary matrices (input embedding and lm_head; one when tied),
        scaled like the rest to the stated total."""
        arch_total, _ = self.architecture_params()
        embed = (1.0 if self.tied_embeddings else 2.0) * self.embedding_params
        return embed * self.params_b * 1e9 / arch_total

    @property
    def params(self):
        return self.params_b * 1e9 * _units.ureg.dimensionless

    # --- KV cache and state ---------------------------------------------------------------
    @property
    def kv_elements_per_token_per_layer(self) -> float:
        """KV-cache elements one token stores in one attention layer.

        MHA/GQA: ``2 * kv_heads * head_dim`` (K and V). MLA: ``kv_lora_rank + rope_head_dim``
        (one compressed latent plus the RoPE key).
        """
        if self.attention == "mla":
            return float(self.kv_lora_rank + self.rope_head_dim)
        return float(2 * self.kv_heads * self.head_dim)

    @property
    def kv_elements_per_token(self) -> float:
        """KV-cache elements a token stores across all attention layers, below any window.

        Beyond a sliding window, windowed layers stop growing: see `kv_elements`.
        """
        return self.kv_elements_per_token_per_layer * self.attention_layers

    def kv_elements(self, context):
        """KV elements one sequence of ``context`` tokens holds (arrays broadcast).

        Full-attention layers hold every token, sliding-window layers at most their window.
        The sparse indexer's 8-bit keys and the linear layers' fixed state are counted in bytes,
        not here (`index_bytes_per_token`, `state_bytes_per_sequence`).
        """
        import numpy as np

        c = np.asarray(context, dtype=float)
        per = self.kv_elements_per_token_per_layer
        windowed = np.minimum(c, self.sliding_window) if self.sliding_layers else 0.0
        return per * (self.full_attention_layers * c + self.sliding_layers * windowed)

    @property
    def index_bytes_per_token(self) -> float:
        """Bytes a token's sparse-indexer keys take across the attention layers: ``index_head_dim``
        fp8 values plus one fp32 scale per layer (DeepSeek-V3.2's indexer cache)."""
        return float((self.index_head_dim + 4) * self.attention_layers) if self.sparse_topk else 0.0

    @property
    def state_bytes_per_sequence(self) -> float:
        """Bytes of the linear layers' fixed state one sequence holds, whatever its context."""
        return float(self.linear_layers * self.linear_state_elements * self.linear_state_bytes)

    @property
    def layer_kinds(self) -> str:
        """The mixers in words: ``"62 layers: 10 full attention, 52 in a 1,024-token window"``."""
        parts = []
        if self.full_attention_layers:
            kind = (f"sparse attention (top-{self.sparse_topk:,} of the context)" if self.sparse_topk
                    else "full attention")
            parts.append(f"{self.full_attention_layers} {kind}")
        if self.sliding_layers:
            parts.append(f"{self.sliding_layers} in a {self.sliding_window:,}-token window")
        if self.linear_layers:
            parts.append(f"{self.linear_layers} linear (fixed state)")
        if self.mixerless_layers:
            parts.append(f"{self.mixerless_layers} without a mixer")
        return f"{self.layers} layers: " + ", ".join(parts)

    @classmethod
    def from_hf_config(cls, path_or_dict, *, key: str | None = None, name: str | None = None) -> Model:
        """Build a model from a Hugging Face ``config.json`` (a path or the parsed dict).

        Supported families (``model_type``): Llama, Mistral, Mixtral, MiniMax-M2, Qwen2/2.5,
        Qwen3, Qwen3-MoE, Qwen3-Next, Qwen3.5 (dense and MoE), DeepSeek-V3/R1, DeepSeek-V3.2,
        Kimi-K2 and K2.5, GLM-5 (``glm_moe_dsa``), gpt-oss, Gemma 2/3 and Nemotron-H;
        multimodal configs through their ``text_config``. Parameters are computed from the
        architecture (biases and norms ignored, under 1%). Sliding windows, sparse attention and
        linear layers are read from the config (``layer_types``, ``sliding_window_pattern``,
        ``index_topk``, ``hybrid_override_pattern``). An unknown architecture or a field that is
        missing, not a whole number, or inconsistent (heads that do not divide the width they
        must, zero experts) is refused with a `CatalogError` that says which.

        >>> m = Model.from_hf_config({"model_type": "llama", "num_hidden_layers": 32,
        ...     "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
        ...     "intermediate_size": 14336, "vocab_size": 128256})
        >>> round(m.params_b, 2)
        8.03
        """
        return _from_hf_config(cls, path_or_dict, key=key, name=name)

    def __str__(self) -> str:
        moe = (f", MoE {self.experts_per_token}/{self.experts} experts"
               if self.is_moe else "")
        hyp = " (hypothetical)" if self.hypothetical else ""
        kinds = (f"; {self.layer_kinds}" if self.sliding_layers or self.linear_layers
                 or self.mixerless_layers or self.sparse_topk else "")
        return (f"{self.name}{hyp}: {self.params_b:g}B params ({self.active_params_b:g}B active), "
                f"{self.layers} layers, hidden {self.hidden}, {self.attention.upper()} "
                f"{self.heads}/{self.kv_heads} heads{moe}{kinds}")


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


_HF_FAMILIES = {  # model_type -> how its config maps onto Model
    "llama": "dense", "mistral": "dense", "qwen2": "dense", "qwen3": "dense",
    "gemma2": "dense", "gemma3_text": "dense", "gemma3": "dense",
    "mixtral": "mixtral", "minimax_m2": "mixtral", "qwen3_moe": "qwen3_moe",
    "deepseek_v3": "deepseek", "deepseek_v32": "deepseek", "kimi_k2": "deepseek",
    "glm_moe_dsa": "deepseek", "gpt_oss": "gpt_oss",
    "qwen3_next": "qwen_hybrid", "qwen3_5_moe": "qwen_hybrid", "qwen3_5_moe_text": "qwen_hybrid",
    "qwen3_5": "qwen_hybrid", "qwen3_5_text": "qwen_hybrid", "nemotron_h": "nemotron_h",
}
_ALIASES = {"kimi_k2": "DeepSeek-V3's architecture (DeepseekV3ForCausalLM) under Moonshot's label",
            "kimi_k25": "a multimodal wrapper of a kimi_k2 text config"}


def _from_hf_config(cls, path_or_dict, *, key=None, name=None) -> Model:
    import json
    from pathlib import Path

    if isinstance(path_or_dict, dict):
        cfg, origin, stem = dict(path_or_dict), "a config dict", None
    elif isinstance(path_or_dict, (str, os.PathLike)):
        path = Path(path_or_dict)
        if path.is_dir():
            path = path / "config.json"
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError(f"no config.json at {str(path)!r}") from None
        except IsADirectoryError:
            raise CatalogError(f"{str(path)!r} is a folder without a config.json") from None
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise CatalogError(f"{str(path)!r} is not a JSON config: {exc}") from None
        origin, stem = str(path), (path.parent.name if path.name == "config.json" else path.stem)
    else:
        raise CatalogError(f"a model config must be a path or a dict; got {type(path_or_dict).__name__}")
    if not isinstance(cfg, dict):
        raise CatalogError(f"{origin} is not a JSON object")
    outer_type = cfg.get("model_type")
    if "text_config" in cfg and isinstance(cfg["text_config"], dict):   # multimodal: the text decoder
        inner = cfg["text_config"]
        cfg = {**{k: v for k, v in cfg.items() if k in ("_name_or_path", "tie_word_embeddings")},
               **inner, "model_type": inner.get("model_type") or outer_type}
    mtype = cfg.get("model_type")
    if not isinstance(mtype, str):
        raise CatalogError(f"{origin}: model_type must be a string; got {mtype!r}")
    family = _HF_FAMILIES.get(mtype)
    if family is None:
        arch = ", ".join(str(a) for a in (cfg.get("architectures") or [])) or str(mtype)
        raise CatalogError(f"{origin}: architecture {arch} (model_type {mtype!r}) is not supported; "
                           f"supported model types: {', '.join(sorted(_HF_FAMILIES))}")

    def whole(field, value, minimum=1):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _whole(value) or value < minimum:
            raise CatalogError(f"{origin}: {field} must be a whole number >= {minimum}; got {value!r}")
        return value

    def need(field, minimum=1):
        if field not in cfg or cfg[field] is None:
            raise CatalogError(f"{origin}: {mtype} config has no {field!r}")
        return whole(field, cfg[field], minimum)

    def opt(field, default=0, minimum=0):
        value = cfg.get(field)
        return default if value is None else whole(field, value, minimum)

    def flag(field, default):
        value = cfg.get(field, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise CatalogError(f"{origin}: {field} must be true or false; got {value!r}")
        return value

    layers, hidden = need("num_hidden_layers"), need("hidden_size")
    heads = need("num_attention_heads")
    kv_heads = opt("num_key_value_heads", heads, 1)
    if heads % kv_heads:
        raise CatalogError(f"{origin}: num_attention_heads ({heads}) must be a multiple of "
                           f"num_key_value_heads ({kv_heads})")
    if cfg.get("head_dim") is None and hidden % heads:
        raise CatalogError(f"{origin}: hidden_size ({hidden}) is not a multiple of num_attention_heads "
                           f"({heads}) and no head_dim is given")
    head_dim = opt("head_dim", hidden // heads, 1)
    max_pos = cfg.get("max_position_embeddings")
    kw = dict(layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
              ffn=(need("intermediate_size") if cfg.get("intermediate_size") is not None or
                   cfg.get("moe_intermediate_size") is None else need("moe_intermediate_size")),
              vocab=need("vocab_size"),
              max_context=whole("max_position_embeddings", max_pos) if max_pos else None,
              tied_embeddings=flag("tie_word_embeddings", mtype.startswith("gemma")),
              attention="gqa" if kv_heads < heads else "mha")
    notes = []
    layer_types = cfg.get("layer_types")
    if layer_types is not None and (not isinstance(layer_types, list)
                                    or not all(isinstance(x, str) for x in layer_types)):
        raise CatalogError(f"{origin}: layer_types must be a list of strings")
    if layer_types is not None and len(layer_types) != layers:
        raise CatalogError(f"{origin}: layer_types lists {len(layer_types)} layers, "
                           f"num_hidden_layers says {layers}")
    if family == "mixtral":
        kw.update(experts=need("num_local_experts"), experts_per_token=need("num_experts_per_tok"),
                  expert_ffn=kw["ffn"], moe_layers=layers)
        shared = opt("shared_intermediate_size")
        if shared:
            kw.update(shared_experts=1, shared_expert_ffn=shared)
        kw["mtp_layers"] = opt("num_mtp_modules") if flag("use_mtp", False) else 0
    elif family == "gpt_oss":
        kw.update(experts=need("num_local_experts"),
                  experts_per_token=opt("num_experts_per_tok") or need("experts_per_token"),
                  expert_ffn=kw["ffn"], moe_layers=layers)
    elif family in ("qwen3_moe", "qwen_hybrid"):
        if family == "qwen3_moe" or cfg.get("num_experts") is not None:
            dense_layers = set(cfg.get("mlp_only_layers") or [])
            step = opt("decoder_sparse_step", 1, 1)
            moe = [i for i in range(layers) if i not in dense_layers and (i + 1) % step == 0]
            kw.update(experts=need("num_experts", 2), experts_per_token=need("num_experts_per_tok"),
                      expert_ffn=need("moe_intermediate_size"), moe_layers=len(moe))
            shared = opt("shared_expert_intermediate_size")
            if shared:
                kw.update(shared_experts=1, shared_expert_ffn=shared)
    elif family == "deepseek":
        kw.update(attention="mla", kv_heads=heads, head_dim=need("qk_nope_head_dim"),
                  kv_lora_rank=need("kv_lora_rank"), rope_head_dim=need("qk_rope_head_dim"),
                  q_lora_rank=opt("q_lora_rank"), v_head_dim=opt("v_head_dim"),
                  experts=need("n_routed_experts", 2), experts_per_token=need("num_experts_per_tok"),
                  expert_ffn=need("moe_intermediate_size"),
                  moe_layers=layers - opt("first_k_dense_replace"),
                  shared_experts=opt("n_shared_experts"), mtp_layers=opt("num_nextn_predict_layers"))
        if kw["v_head_dim"] == kw["head_dim"]:
            kw["v_head_dim"] = 0
        if cfg.get("index_topk"):
            kw.update(sparse_topk=need("index_topk"), index_heads=need("index_n_heads"),
                      index_head_dim=need("index_head_dim"))
        labels = [f"model_type {x!r}: {_ALIASES[x]}" for x in dict.fromkeys((outer_type, mtype)) if x in _ALIASES]
        if labels:
            notes.append("; ".join(labels))
    if family == "qwen_hybrid":
        kinds = layer_types or ["full_attention" if (i + 1) % opt("full_attention_interval", 4, 1) == 0
                                else "linear_attention" for i in range(layers)]
        linear = sum(k == "linear_attention" for k in kinds)
        kh, vh = need("linear_num_key_heads"), need("linear_num_value_heads")
        dk, dv = need("linear_key_head_dim"), need("linear_value_head_dim")
        conv = need("linear_conv_kernel_dim")
        key_dim, value_dim = kh * dk, vh * dv
        params = hidden * (2 * key_dim + 2 * value_dim + 2 * vh) + (2 * key_dim + value_dim) * conv \
            + value_dim * hidden
        state = vh * dk * dv + (2 * key_dim + value_dim) * (conv - 1)
        dtype = str(cfg.get("mamba_ssm_dtype") or "bfloat16")
        kw.update(linear_layers=linear, linear_state_elements=state, linear_layer_params=params,
                  linear_state_bytes=4.0 if "32" in dtype else 2.0,
                  attention_output_gate=flag("attn_output_gate", True),
                  mtp_layers=opt("mtp_num_hidden_layers") or opt("num_nextn_predict_layers"))
        notes.append(f"{linear} Gated DeltaNet layers hold a fixed state ({state:,} elements each, "
                     f"{kw['linear_state_bytes']:g} bytes per element) instead of a KV cache")
    elif family == "nemotron_h":
        pattern = cfg.get("hybrid_override_pattern")
        if not isinstance(pattern, str) or len(pattern) != layers or set(pattern) - set("M*-E"):
            raise CatalogError(f"{origin}: hybrid_override_pattern must be a string of {layers} "
                               f"characters from 'M' (Mamba-2), '*' (attention), '-' (MLP)")
        if "E" in pattern:
            raise CatalogError(f"{origin}: Nemotron-H MoE blocks ('E') are not modelled yet")
        mh, md, ds = need("mamba_num_heads"), need("mamba_head_dim"), need("ssm_state_size")
        groups, conv = opt("n_groups", 1, 1), opt("conv_kernel", 4, 1)
        d_inner = mh * md
        conv_dim = d_inner + 2 * groups * ds
        params = hidden * (2 * d_inner + 2 * groups * ds + mh) + conv_dim * conv + d_inner * hidden
        kw.update(head_dim=opt("attention_head_dim") or head_dim,
                  linear_layers=pattern.count("M"), mixerless_layers=pattern.count("-"),
                  ffn_layers=pattern.count("-"), gated_ffn=False,
                  linear_state_elements=mh * md * ds + conv_dim * (conv - 1),
                  linear_layer_params=params)
        notes.append(f"Nemotron-H: {pattern.count('M')} Mamba-2, {pattern.count('*')} attention and "
                     f"{pattern.count('-')} MLP blocks (squared-ReLU MLPs of two matrices)")
    # sliding windows: which layers, from layer_types or the repeating pattern
    window = cfg.get("sliding_window")
    uses_window = bool(window) and (flag("use_sliding_window", False) if mtype.startswith("qwen") else True)
    if uses_window:
        window = whole("sliding_window", window)
        if layer_types:
            sliding = sum(k == "sliding_attention" for k in layer_types)
        elif cfg.get("sliding_window_pattern"):
            every = whole("sliding_window_pattern", cfg["sliding_window_pattern"])
            sliding = sum((i + 1) % every != 0 for i in range(layers))
        elif mtype == "gemma2":
            sliding = layers - layers // 2           # Gemma 2 alternates local and global layers
        else:
            sliding = layers                         # Mistral v0.1: every layer
        if sliding and sliding < layers - kw.get("linear_layers", 0) - kw.get("mixerless_layers", 0) + 1:
            kw.update(sliding_window=window, sliding_layers=sliding)
    key = key or str(cfg.get("_name_or_path") or stem or mtype).split("/")[-1].lower()
    try:
        probe = cls(key=key, name=name or key, params_b=1.0, active_params_b=1.0, **kw)
    except CatalogError as exc:
        raise CatalogError(f"{origin}: {exc}") from None
    total, active = probe.architecture_params()
    notes.append(f"parameters computed from the architecture in {origin}")
    return cls(key=key, name=name or key, params_b=round(total / 1e9, 3),
               active_params_b=round(active / 1e9, 3), notes="; ".join(notes), **kw)


def _check_counts(m: Model) -> None:
    total, active = m.architecture_params()
    for what, stated, derived in (("params_b", m.params_b, total), ("active_params_b", m.active_params_b, active)):
        if abs(derived / 1e9 - stated) > 0.05 * stated:
            raise CatalogError(
                f"models.toml: {m.key}: {what} = {stated:g}B but the architecture implies "
                f"{derived / 1e9:.2f}B; check the layer and width fields"
            )


def _load() -> Catalog[Model]:
    data = read_data("models.toml")
    sources = read_sources(data, "models.toml")
    entries, aliases = {}, {}
    for key, raw in data.get("models", {}).items():
        raw = dict(raw)
        sid = raw.pop("source", None)
        if sid not in sources:
            raise CatalogError(f"models.toml: model {key!r} names no known source ({sid!r})")
        for alias in raw.pop("aliases", []):
            aliases[alias] = key
        try:
            m = Model(key=key, source=sources[sid], **raw)
        except TypeError as exc:
            raise CatalogError(f"models.toml: model {key!r}: {exc}") from None
        _check_counts(m)
        entries[key] = m
    return Catalog("model", entries, aliases)


MODELS: Catalog[Model] = _load()


def model(name_or_spec) -> Model:
    """A `Model` by forgiving catalog name, passed through, or built from a ``config.json`` path.

    ``"Llama3_8B"`` finds ``llama-3-8b``; a path to a Hugging Face ``config.json`` (or a folder
    holding one) goes through `Model.from_hf_config`.

    Parameters
    ----------
    name_or_spec : str, Path or Model
        A catalog name (forgiving; the closest are suggested when none matches), a path to a
        ``config.json`` or to a folder holding one, or a `Model`, returned unchanged.

    Returns
    -------
    Model
        The architecture, with its source.

    Examples
    --------
    >>> m = ml.model("Llama3_70B")
    >>> m.key, m.params_b
    ('llama-3-70b', 70.55)
    """
    if isinstance(name_or_spec, os.PathLike) or (
            isinstance(name_or_spec, str) and (name_or_spec.endswith(".json") or os.sep in name_or_spec)):
        path = os.fspath(name_or_spec)
        if os.path.exists(path):
            return Model.from_hf_config(path)
        if path.endswith(".json"):
            raise CatalogError(f"no model config at {path!r}")
    return resolve(name_or_spec, MODELS, Model)
