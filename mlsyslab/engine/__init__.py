"""The engine: one model on one replica, from a forward pass to a server under traffic.

A `Deployment` owns memory, feasibility and the time of one forward pass; `serve` runs a batch
that starts together, `load` a server under traffic (checked against `simulate`, its step-by-step
reference); KV memory, queueing, speculative decoding, MIG slices, SLOs and goodput stand on
them. It imports only the catalog (and the root's units, parameters and errors).
"""
from .benchmark import (
    LENGTH_KINDS,
    START_MODES,
    Benchmark,
    Lengths,
    sample_lengths,
)
from .deployment import (
    CALIBRATION_PROVENANCE,
    DEFAULT_EFFICIENCY,
    DEFAULT_MAX_BATCHED_TOKENS,
    RUNTIME_MEMORY_GB,
    Deployment,
    Efficiency,
    StepTime,
    as_deployment,
    calibrated_efficiency,
    kv_bytes_per_token_per_gpu,
    valid_tps,
)
from .efficiency import (
    CALIBRATION_SPREAD,
    ENGINES_CALIBRATED,
)
from .forward import (
    MOE_TILE_TOKENS,
    ForwardPass,
)
from .goodput import (
    GoodputResult,
    batch_frontier,
    goodput,
)
from .kv import (
    AllocationWaste,
    KVCacheResult,
    allocation_waste,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    kv_cache,
    kv_pool,
    max_sequences,
)
from .load import (
    KV_ALLOCATIONS,
    STATISTICS,
    LoadResult,
    load,
    lognormal_quantile,
)
from .mig import (
    mig_profiles,
    mig_slice,
)
from .queueing import (
    QueueResult,
    erlang_b,
    erlang_c,
    max_rate_for_slo,
    queue,
)
from .serving import (
    ServingResult,
    arithmetic_intensity,
    decode_step,
    prefill_seconds,
    serve,
)
from .simulation import (
    SimulationResult,
    simulate,
)
from .slo import (
    SIZING_MARGIN,
    SLO,
)
from .speculative import (
    SpeculativeResult,
    expected_tokens_per_round,
    speculative,
)

__all__ = [
    "Lengths",
    "Benchmark",
    "LENGTH_KINDS",
    "START_MODES",
    "sample_lengths",
    "Efficiency",
    "DEFAULT_EFFICIENCY",
    "calibrated_efficiency",
    "Deployment",
    "as_deployment",
    "StepTime",
    "CALIBRATION_PROVENANCE",
    "kv_bytes_per_token_per_gpu",
    "valid_tps",
    "RUNTIME_MEMORY_GB",
    "DEFAULT_MAX_BATCHED_TOKENS",
    "CALIBRATION_SPREAD",
    "ENGINES_CALIBRATED",
    "ForwardPass",
    "MOE_TILE_TOKENS",
    "goodput",
    "GoodputResult",
    "batch_frontier",
    "kv_bytes_per_token",
    "kv_bytes_per_sequence",
    "kv_pool",
    "max_sequences",
    "kv_cache",
    "KVCacheResult",
    "allocation_waste",
    "AllocationWaste",
    "load",
    "LoadResult",
    "STATISTICS",
    "KV_ALLOCATIONS",
    "lognormal_quantile",
    "mig_profiles",
    "mig_slice",
    "erlang_b",
    "erlang_c",
    "queue",
    "QueueResult",
    "max_rate_for_slo",
    "ServingResult",
    "serve",
    "decode_step",
    "prefill_seconds",
    "arithmetic_intensity",
    "simulate",
    "SimulationResult",
    "SLO",
    "SIZING_MARGIN",
    "speculative",
    "SpeculativeResult",
    "expected_tokens_per_round",
]
