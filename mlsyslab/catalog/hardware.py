"""Accelerator specifications, each value with its source and date.

The catalog lives in ``mlsyslab/data/hardware.toml`` and is validated when the package is
imported: a value without a source, a non-positive figure or a missing field is an error.
Build your own with `Accelerator` (sources are then yours to state).

>>> from mlsyslab import accelerator
>>> accelerator("H100").memory.to("GB")
<Quantity(80.0, 'gigabyte')>
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import units as _units
from ..errors import CatalogError
from .reader import Catalog, read_data, read_sources, resolve

__all__ = ["Accelerator", "HARDWARE", "accelerator"]

_FIELDS = (
    "memory_gb", "memory_bandwidth_gb_s", "peak_tflops", "tdp_w", "interconnect_gb_s",
    "scale_up_gpus", "scale_out_gb_s", "on_demand_usd_h", "spot_usd_h", "purchase_usd",
)


_OPTIONAL = ("spot_usd_h", "purchase_usd", "scale_out_gb_s")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator. Plain numbers in the units their names say.

    Parameters
    ----------
    key : str
        Catalog key.
    name : str
        Display name.
    memory_gb : float
        HBM (or GDDR) capacity, in GB (1e9 bytes); the catalog converts vendors' GiB.
    memory_bandwidth_gb_s : float
        Peak memory bandwidth, in GB/s.
    peak_tflops : dict
        Dense tensor-core peak per precision, in TFLOP/s (TOP/s for integers); needs ``fp16``.
    tdp_w : float
        Board power, in W.
    interconnect_gb_s : float
        Scale-up bandwidth per GPU per direction, in GB/s.
    scale_up_gpus : int
        GPUs one scale-up domain (one server) connects: the largest tensor-parallel degree.
    scale_out_gb_s : float or None
        Network bandwidth per GPU per direction between servers, in GB/s; None where the catalog
        states none (then no deployment spans servers).
    on_demand_usd_h : float or None
        Cloud on-demand price scenario per GPU-hour, in USD.
    spot_usd_h : float or None
        Cloud spot (interruptible) price scenario per GPU-hour, in USD; None where there is none.
    purchase_usd : float or None
        Purchase price of one accelerator, in USD.
    sources : dict
        Field name to its `Source` (title, address, date).
    """

    key: str
    name: str
    memory_gb: float
    memory_bandwidth_gb_s: float
    peak_tflops: dict
    tdp_w: float
    interconnect_gb_s: float
    scale_up_gpus: int = 8
    scale_out_gb_s: float | None = None
    on_demand_usd_h: float | None = None
    spot_usd_h: float | None = None
    purchase_usd: float | None = None
    vendor: str = ""
    sources: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        for name in ("memory_gb", "memory_bandwidth_gb_s", "tdp_w", "interconnect_gb_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise CatalogError(f"accelerator {self.key!r}: {name} must be a positive number; got {value!r}")
        if "fp16" not in self.peak_tflops:
            raise CatalogError(f"accelerator {self.key!r}: peak_tflops needs an 'fp16' entry")
        for prec, value in self.peak_tflops.items():
            if not isinstance(value, (int, float)) or value <= 0:
                raise CatalogError(f"accelerator {self.key!r}: peak_tflops[{prec!r}] must be positive; got {value!r}")
        if int(self.scale_up_gpus) < 1:
            raise CatalogError(f"accelerator {self.key!r}: scale_up_gpus must be at least 1")
        for name in ("on_demand_usd_h", "spot_usd_h", "purchase_usd", "scale_out_gb_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise CatalogError(f"accelerator {self.key!r}: {name} must be positive or None")

    # Quantities, for students.
    @property
    def memory(self):
        return self.memory_gb * _units.ureg.GB

    @property
    def memory_bandwidth(self):
        return self.memory_bandwidth_gb_s * _units.ureg("GB/s")

    @property
    def interconnect_bandwidth(self):
        return self.interconnect_gb_s * _units.ureg("GB/s")

    @property
    def tdp(self):
        return self.tdp_w * _units.ureg.W

    def peak_flops(self, precision: str = "fp16"):
        """Dense peak for ``precision`` as a quantity in TFLOP/s."""
        return self.peak_tflops[precision] * _units.ureg("Tflop/s")

    def ridge_point(self, precision: str = "fp16"):
        """Arithmetic intensity (FLOP/byte) where compute and bandwidth ceilings meet."""
        return self.peak_tflops[precision] * 1e12 / (self.memory_bandwidth_gb_s * 1e9) * _units.ureg("flop/byte")

    def __str__(self) -> str:
        peaks = ", ".join(f"{p} {v:g}" for p, v in self.peak_tflops.items())
        return (f"{self.name}: {self.memory_gb:,.1f} GB at {self.memory_bandwidth_gb_s:,.0f} GB/s, "
                f"peak TFLOP/s {peaks}, {self.tdp_w:g} W")


def _load() -> Catalog[Accelerator]:
    data = read_data("hardware.toml")
    sources = read_sources(data, "hardware.toml")
    entries, aliases = {}, {}
    for key, raw in data.get("accelerators", {}).items():
        values, srcs = {}, {}
        for name in _FIELDS:
            if name not in raw and name in _OPTIONAL:
                values[name] = None       # not sold, or no spot market: stated by its absence
                continue
            if name not in raw:
                raise CatalogError(f"hardware.toml: accelerator {key!r} has no {name!r}")
            entry = dict(raw[name])
            sid = entry.pop("src", None)
            if sid not in sources:
                raise CatalogError(f"hardware.toml: {key}.{name} names no known source ({sid!r})")
            srcs[name] = sources[sid]
            if name == "peak_tflops":
                values[name] = entry
            elif name == "memory_gb":
                unit = entry.get("unit", "GB")
                if unit not in ("GB", "GiB"):
                    raise CatalogError(f"hardware.toml: {key}.memory_gb unit must be GB or GiB; got {unit!r}")
                values[name] = entry["v"] * (2**30 / 1e9 if unit == "GiB" else 1.0)
            else:
                values[name] = entry["v"]
        entries[key] = Accelerator(key=key, name=raw["name"], vendor=raw.get("vendor", ""),
                                   sources=srcs, **values)
        for alias in raw.get("aliases", []):
            aliases[alias] = key
    return Catalog("accelerator", entries, aliases)


HARDWARE: Catalog[Accelerator] = _load()


def accelerator(name_or_spec) -> Accelerator:
    """Look up an accelerator by forgiving name (``"H100"``, ``"h100_sxm"``) or pass one through."""
    return resolve(name_or_spec, HARDWARE, Accelerator)


