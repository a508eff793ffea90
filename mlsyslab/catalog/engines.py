"""Serving engines (vLLM, SGLang, TensorRT-LLM): their defaults, their flags, with sources.

An engine decides things the physics does not: how many requests run at once, how many tokens
one forward pass carries, how much memory it takes, whether prompts are chunked, how a pipeline
is fed, how KV memory is allocated. Each value here was read in the engine's source (see
``defaults_source``); `Engine.limits` applies the engine's own rules for a given accelerator.
The same file names the flags `mlsyslab.planning.plan` emits in a launch command.

>>> from mlsyslab.catalog.engines import engine
>>> engine("vllm").limits("h100-sxm")
(1024, 8192)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CatalogError
from .hardware import accelerator
from .reader import Catalog, Source, read_data, resolve

__all__ = ["Engine", "ENGINES", "engine"]

_GIB = 2**30 / 1e9


@dataclass(frozen=True)
class Engine:
    """One serving engine's defaults and launch flags.

    Parameters
    ----------
    key : str
        ``vllm``, ``sglang`` or ``trtllm``.
    command : str
        The command that launches one replica.
    defaults : dict
        What the engine does when a flag is not given (see ``data/engines.toml``).
    flags : dict
        The engine's flag for each setting a plan may emit.
    documented : tuple
        Every flag this package may emit, as the engine's documentation names it.
    notes : dict
        Settings an engine takes from the checkpoint rather than a flag, as sentences.
    extra : dict
        Other entries of the data file (value maps, memory-fraction semantics).
    source, defaults_source : Source
        Where the flags and the defaults were read.
    """

    key: str
    command: str
    defaults: dict
    flags: dict
    documented: tuple
    notes: dict
    extra: dict
    source: Source = field(default=None, compare=False)
    defaults_source: Source = field(default=None, compare=False)

    @property
    def pipeline_prefill(self) -> str:
        """``"whole"`` (stages work on different requests) or ``"chunked"`` (a prompt's chunks
        follow each other through the stages)."""
        return self.defaults["pipeline_prefill"]

    @property
    def kv_allocation(self) -> str:
        """``"paged"`` or ``"reserved"``: how the engine allocates KV memory by default."""
        return self.defaults["kv_allocation"]

    @property
    def chunked_prefill(self) -> bool:
        """Whether prompts are split across forward passes by default."""
        return bool(self.defaults["chunked_prefill"])

    @property
    def memory_fraction(self) -> float:
        """The engine's default share of memory (TensorRT-LLM: of what weights leave free)."""
        return float(self.defaults["memory_fraction"])

    def limits(self, hardware) -> tuple[int, int]:
        """(running requests at most, tokens per forward pass) by default on ``hardware``.

        0 running requests means the engine leaves it to the KV memory (SGLang).
        """
        hw = accelerator(hardware)
        d = self.defaults
        gib = hw.memory_gb / _GIB
        if self.key == "sglang":
            tokens = (d["max_batched_tokens_small"] if gib < d["small_gib"] else
                      d["max_batched_tokens_mid"] if gib < d["large_gib"] else d["max_batched_tokens"])
            return int(d["max_running"]), int(tokens)
        small = "large_gib" in d and (gib < d["large_gib"] or "a100" in hw.key)
        running = d["max_running_small"] if small else d["max_running"]
        tokens = d["max_batched_tokens_small"] if small else d["max_batched_tokens"]
        return int(running), int(tokens)

    def __str__(self) -> str:
        return (f"{self.key} {self.defaults.get('version', '')}: {self.command}; "
                f"{'chunked' if self.chunked_prefill else 'whole'} prefill, {self.kv_allocation} KV")


def _load() -> Catalog[Engine]:
    from .reader import read_sources

    data = read_data("engines.toml")
    entries = {}
    for key, raw in data.get("engines", {}).items():
        raw = dict(raw)
        sources = {}
        for name in ("source", "defaults_source"):
            entry = raw.pop(name, None)
            if not entry or not all(k in entry for k in ("title", "url", "date")):
                raise CatalogError(f"engines.toml: engine {key!r} needs a {name} with title, url and date")
            sources[name] = next(iter(read_sources({"sources": {key: entry}}, "engines.toml").values()))
        try:
            entries[key] = Engine(
                key=key, command=raw.pop("command"), defaults=dict(raw.pop("defaults")),
                flags=dict(raw.pop("flags")), documented=tuple(raw.pop("documented")),
                notes=dict(raw.pop("notes", {})), extra=raw, **sources)
        except KeyError as exc:
            raise CatalogError(f"engines.toml: engine {key!r} has no {exc.args[0]!r}") from None
    return Catalog("engine", entries, {"tensorrt-llm": "trtllm", "trt-llm": "trtllm"})


ENGINES: Catalog[Engine] = _load()
"""The serving engines by key."""


def engine(name_or_spec) -> Engine:
    """An `Engine` by forgiving name (``"vllm"``, ``"TensorRT-LLM"``) or passed through."""
    return resolve(name_or_spec, ENGINES, Engine)
