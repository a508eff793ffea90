r"""Multi-Instance GPU: a slice of an accelerator as an accelerator of its own.

A MIG profile ``<g>g.<m>gb`` gets ``g`` of the GPU's 7 compute slices and ``k`` of its 8 memory
slices (``data/mig.toml``, from NVIDIA's MIG user guide). The slice is modelled as

    memory     = capacity * k / 8         bandwidth = peak bandwidth * k / 8
    FLOP/s     = peak * g / 7             power     = TDP * g / 7
    price      = GPU price / instances of that profile one GPU holds (the GPU packed with it)

so every model of the package (serve, load, fleet, plan) runs on a slice unchanged. Assumptions:
bandwidth follows the memory slices (each owns its memory controllers and L2); one slice is one
replica (no tensor parallelism across slices); the whole GPU is rented and packed, so a slice
costs its share of the GPU-hour.
"""

from __future__ import annotations

from dataclasses import replace

from ..catalog.hardware import Accelerator, accelerator
from ..catalog.reader import read_data
from ..errors import UnknownNameError

__all__ = ["mig_profiles", "mig_slice"]

_DATA = read_data("mig.toml")


def mig_profiles(hardware) -> list[str]:
    """The MIG profile names the catalog states for ``hardware`` (empty if it has none).

    Parameters
    ----------
    hardware : str or Accelerator
        The GPU.

    Returns
    -------
    list of str
        Its MIG profiles, smallest first (empty where the GPU has none).

    Examples
    --------
    >>> ml.mig_profiles("h100-sxm")
    ['1g.10gb', '1g.20gb', '2g.20gb', '3g.40gb', '4g.40gb', '7g.80gb']
    """
    hw = accelerator(hardware)
    return [p["name"] for p in _DATA.get("gpus", {}).get(hw.key, {}).get("profiles", [])]


def mig_slice(hardware, profile: str) -> Accelerator:
    """One MIG instance of ``hardware`` as an `Accelerator`; see the module docstring.

    Parameters
    ----------
    hardware : str or Accelerator
        The whole GPU (its MIG profiles are in ``data/mig.toml``; see `mig_profiles`).
    profile : str
        A MIG profile of that GPU, such as ``"3g.40gb"``.

    Returns
    -------
    Accelerator
        The slice, with its share of memory, bandwidth, FLOP/s, power and price.

    Examples
    --------
    >>> ml.mig_slice("h100-sxm", "3g.40gb").memory_gb
    42.94967296
    """
    hw = accelerator(hardware)
    entry = _DATA.get("gpus", {}).get(hw.key)
    if entry is None:
        known = ", ".join(sorted(_DATA.get("gpus", {})))
        raise UnknownNameError(f"the catalog states no MIG profiles for {hw.name}; it has them for {known}")
    profiles = {p["name"]: p for p in entry["profiles"]}
    if profile not in profiles:
        import difflib

        close = difflib.get_close_matches(profile, list(profiles), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"{hw.name} has no MIG profile {profile!r} (it has {', '.join(profiles)}){hint}")
    p = profiles[profile]
    mem, comp, n = p["memory"] / 8, p["compute"] / 7, p["max"]
    price = None if hw.on_demand_usd_h is None else hw.on_demand_usd_h / n
    spot = None if hw.spot_usd_h is None else hw.spot_usd_h / n
    return replace(hw, key=f"{hw.key}:{profile}", name=f"{hw.name} MIG {profile}", memory_gb=hw.memory_gb * mem,
                   memory_bandwidth_gb_s=hw.memory_bandwidth_gb_s * mem,
                   peak_tflops={k: v * comp for k, v in hw.peak_tflops.items()}, tdp_w=None if hw.tdp_w is None else hw.tdp_w * comp,
                   scale_up_gpus=1, scale_out_gb_s=None, on_demand_usd_h=price, spot_usd_h=spot,
                   purchase_usd=None if hw.purchase_usd is None else hw.purchase_usd / n)
