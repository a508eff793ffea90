"""Planning: from a workload and an SLO to a configuration, a day of scaling and a launch.

`plan` searches configurations for the cheapest that meets an SLO, `autoscale` runs a day of
traffic under scaling policies, `disaggregate` sizes split prefill and decode pools. It stands
on the economics, the engine and the catalog.
"""
from .autoscale import (
    POLICIES_AUTOSCALE,
    AutoscaleResult,
    autoscale,
    read_trace,
    replica_capacity,
    traffic,
)
from .disagg import (
    DisaggregationResult,
    disaggregate,
)
from .plan import (
    DEFAULT_PLAN_HARDWARE,
    ENGINES,
    GRID,
    PlanResult,
    Workload,
    plan,
)

__all__ = [
    "traffic",
    "read_trace",
    "autoscale",
    "AutoscaleResult",
    "POLICIES_AUTOSCALE",
    "replica_capacity",
    "disaggregate",
    "DisaggregationResult",
    "Workload",
    "plan",
    "PlanResult",
    "ENGINES",
    "DEFAULT_PLAN_HARDWARE",
    "GRID",
]
