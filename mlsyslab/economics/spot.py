r"""Spot capacity: what an interruptible GPU-hour costs once interruptions are paid for.

A spot GPU is taken back at random, ``interruptions_per_hour`` times an hour on average. Each
interruption costs the time to get a replacement serving again (``restart_s``: a new instance,
the weights loaded, the engine warm) and the work in flight that is lost (``lost_work_s`` of
GPU time: requests that must start over). Of every hour paid,

    useful = 1 - interruptions_per_hour * (restart_s + lost_work_s) / 3600
    effective USD per useful GPU-hour = spot price / useful

and spot stops paying at the interruption rate where that equals the on-demand price:

    break-even rate = (1 - spot / on_demand) * 3600 / (restart_s + lost_work_s)

Assumptions: interruptions are independent of load; a replacement is always available after
``restart_s``; the SLO cost of the gap (requests served late elsewhere) is not priced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import Param, checked
from ..report import Report

__all__ = ["spot_cost", "SpotCost"]


@dataclass(frozen=True)
class SpotCost(Report):
    """Spot against on-demand per useful GPU-hour (arrays broadcast like the inputs).

    Attributes
    ----------
    on_demand_usd_h : float
        On-demand price of a GPU-hour.
    spot_usd_h : float
        Spot price of a GPU-hour.
    interruptions_per_hour : float or array
        Mean interruptions per hour.
    useful_fraction : float or array
        Share of each paid hour that serves (restarts and lost work taken out).
    effective_usd_h : float or array
        Spot price per useful GPU-hour.
    saving : float or array
        ``1 - effective / on-demand``: negative where spot costs more.
    breakeven_interruptions_per_hour : float
        The interruption rate at which spot stops paying.
    """

    on_demand_usd_h: float
    spot_usd_h: float
    interruptions_per_hour: np.ndarray
    useful_fraction: np.ndarray
    effective_usd_h: np.ndarray
    saving: np.ndarray                 # against on-demand, per useful hour
    breakeven_interruptions_per_hour: float
    feasible: bool = True
    reason: str | None = None

    def __str__(self) -> str:
        if np.ndim(self.effective_usd_h):
            return f"spot against on-demand: {np.size(self.effective_usd_h)} interruption rates"
        return (f"spot USD {self.spot_usd_h:.2f}/h against on-demand USD {self.on_demand_usd_h:.2f}/h: at "
                f"{float(self.interruptions_per_hour):g} interruptions an hour {float(self.useful_fraction):.1%} "
                f"of each hour is useful, so a useful GPU-hour costs USD {float(self.effective_usd_h):.2f} "
                f"({float(self.saving):.0%} saved); spot stops paying above "
                f"{self.breakeven_interruptions_per_hour:.2f} interruptions an hour")


@checked(on_demand_usd_h=Param("real", "USD/hour", low=0, low_open=True, high=1e6),
         spot_usd_h=Param("real", "USD/hour", low=0, low_open=True, high=1e6),
         interruptions_per_hour=Param("real", "1/hour", low=0, high=3600, array=True),
         restart_s=Param("real", "s", low=0, high=1e6), lost_work_s=Param("real", "s", low=0, high=1e6))
def spot_cost(*, on_demand_usd_h, spot_usd_h, interruptions_per_hour, restart_s=300.0, lost_work_s=0.0) -> SpotCost:
    """Effective cost of a useful spot GPU-hour; see the module docstring.

    Parameters
    ----------
    on_demand_usd_h : float [USD/hour]
        On-demand price of the GPU-hour.
    spot_usd_h : float [USD/hour]
        Spot price of the same GPU-hour.
    interruptions_per_hour : float or array
        Mean interruptions per hour, >= 0.
    restart_s : float [s]
        Time to get a replacement serving after an interruption.
    lost_work_s : float [s]
        GPU time of work in flight lost at each interruption.

    Returns
    -------
    SpotCost
        Useful fraction, effective price per useful GPU-hour, saving and break-even rate.

    Examples
    --------
    >>> s = ml.spot_cost(on_demand_usd_h=3.0, spot_usd_h=1.2, interruptions_per_hour=0.5)
    >>> round(float(s.effective_usd_h), 2), round(float(s.saving), 2)
    (1.25, 0.58)
    """
    lam = np.asarray(interruptions_per_hour, dtype=float)
    gap = restart_s + lost_work_s
    useful = np.clip(1.0 - lam * gap / 3600.0, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        eff = np.where(useful > 0, spot_usd_h / np.maximum(useful, 1e-300), np.inf)
    breakeven = float("inf") if gap == 0 else max(0.0, (1.0 - spot_usd_h / on_demand_usd_h)) * 3600.0 / gap
    out = (useful, eff, 1.0 - eff / on_demand_usd_h)
    useful, eff, saving = (x if np.ndim(x) else float(x) for x in out)
    ok = bool(np.all(np.isfinite(eff)))
    return SpotCost(on_demand_usd_h=float(on_demand_usd_h), spot_usd_h=float(spot_usd_h),
                    interruptions_per_hour=lam if lam.ndim else float(lam), useful_fraction=useful,
                    effective_usd_h=eff, saving=saving, breakeven_interruptions_per_hour=breakeven,
                    feasible=ok, reason=None if ok else "interruptions leave no useful time in the hour")
