"""Model architectures, each with its source, and the parameter counts they imply.

Parameter count of a decoder-only transformer (norms and biases ignored, embeddings untied):

    attention (GQA/MHA) = hidden * heads * head_dim          (Q)
                        + 2 * hidden * kv_heads * head_dim    (K, V)
                        + heads * head_dim * hidden           (O)
    attention (MLA)     = hidden * q_lora + q_lora * heads * (head_dim + rope)
                        + hidden * (kv_lora + rope) + kv_lora * heads * 2 * head_dim
                        + heads * head_dim * hidden
    dense FFN (SwiGLU)  = 3 * hidden * ffn
    MoE layer           = (experts + shared) * 3 * hidden * expert_ffn
    embeddings          = 2 * vocab * hidden      (vocab * hidden when input and output are tied)

The loader checks that the stated total and active parameters agree with this within 5%, so a
typo in a layer count is caught when the package is imported. Vendors count "active" parameters
differently (OpenAI leaves the input embedding out of gpt-oss's figure); the catalog states the
count this formula gives and quotes the vendor's in ``notes``.

`Model.from_hf_config` builds a model from a Hugging Face ``config.json`` (Llama, Mistral,
Mixtral, Qwen2/2.5, Qwen3, Qwen3-MoE, DeepSeek-V3/R1, gpt-oss, Gemma 2/3), computing the
parameters from the architecture. Sliding-window layers (Gemma, gpt-oss, Mistral's v0.1) are
recorded but the KV cache is computed as if every layer attends to the whole context: an upper
bound, stated in the model's ``notes``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import units as _units
from ..errors import CatalogError
from .reader import Catalog, Source, read_data, read_sources, resolve

__all__ = ["Model", "MODELS", "model"]

_INT_FIELDS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")


@dataclass(frozen=True)
class Model:
    """A decoder-only transformer, dense or mixture-of-experts.

    Parameters
    ----------
    key : str
        Catalog key, such as ``llama-3-70b``.
    name : str
        Display name.
    layers : int
        Transformer layers.
    hidden : int
        Width of the residual stream (``hidden_size``).
    heads : int
        Query heads per layer.
    kv_heads : int
        Key/value heads per layer (equal to ``heads`` for MHA, fewer for GQA).
    head_dim : int
        Width of one attention head (for MLA, the non-RoPE part of a query or key head).
    ffn : int
        Width of a dense feed-forward layer (``intermediate_size``, SwiGLU).
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
    max_context : int or None
        The longest context (prompt plus output, tokens) the model supports
        (``max_position_embeddings``); ``None`` where unstated (then not checked).
    tied_embeddings : bool
        Input embedding and output projection share one matrix.
    hypothetical : bool
        A made-up model; ``notes`` must then state its assumptions.
    notes : str
        Assumptions and remarks (vendor counts, sliding windows, context extensions).
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
    experts: int = 1
    experts_per_token: int = 1
    expert_ffn: int = 0
    moe_layers: int = 0
    shared_experts: int = 0
    max_context: int | None = None
    tied_embeddings: bool = False
    hypothetical: bool = False
    notes: str = ""
    source: Source | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise CatalogError(f"model {self.key!r}: {name} must be a positive whole number; got {value!r}")
        if self.attention not in ("mha", "gqa", "mla"):
            raise CatalogError(f"model {self.key!r}: attention must be 'mha', 'gqa' or 'mla'; got {self.attention!r}")
        if self.heads % self.kv_heads:
            raise CatalogError(f"model {self.key!r}: heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.attention == "mha" and self.kv_heads != self.heads:
            raise CatalogError(f"model {self.key!r}: MHA needs kv_heads == heads")
        if self.attention == "mla" and (self.kv_lora_rank < 1 or self.rope_head_dim < 1):
            raise CatalogError(f"model {self.key!r}: MLA needs kv_lora_rank and rope_head_dim")
        if not 0 < self.active_params_b <= self.params_b:
            raise CatalogError(f"model {self.key!r}: need 0 < active_params_b <= params_b")
        if self.is_moe:
            if not 1 <= self.experts_per_token <= self.experts:
                raise CatalogError(f"model {self.key!r}: experts_per_token must be in 1..experts")
            if self.expert_ffn < 1 or not 1 <= self.moe_layers <= self.layers:
                raise CatalogError(f"model {self.key!r}: an MoE model needs expert_ffn and moe_layers")
        if self.max_context is not None and (not isinstance(self.max_context, int) or self.max_context < 1):
            raise CatalogError(f"model {self.key!r}: max_context must be a positive whole number or None")
        if self.hypothetical and not self.notes.strip():
            raise CatalogError(f"model {self.key!r}: a hypothetical model must state its assumptions in notes")

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    # --- parameter accounting -------------------------------------------------------------
    def _attention_params_per_layer(self) -> float:
        h, hd = self.hidden, self.head_dim
        if self.attention == "mla":
            q = (h * self.q_lora_rank + self.q_lora_rank * self.heads * (hd + self.rope_head_dim)
                 if self.q_lora_rank else h * self.heads * (hd + self.rope_head_dim))
            kv = h * (self.kv_lora_rank + self.rope_head_dim) + self.kv_lora_rank * self.heads * 2 * hd
            return q + kv + self.heads * hd * h
        return h * self.heads * hd + 2 * h * self.kv_heads * hd + self.heads * hd * h

    @property
    def expert_params(self) -> float:
        """Parameters of one routed expert in one layer (SwiGLU: 3 x hidden x expert_ffn)."""
        return 3.0 * self.hidden * self.expert_ffn if self.is_moe else 0.0

    def architecture_params(self) -> tuple[float, float]:
        """(total, active) parameters implied by the architecture, from the formula above."""
        attn = self._attention_params_per_layer() * self.layers
        embed = (1.0 if self.tied_embeddings else 2.0) * self.vocab * self.hidden
        dense_layers = self.layers - self.moe_layers if self.is_moe else self.layers
        dense_ffn = 3.0 * self.hidden * self.ffn * dense_layers
        if not self.is_moe:
            total = attn + embed + dense_ffn
            return total, total
        routed = self.experts * self.expert_params * self.moe_layers
        shared = self.shared_experts * self.expert_params * self.moe_layers
        base = attn + embed + dense_ffn + shared
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
    def params(self):
        return self.params_b * 1e9 * _units.ureg.dimensionless

    @property
    def kv_elements_per_token(self) -> float:
        """KV-cache elements stored per token across all layers.

        MHA/GQA: ``2 * layers * kv_heads * head_dim`` (K and V).
        MLA: ``layers * (kv_lora_rank + rope_head_dim)`` (one compressed latent plus the RoPE key).
        """
        if self.attention == "mla":
            return float(self.layers * (self.kv_lora_rank + self.rope_head_dim))
        return float(2 * self.layers * self.kv_heads * self.head_dim)

    @classmethod
    def from_hf_config(cls, path_or_dict, *, key: str | None = None, name: str | None = None) -> Model:
        """Build a model from a Hugging Face ``config.json`` (a path or the parsed dict).

        Supported families: Llama, Mistral, Mixtral, Qwen2/2.5, Qwen3, Qwen3-MoE, DeepSeek-V3/R1,
        gpt-oss, Gemma 2/3 (multimodal configs: their ``text_config``). Parameters are computed
        from the architecture (biases and norms ignored, under 1%); an unknown architecture is
        refused with the list of supported ones. Sliding-window layers are noted, and the KV cache
        is computed as full attention on every layer (an upper bound).
        """
        return _from_hf_config(cls, path_or_dict, key=key, name=name)

    def __str__(self) -> str:
        moe = (f", MoE {self.experts_per_token}/{self.experts} experts"
               if self.is_moe else "")
        hyp = " (hypothetical)" if self.hypothetical else ""
        return (f"{self.name}{hyp}: {self.params_b:g}B params ({self.active_params_b:g}B active), "
                f"{self.layers} layers, hidden {self.hidden}, {self.attention.upper()} "
                f"{self.heads}/{self.kv_heads} heads{moe}")


_HF_FAMILIES = {  # model_type -> how its config maps onto Model
    "llama": "dense", "mistral": "dense", "qwen2": "dense", "qwen3": "dense",
    "gemma2": "dense", "gemma3_text": "dense", "gemma3": "dense",
    "mixtral": "mixtral", "qwen3_moe": "qwen3_moe", "deepseek_v3": "deepseek", "gpt_oss": "gpt_oss",
}


def _from_hf_config(cls, path_or_dict, *, key=None, name=None) -> Model:
    import json
    from pathlib import Path

    if isinstance(path_or_dict, dict):
        cfg, origin = dict(path_or_dict), "a config dict"
    else:
        path = Path(path_or_dict)
        if path.is_dir():
            path = path / "config.json"
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError(f"no config.json at {str(path)!r}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{str(path)!r} is not a JSON config: {exc}") from None
        origin = str(path)
    if not isinstance(cfg, dict):
        raise CatalogError(f"{origin} is not a JSON object")
    if "text_config" in cfg and isinstance(cfg["text_config"], dict):   # Gemma 3, multimodal
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg.get("model_type"))}
    mtype = cfg.get("model_type")
    family = _HF_FAMILIES.get(mtype)
    if family is None:
        arch = ", ".join(cfg.get("architectures", []) or [str(mtype)])
        raise CatalogError(f"{origin}: architecture {arch} (model_type {mtype!r}) is not supported; "
                           f"supported model types: {', '.join(sorted(_HF_FAMILIES))}")

    def need(field):
        if field not in cfg or cfg[field] is None:
            raise CatalogError(f"{origin}: {mtype} config has no {field!r}")
        return cfg[field]

    layers, hidden = int(need("num_hidden_layers")), int(need("hidden_size"))
    heads = int(need("num_attention_heads"))
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    kw = dict(layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
              ffn=int(need("intermediate_size")), vocab=int(need("vocab_size")),
              max_context=int(cfg["max_position_embeddings"]) if cfg.get("max_position_embeddings") else None,
              tied_embeddings=bool(cfg.get("tie_word_embeddings", mtype.startswith("gemma"))),
              attention="gqa" if kv_heads < heads else "mha")
    notes = []
    if family == "mixtral":
        kw.update(experts=int(need("num_local_experts")), experts_per_token=int(need("num_experts_per_tok")),
                  expert_ffn=kw["ffn"], moe_layers=layers)
    elif family == "gpt_oss":
        kw.update(experts=int(need("num_local_experts")),
                  experts_per_token=int(cfg.get("num_experts_per_tok") or need("experts_per_token")),
                  expert_ffn=kw["ffn"], moe_layers=layers)
    elif family == "qwen3_moe":
        dense_layers = set(cfg.get("mlp_only_layers") or [])
        step = int(cfg.get("decoder_sparse_step") or 1)
        moe = [i for i in range(layers) if i not in dense_layers and (i + 1) % step == 0]
        kw.update(experts=int(need("num_experts")), experts_per_token=int(need("num_experts_per_tok")),
                  expert_ffn=int(need("moe_intermediate_size")), moe_layers=len(moe))
    elif family == "deepseek":
        kw.update(attention="mla", kv_heads=heads, head_dim=int(need("qk_nope_head_dim")),
                  kv_lora_rank=int(need("kv_lora_rank")), rope_head_dim=int(need("qk_rope_head_dim")),
                  q_lora_rank=int(cfg.get("q_lora_rank") or 0),
                  experts=int(need("n_routed_experts")), experts_per_token=int(need("num_experts_per_tok")),
                  expert_ffn=int(need("moe_intermediate_size")),
                  moe_layers=layers - int(cfg.get("first_k_dense_replace") or 0),
                  shared_experts=int(cfg.get("n_shared_experts") or 0))
    window = cfg.get("sliding_window")
    uses_window = bool(window) and (cfg.get("use_sliding_window", True) if mtype.startswith("qwen") else True)
    if uses_window:
        notes.append(f"some layers use a {int(window):,}-token sliding window; the KV cache is computed "
                     "as full attention on every layer (an upper bound)")
    key = key or str(cfg.get("_name_or_path") or mtype).split("/")[-1].lower()
    probe = cls(key=key, name=name or key, params_b=1.0, active_params_b=1.0, **kw)
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
    holding one) goes through `Model.from_hf_config`."""
    if isinstance(name_or_spec, os.PathLike) or (
            isinstance(name_or_spec, str) and (name_or_spec.endswith(".json") or os.sep in name_or_spec)):
        path = os.fspath(name_or_spec)
        if os.path.exists(path):
            return Model.from_hf_config(path)
        if path.endswith(".json"):
            raise CatalogError(f"no model config at {path!r}")
    return resolve(name_or_spec, MODELS, Model)
