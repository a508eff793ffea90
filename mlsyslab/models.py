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
    embeddings          = 2 * vocab * hidden

The loader checks that the stated total and active parameters agree with this within 5%, so a
typo in a layer count is caught when the package is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import units as _units
from ._catalog import Catalog, Source, read_data, read_sources, resolve
from .errors import CatalogError

__all__ = ["Model", "MODELS", "model"]

_INT_FIELDS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")


@dataclass(frozen=True)
class Model:
    """A decoder-only transformer, dense or mixture-of-experts.

    Parameters
    ----------
    layers, hidden, heads, kv_heads, head_dim, ffn, vocab : int
        The architecture.
    params_b, active_params_b : float
        Total and per-token parameters, in billions.
    attention : str
        ``"mha"``, ``"gqa"`` or ``"mla"``.
    kv_lora_rank, rope_head_dim, q_lora_rank : int
        MLA widths (0 for other attention kinds).
    experts, experts_per_token, expert_ffn, moe_layers, shared_experts : int
        MoE routing (1, 1, 0, 0, 0 for dense models).
    hypothetical : bool
        A made-up model; ``notes`` must then state its assumptions.
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
        if self.hypothetical and not self.notes.strip():
            raise CatalogError(f"model {self.key!r}: a hypothetical model must state its assumptions in notes")

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    # --- parameter accounting -------------------------------------------------------------
    def _attention_params_per_layer(self) -> float:
        h, hd = self.hidden, self.head_dim
        if self.attention == "mla":
            q = h * self.q_lora_rank + self.q_lora_rank * self.heads * (hd + self.rope_head_dim)
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
        embed = 2.0 * self.vocab * self.hidden
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

    def __str__(self) -> str:
        moe = (f", MoE {self.experts_per_token}/{self.experts} experts"
               if self.is_moe else "")
        hyp = " (hypothetical)" if self.hypothetical else ""
        return (f"{self.name}{hyp}: {self.params_b:g}B params ({self.active_params_b:g}B active), "
                f"{self.layers} layers, hidden {self.hidden}, {self.attention.upper()} "
                f"{self.heads}/{self.kv_heads} heads{moe}")


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
    """Look up a model by forgiving name (``"Llama3_8B"``) or pass a :class:`Model` through."""
    return resolve(name_or_spec, MODELS, Model)
