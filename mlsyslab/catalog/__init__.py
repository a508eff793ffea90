"""The catalogs: what is served and on what.

Accelerators (`hardware`), model architectures (`models`), number formats (`precision`), the
literature the course answers (`literature`) and the reader of the TOML data files behind them
(`reader`). Every value carries its source and date. This layer imports nothing from the others.
"""
from .hardware import (
    HARDWARE,
    Accelerator,
    accelerator,
)
from .literature import (
    quote,
    source,
    where,
)
from .models import (
    MODELS,
    Model,
    model,
)
from .precision import (
    BYTES_PER_ELEMENT,
    DEFAULT_KV,
    KV_PRECISIONS,
    WEIGHT_PRECISIONS,
    check_native,
    check_precision,
    math_precision,
)

__all__ = [
    "Accelerator",
    "HARDWARE",
    "accelerator",
    "quote",
    "where",
    "source",
    "Model",
    "MODELS",
    "model",
    "BYTES_PER_ELEMENT",
    "WEIGHT_PRECISIONS",
    "KV_PRECISIONS",
    "DEFAULT_KV",
    "check_precision",
    "math_precision",
    "check_native",
]
