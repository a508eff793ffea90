"""The catalogs: what is served and on what.

Accelerators (`hardware`), model architectures (`models`), number formats (`precision`), the
literature the course answers (`literature`) and the reader of the TOML data files behind them
(`reader`). Every value carries its source and date. This layer imports nothing from the others.
"""
from .engines import (
    ENGINES,
    Engine,
    engine,
)
from .hardware import (
    HARDWARE,
    LINKS,
    Accelerator,
    Link,
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
    BYTES_PER_WEIGHT,
    DEFAULT_KV,
    KV_PRECISIONS,
    VOCABULARY_BYTES,
    WEIGHT_PRECISIONS,
    attention_math_precision,
    check_native,
    check_precision,
    math_precision,
)

__all__ = [
    "Engine",
    "ENGINES",
    "engine",
    "Accelerator",
    "HARDWARE",
    "accelerator",
    "Link",
    "LINKS",
    "quote",
    "where",
    "source",
    "Model",
    "MODELS",
    "model",
    "BYTES_PER_ELEMENT",
    "BYTES_PER_WEIGHT",
    "VOCABULARY_BYTES",
    "WEIGHT_PRECISIONS",
    "KV_PRECISIONS",
    "DEFAULT_KV",
    "check_precision",
    "math_precision",
    "attention_math_precision",
    "check_native",
]
