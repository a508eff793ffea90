"""mlsyslab: the economics of serving large language models, from first principles.

Analytical models with units (pint), in layers that import only the layers below them:

- `mlsyslab.catalog`: accelerators, model architectures, number formats, literature quotes;
- `mlsyslab.engine`: a deployment and its forward pass, a batch (`serve`), a server under
  traffic (`load`, `simulate`), KV memory, queueing, speculative decoding, MIG, SLOs, goodput;
- `mlsyslab.economics`: fleets and TCO, spot, prompt and semantic caching, routing, reasoning;
- `mlsyslab.course`: the labs' helpers, figures, grading and the validation report;
- `mlsyslab.planning`: plans under an SLO, autoscaling, disaggregated pools;
- `mlsyslab.measure`: a real vLLM on this machine, measured with its own benchmark client and
  held against the model (Lab 9; the engine installs apart, `make engine`);
- at the root: `units`, `params` (every parameter's unit and range), `errors`, `report` (the
  base of every result) and `cli`.

The names below (``ml.serve``, ``ml.Deployment``, ...) are the curated public API.

>>> import mlsyslab as ml
>>> r = ml.serve("llama-3-8b", "h100-sxm", batch=8, prompt_tokens=512, output_tokens=256)
>>> r.itl.to("ms")  # doctest: +SKIP
"""

from .catalog import (
    HARDWARE,
    MODELS,
    Accelerator,
    Model,
    accelerator,
    model,
)
from .economics import (
    CACHE_PROVIDERS,
    POLICIES,
    STRATEGIES,
    CacheProvider,
    Fleet,
    Pricing,
    ReasoningResult,
    SemanticCache,
    SpotCost,
    TCOResult,
    billed_cost,
    break_even_calls,
    cache_provider,
    cascade,
    cost_per_accepted,
    cost_per_million_tokens,
    cost_per_query,
    fleet,
    reason,
    replica_routing,
    request_cost,
    semantic_cache,
    serving_effect,
    spot_cost,
    sweep_steps,
    tco,
    ttl_fit,
)
from .engine import (
    DEFAULT_EFFICIENCY,
    SLO,
    Benchmark,
    Deployment,
    Efficiency,
    GoodputResult,
    Lengths,
    LoadResult,
    ServingResult,
    SimulationResult,
    SpeculativeResult,
    StepTime,
    allocation_waste,
    arithmetic_intensity,
    batch_frontier,
    calibrated_efficiency,
    decode_step,
    erlang_b,
    erlang_c,
    goodput,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    kv_cache,
    kv_pool,
    load,
    max_rate_for_slo,
    max_sequences,
    mig_profiles,
    mig_slice,
    queue,
    serve,
    simulate,
    speculative,
)
from .errors import (
    CatalogError,
    EngineError,
    InfeasibleError,
    MlsyslabError,
    UnitError,
    UnknownNameError,
    ValueRangeError,
)
from .measure import (
    HostMeasurement,
    StoredMeasurement,
    VLLMServer,
    check_sglang_command,
    check_vllm_command,
    compare_to_model,
    fit_efficiency,
    measure_host,
    measure_serving,
    measure_this_machine,
    stored_measurement,
    write_local_model,
)
from .planning import (
    AutoscaleResult,
    DisaggregationResult,
    PlanResult,
    Workload,
    autoscale,
    disaggregate,
    plan,
    read_trace,
    traffic,
)


def __getattr__(name):  # ``ml.ureg`` and ``ml.Q_`` load pint on first use, not at import
    if name in ("ureg", "Q_"):
        from . import units

        return getattr(units, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "ureg", "Q_",
    "Accelerator", "HARDWARE", "accelerator", "Model", "MODELS", "model",
    "Deployment", "StepTime", "Efficiency", "DEFAULT_EFFICIENCY", "calibrated_efficiency",
    "ServingResult", "serve", "decode_step", "arithmetic_intensity",
    "load", "LoadResult", "simulate", "SimulationResult", "SLO", "Benchmark", "Lengths",
    "kv_bytes_per_token", "kv_bytes_per_sequence", "kv_pool", "max_sequences", "kv_cache",
    "allocation_waste",
    "reason", "sweep_steps", "ReasoningResult", "STRATEGIES",
    "fleet", "Fleet", "tco", "TCOResult", "Pricing", "cost_per_million_tokens", "cost_per_query",
    "billed_cost", "cost_per_accepted",
    "CacheProvider", "CACHE_PROVIDERS", "cache_provider", "break_even_calls", "request_cost",
    "ttl_fit", "serving_effect",
    "cascade", "replica_routing", "POLICIES", "disaggregate", "DisaggregationResult",
    "plan", "PlanResult", "Workload", "autoscale", "AutoscaleResult", "traffic", "read_trace",
    "speculative", "SpeculativeResult", "mig_profiles", "mig_slice", "spot_cost", "SpotCost",
    "semantic_cache", "SemanticCache",
    "measure_host", "HostMeasurement", "write_local_model", "VLLMServer", "measure_serving",
    "compare_to_model", "fit_efficiency", "stored_measurement", "measure_this_machine", "StoredMeasurement", "check_vllm_command", "check_sglang_command",
    "queue", "erlang_b", "erlang_c", "max_rate_for_slo", "goodput", "GoodputResult", "batch_frontier",
    "MlsyslabError", "UnknownNameError", "UnitError", "ValueRangeError", "InfeasibleError",
    "CatalogError", "EngineError",
]
