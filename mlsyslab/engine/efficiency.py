"""Sustained fractions of datasheet peaks and fixed overheads, calibrated per accelerator and engine.

The physics of a forward pass (`mlsyslab.engine.forward`) needs a handful of numbers that no
datasheet states: how much of the peak memory bandwidth weight and KV reads sustain, how much
of the peak FLOP/s large matmuls reach at 16 and at 8 bits, how much of that grouped expert
GEMMs keep, and the fixed costs per layer, per forward pass and per request. `Efficiency`
holds them; ``mlsyslab/data/calibration.toml`` states which are fitted to measurements (and on
which), which are priors, and their spread; `calibrated_efficiency` returns the set for an
accelerator and a serving engine.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ..catalog.engines import engine as engine_spec
from ..catalog.hardware import accelerator
from ..catalog.reader import read_data
from ..errors import ValueRangeError

__all__ = ["Efficiency", "DEFAULT_EFFICIENCY", "calibrated_efficiency", "CALIBRATION_PROVENANCE",
           "CALIBRATION_SPREAD", "ENGINES_CALIBRATED"]


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == v


@dataclass(frozen=True)
class Efficiency:
    """Sustained fractions of datasheet peaks, and fixed overheads.

    Parameters
    ----------
    bandwidth : float
        Fraction of peak memory bandwidth that weight and KV reads sustain (``eta_bw``), in (0, 1].
    compute : float
        Fraction of the dense 16-bit peak FLOP/s that large matmuls and attention sustain
        (``eta_f``), in (0, 1].
    compute_fp8 : float
        Fraction of the fp8 peak that fp8 matmuls (and fp8 attention) sustain, in (0, 1]; lower
        than ``compute`` on every chip measured: fp8 GEMMs gain about 1.4x over 16-bit, not 2x.
    compute_fp4 : float
        Fraction of the fp4 peak that fp4 matmuls sustain, in (0, 1] (a prior: no measurement
        here isolates it).
    experts : float
        Rate of grouped expert GEMMs (mixture of experts) relative to dense matmuls at the same
        precision, in (0, 1]: many small GEMMs, routing, permutation and unpermutation.
    kv_bandwidth : float, optional
        Fraction of peak memory bandwidth that decode attention's KV reads sustain, in (0, 1];
        None (the default) means ``bandwidth``. Paged attention gathers scattered KV blocks, so
        on a stack whose attention kernels are less tuned than its GEMMs it reads below the
        weights' streaming rate (fitted for vLLM on ROCm, MI300X; the same as ``bandwidth``
        elsewhere, where no measurement separates them).
    overlap : float
        Share of a kernel's shorter roofline side (memory traffic or arithmetic) hidden under
        the longer, in [0, 1]: 1 (the default, every GPU) is the plain roofline maximum; a CPU,
        whose cores issue both the loads and the multiply-adds, hides less (fitted per host by
        `mlsyslab.measure.fit_efficiency`), and a kernel takes ``max + (1 - overlap) min``.
    interconnect : float
        Fraction of the scale-up link bandwidth an all-reduce or a send sustains, in (0, 1].
    layer_overhead_us : float
        Fixed time per layer per forward pass, at every tensor-parallel degree (norms, rotary
        embeddings, activation kernels, launches), in microseconds, >= 0.
    moe_layer_overhead_us : float
        Extra fixed time per mixture-of-experts layer per pass (the router, top-k, sorting tokens
        by expert, the grouped GEMMs' launches, combining the outputs), in microseconds, >= 0.
    sync_jitter_us : float
        Spread (standard deviation) of the moment each rank reaches a collective, in
        microseconds, >= 0: an all-reduce is a barrier, so each one also waits for the last of
        ``tp`` ranks, ``sync_jitter_us * sqrt(2 ln tp)`` on average (the expected maximum of
        ``tp`` normal delays). Zero at tp = 1.
    step_overhead_ms : float
        Fixed time per forward pass (scheduling, sampling, the engine's bookkeeping), in ms, >= 0.
    request_overhead_ms : float
        Fixed time a request waits before its first token besides the forward passes (the
        engine admitting it, tokenising, setting up its cache, streaming the token back), in ms,
        >= 0. It delays the first token but occupies no accelerator time.
    """

    bandwidth: float = 0.8
    compute: float = 0.65
    compute_fp8: float = 0.45
    compute_fp4: float = 0.45
    experts: float = 1.0
    kv_bandwidth: float | None = None
    overlap: float = 1.0
    interconnect: float = 0.8
    layer_overhead_us: float = 0.0
    moe_layer_overhead_us: float = 0.0
    sync_jitter_us: float = 0.0
    step_overhead_ms: float = 0.0
    request_overhead_ms: float = 0.0

    def __post_init__(self):
        for name in ("bandwidth", "compute", "compute_fp8", "compute_fp4", "experts", "interconnect"):
            v = getattr(self, name)
            if not _is_real(v) or not 0 < v <= 1:
                raise ValueRangeError(f"efficiency {name} must be a number in (0, 1]; got {v!r}")
        if not _is_real(self.overlap) or not 0 <= self.overlap <= 1:
            raise ValueRangeError(f"efficiency overlap must be a number in [0, 1]; got {self.overlap!r}")
        v = self.kv_bandwidth
        if v is not None and (not _is_real(v) or not 0 < v <= 1):
            raise ValueRangeError(f"efficiency kv_bandwidth must be None or a number in (0, 1]; got {v!r}")
        for name in ("layer_overhead_us", "moe_layer_overhead_us", "sync_jitter_us", "step_overhead_ms",
                     "request_overhead_ms"):
            v = getattr(self, name)
            if not _is_real(v) or not 0 <= v < np.inf:
                raise ValueRangeError(f"efficiency {name} must be a finite number >= 0; got {v!r}")

    def compute_at(self, precision: str) -> float:
        """The sustained fraction of the peak for matmuls at ``precision`` (fp16, fp8, fp4)."""
        return {"fp8": self.compute_fp8, "fp4": self.compute_fp4}.get(precision, self.compute)

    @classmethod
    def ideal(cls) -> Efficiency:
        """Datasheet peaks, no overheads: the roofline bound nothing real can beat."""
        return cls(bandwidth=1.0, compute=1.0, compute_fp8=1.0, compute_fp4=1.0, experts=1.0,
                   interconnect=1.0)

    @classmethod
    def sustained(cls, hw, *, bandwidth_gb_s: float, tflops: float, precision: str = "fp16",
                  **kw) -> Efficiency:
        """Efficiency from absolute sustained figures (e.g. 'BW_eff = 1,800 GB/s, F_eff = 250 TFLOP/s')."""
        hw = accelerator(hw)
        name = {"fp8": "compute_fp8", "fp4": "compute_fp4"}.get(precision, "compute")
        return cls(bandwidth=bandwidth_gb_s / hw.memory_bandwidth_gb_s,
                   **{name: tflops / hw.peak_tflops[precision]}, **kw)


_CALIBRATION = read_data("calibration.toml")
_FIELDS = {f.name for f in fields(Efficiency)}
DEFAULT_EFFICIENCY = Efficiency(**{k: v for k, v in _CALIBRATION["efficiency"].items() if k in _FIELDS})
"""The calibrated factors shared by every accelerator and engine (``calibration.toml``, ``[efficiency]``)."""

CALIBRATION_PROVENANCE = dict(_CALIBRATION.get("provenance", {}))
"""Which factors ``calibration.toml`` states as fitted, which as priors, and on what data."""

CALIBRATION_SPREAD = dict(_CALIBRATION.get("spread", {}))
"""Each fitted factor's spread: its range over the leave-one-source-out refits."""

ENGINES_CALIBRATED = tuple(_CALIBRATION["efficiency"].get("by_engine", {}))
"""Serving engines with factors of their own (the rest take the shared ones)."""


def calibrated_efficiency(hardware, engine: str | None = "vllm") -> Efficiency:
    """The calibrated `Efficiency` for an accelerator and a serving engine.

    ``DEFAULT_EFFICIENCY``, then the engine's factors (``[efficiency.by_engine.<engine>]``: its
    per-layer, per-step and per-request costs), then the accelerator's
    (``[efficiency.by_hardware.<key>]``), where the measurements showed that one value cannot
    fit them all (see ``make calibrate``). ``engine`` is a serving engine of the catalog
    (``vllm``, ``sglang``, ``trtllm``), an older serving stack that published measurements were
    taken with (``[efficiency.by_stack]``, used to predict those rows), or ``None`` for the
    shared factors alone.

    Parameters
    ----------
    hardware : str or Accelerator
        The accelerator.
    engine : str, optional
        ``"vllm"``, ``"sglang"``, ``"trtllm"``, a published stack's name, or None for the shared
        factors alone.

    Returns
    -------
    Efficiency
        The sustained fractions of peak and the fixed costs per layer, step and request.

    Examples
    --------
    >>> eff = ml.calibrated_efficiency("h100-sxm", engine="vllm")
    >>> round(eff.bandwidth, 2), round(eff.compute, 2)
    (0.83, 0.71)
    """
    hw = accelerator(hardware)
    table = _CALIBRATION["efficiency"]
    stacks = table.get("by_stack", {})
    if engine is None:
        own = {}
    elif isinstance(engine, str) and engine in stacks:
        own = stacks[engine]
    else:
        engine = engine_spec(engine).key
        own = table.get("by_engine", {}).get(engine, {})
    base_key = hw.key.split(":")[0]          # a MIG slice ("h100-sxm:1g.10gb") runs its GPU's stack
    eff = replace(DEFAULT_EFFICIENCY, **{k: v for k, v in own.items() if k in _FIELDS})
    return replace(eff, **{k: v for k, v in table.get("by_hardware", {}).get(base_key, {}).items()
                           if k in _FIELDS})
