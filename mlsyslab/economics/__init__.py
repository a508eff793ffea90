"""The economics: what serving costs, and the levers that change it.

Fleets and total cost of ownership (`tco`), spot capacity, prompt and semantic caching, routing
and cascades, and the cost of inference-time reasoning. It stands on the engine and the catalog.
"""
from .cache import (
    CACHE_PROVIDERS,
    CacheEconomics,
    CacheProvider,
    ServingCacheEffect,
    break_even_calls,
    cache_provider,
    request_cost,
    serving_effect,
    ttl_fit,
)
from .reasoning import (
    STRATEGIES,
    ReasoningResult,
    reason,
    sweep_steps,
)
from .routing import (
    POLICIES,
    CascadeResult,
    ReplicaRoutingResult,
    cascade,
    replica_routing,
)
from .semantic import (
    SemanticCache,
    semantic_cache,
)
from .spot import (
    SpotCost,
    spot_cost,
)
from .tco import (
    DEFAULT_SLO,
    PRICING_DEFAULTS,
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

__all__ = [
    "CacheProvider",
    "CACHE_PROVIDERS",
    "cache_provider",
    "break_even_calls",
    "request_cost",
    "CacheEconomics",
    "ttl_fit",
    "serving_effect",
    "ServingCacheEffect",
    "reason",
    "sweep_steps",
    "ReasoningResult",
    "STRATEGIES",
    "cascade",
    "CascadeResult",
    "replica_routing",
    "ReplicaRoutingResult",
    "POLICIES",
    "semantic_cache",
    "SemanticCache",
    "spot_cost",
    "SpotCost",
    "Fleet",
    "fleet",
    "DEFAULT_SLO",
    "Pricing",
    "PRICING_DEFAULTS",
    "TCOResult",
    "tco",
    "cost_per_million_tokens",
    "cost_per_query",
    "billed_cost",
    "cost_per_accepted",
]
