"""Accelerator specifications, each value with its source and date.

The catalog lives in ``mlsyslab/data/hardware.toml`` and is validated when the package is
imported: a value without a source, a non-positive figure or a missing field is an error.
Build your own with `Accelerator` (sources are then yours to state).

>>> from mlsyslab import accelerator
>>> accelerator("H100").memory.to("GiB")
<Quantity(80.0, 'gibibyte')>
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import units as _units
from ..errors import CatalogError, ValueRangeError
from .reader import Catalog, read_data, read_sources, resolve

__all__ = ["Accelerator", "HARDWARE", "accelerator", "Link", "LINKS"]

_FIELDS = (
    "memory_gb", "memory_bandwidth_gb_s", "peak_tflops", "tdp_w", "interconnect_gb_s",
    "scale_up_link", "scale_up_gpus", "scale_out_gb_s", "on_demand_usd_h", "spot_usd_h", "purchase_usd",
)


@dataclass(frozen=True)
class Link:
    """A scale-up or scale-out link: the fixed latencies of its collectives, with sources.

    Parameters
    ----------
    key : str
        Catalog key (``nvlink4``, ``pcie``, ``network``).
    name : str
        Display name.
    allreduce_tp2_us, allreduce_tp8_us : float
        Time of one all-reduce of a small (decode-sized) message over 2 and over 8 GPUs, in
        microseconds: the latency an engine's custom all-reduce pays before any bandwidth term.
    p2p_latency_us : float
        Fixed latency of one point-to-point transfer (a pipeline send, one all-to-all phase).
    sources : dict
        Field name to its `Source`.
    """

    key: str
    name: str
    allreduce_tp2_us: float
    allreduce_tp8_us: float
    p2p_latency_us: float
    sources: dict = field(default_factory=dict, compare=False, repr=False)

    def allreduce_latency_us(self, tp):
        """Fixed latency of one all-reduce over ``tp`` GPUs (0 at tp=1; arrays broadcast).

        ``a2 + (a8 - a2) * log2(tp / 2) / 2``: each doubling of the group adds the same step
        (a deeper reduction tree); beyond 8 GPUs (an NVL72 domain) the same rule extrapolates.
        """
        import numpy as np

        t = np.asarray(tp, dtype=float)
        steps = np.log2(np.maximum(t, 2.0) / 2.0) / 2.0
        out = np.where(t > 1, self.allreduce_tp2_us + (self.allreduce_tp8_us - self.allreduce_tp2_us) * steps, 0.0)
        return float(out) if out.ndim == 0 else out


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
    tdp_w : float or None
        Board power, in W; None where it is not known (a host measured by
        `mlsyslab.measure.measure_host`): latency needs none, energy and TCO then ask for it.
    interconnect_gb_s : float
        Scale-up bandwidth per GPU per direction, in GB/s.
    scale_up_link : Link
        The scale-up link (NVLink generation, Infinity Fabric, PCIe) and its latencies.
    scale_up_gpus : int
        GPUs one scale-up domain connects (one server; 72 in an NVL72 rack): the largest
        tensor-parallel degree, and the span of expert parallelism over the fast link.
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

    Attributes
    ----------
    vendor : str
        Who makes it.
    """

    key: str
    name: str
    memory_gb: float
    memory_bandwidth_gb_s: float
    peak_tflops: dict
    tdp_w: float | None
    interconnect_gb_s: float
    scale_up_link: Link | None = None
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
            if name == "tdp_w" and value is None:
                continue
            if not isinstance(value, (int, float)) or value <= 0:
                raise CatalogError(f"accelerator {self.key!r}: {name} must be a positive number; got {value!r}")
        if "fp16" not in self.peak_tflops:
            raise CatalogError(f"accelerator {self.key!r}: peak_tflops needs an 'fp16' entry")
        for prec, value in self.peak_tflops.items():
            if not isinstance(value, (int, float)) or value <= 0:
                raise CatalogError(f"accelerator {self.key!r}: peak_tflops[{prec!r}] must be positive; got {value!r}")
        if self.scale_up_link is None:
            object.__setattr__(self, "scale_up_link", LINKS["pcie" if self.interconnect_gb_s <= 64 else "nvlink4"])
        elif isinstance(self.scale_up_link, str):
            object.__setattr__(self, "scale_up_link", LINKS[self.scale_up_link])
        if not isinstance(self.scale_up_link, Link):
            raise CatalogError(f"accelerator {self.key!r}: scale_up_link must be a Link or a link name")
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
        return None if self.tdp_w is None else self.tdp_w * _units.ureg.W

    def board_power_w(self) -> float:
        """``tdp_w``, or a clear error where the accelerator's power is not known."""
        if self.tdp_w is None:
            raise ValueRangeError(f"{self.name} has no board power (tdp_w): build its Accelerator "
                                  f"with tdp_w=... (in W) to cost energy or power")
        return float(self.tdp_w)

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


def _load_links(data, sources) -> Catalog[Link]:
    entries = {}
    for key, raw in data.get("links", {}).items():
        srcs = {}
        for name in ("allreduce_latency_us", "p2p_latency_us"):
            if name not in raw or raw[name].get("src") not in sources:
                raise CatalogError(f"hardware.toml: link {key!r} needs {name} with a known source")
            srcs[name] = sources[raw[name]["src"]]
        ar = raw["allreduce_latency_us"]
        values = (ar.get("tp2"), ar.get("tp8"), raw["p2p_latency_us"].get("v"))
        if not all(isinstance(v, (int, float)) and v > 0 for v in values):
            raise CatalogError(f"hardware.toml: link {key!r}: latencies must be positive numbers")
        entries[key] = Link(key, raw["name"], float(values[0]), float(values[1]), float(values[2]), srcs)
    return Catalog("link", entries, {})


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
            elif name == "scale_up_link":
                values[name] = LINKS[entry["v"]]
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


LINKS: Catalog[Link] = _load_links(read_data("hardware.toml"), read_sources(read_data("hardware.toml"), "hardware.toml"))
"""The scale-up and scale-out links, with the latencies of their collectives."""

HARDWARE: Catalog[Accelerator] = _load()


def accelerator(name_or_spec) -> Accelerator:
    """Look up an accelerator by forgiving name (``"H100"``, ``"h100_sxm"``) or pass one through.

    Parameters
    ----------
    name_or_spec : str or Accelerator
        A catalog name, forgiving about case, spaces and punctuation (the closest names are
        suggested when none matches), or an `Accelerator`, returned unchanged.

    Returns
    -------
    Accelerator
        The accelerator's specification, with its sources.

    Examples
    --------
    >>> gpu = ml.accelerator("H100")
    >>> gpu.key, gpu.memory_gb
    ('h100-sxm', 85.89934592)
    """
    return resolve(name_or_spec, HARDWARE, Accelerator)


