"""mlsyslab: the economics of serving large language models, from first principles.

Analytical models with units (pint) for serving, KV-cache memory, reasoning, fleet sizing and
TCO, prompt caching, routing and queueing; catalogs of accelerators and models with sources.

>>> import mlsyslab as ml
>>> r = ml.serve("llama-3-8b", "h100-sxm", batch=8, prompt_tokens=512, output_tokens=256)
>>> r.itl.to("ms")  # doctest: +SKIP
"""

from .autoscale import AutoscaleResult, autoscale, read_trace, traffic
from .cache import (
    CACHE_PROVIDERS,
    CacheProvider,
    break_even_calls,
    cache_provider,
    request_cost,
    serving_effect,
    ttl_fit,
)
from .deployment import Deployment, StepTime, calibrated_efficiency
from .disagg import DisaggregationResult, disaggregate
from .errors import (
    CatalogError,
    InfeasibleError,
    MlsyslabError,
    UnitError,
    UnknownNameError,
    ValueRangeError,
)
from .goodput import GoodputResult, batch_frontier, goodput
from .hardware import HARDWARE, Accelerator, accelerator
from .kv import (
    allocation_waste,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    kv_cache,
    kv_pool,
    max_sequences,
)
from .load import LoadResult, load
from .mig import mig_profiles, mig_slice
from .models import MODELS, Model, model
from .plan import PlanResult, Workload, plan
from .queueing import erlang_b, erlang_c, max_rate_for_slo, queue
from .reasoning import STRATEGIES, ReasoningResult, reason, sweep_steps
from .routing import POLICIES, cascade, replica_routing
from .semantic import SemanticCache, semantic_cache
from .serving import (
    DEFAULT_EFFICIENCY,
    Efficiency,
    ServingResult,
    arithmetic_intensity,
    decode_step,
    serve,
)
from .simulation import SimulationResult, simulate
from .slo import SLO
from .speculative import SpeculativeResult, speculative
from .spot import SpotCost, spot_cost
from .tco import (
    Fleet,
    Pricing,
    TCOResult,
    billed_cost,
    cost_per_accepted,
    cost_per_million_tokens,
    cost_per_query,
    fleet,
    tco,
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
    "load", "LoadResult", "simulate", "SimulationResult", "SLO",
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
    "queue", "erlang_b", "erlang_c", "max_rate_for_slo", "goodput", "GoodputResult", "batch_frontier",
    "MlsyslabError", "UnknownNameError", "UnitError", "ValueRangeError", "InfeasibleError",
    "CatalogError",
]
