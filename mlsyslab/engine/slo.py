"""A latency service-level objective that names its statistics.

``SLO(ttft_ms=2000, itl_ms=50)`` means *p99 TTFT <= 2 s and mean ITL <= 50 ms* (the defaults
for the statistics); ``SLO(ttft_ms=500, ttft_stat="p90", itl_ms=30, itl_stat="p99")`` says
otherwise. Fleets, goodput, the batch frontier, cascades and the CLI all check the same object
against `mlsyslab.load`'s results, so "meets the SLO" means one thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ValueRangeError

__all__ = ["SLO", "SIZING_MARGIN"]

SIZING_MARGIN = 0.90   # fleets and plans meet every target with 10% to spare: the load model's
                       # accuracy against its simulation (mean ITL within about 8%, mean and p99
                       # TTFT within about 10% for a Poisson stream up to 80% of capacity)

_STATS = ("mean", "p50", "p90", "p99")


@dataclass(frozen=True)
class SLO:
    """Latency targets per request: TTFT, inter-token latency (ITL) and end-to-end (all optional).

    Parameters
    ----------
    ttft_ms : float, optional
        Time-to-first-token target in ms (> 0).
    itl_ms : float, optional
        Inter-token latency target in ms (> 0): what a streaming reader waits between tokens.
    e2e_s : float, optional
        Mean end-to-end latency target in s (> 0).
    ttft_stat : str
        The statistic the TTFT target bounds: ``mean``, ``p50``, ``p90`` or ``p99``.
    itl_stat : str
        The statistic the ITL target bounds: ``mean``, ``p50``, ``p90`` or ``p99``.

    Examples
    --------
    >>> ml.SLO(ttft_ms=500, itl_ms=50)
    SLO(ttft_ms=500.0, itl_ms=50.0, e2e_s=None, ttft_stat='p99', itl_stat='mean')
    """

    ttft_ms: float | None = None
    itl_ms: float | None = None
    e2e_s: float | None = None
    ttft_stat: str = "p99"
    itl_stat: str = "mean"

    def __post_init__(self):
        for name in ("ttft_ms", "itl_ms", "e2e_s"):
            v = getattr(self, name)
            if v is None:
                continue
            ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            if not ok or not 0 < float(v) < np.inf:
                raise ValueRangeError(f"SLO {name} must be a finite number > 0 (or None); got {v!r}")
            object.__setattr__(self, name, float(v))
        for name in ("ttft_stat", "itl_stat"):
            if getattr(self, name) not in _STATS:
                raise ValueRangeError(f"SLO {name} must be one of {', '.join(_STATS)}; got {getattr(self, name)!r}")

    @property
    def empty(self) -> bool:
        return self.ttft_ms is None and self.itl_ms is None and self.e2e_s is None

    def values(self, result) -> dict:
        """The statistics this SLO bounds, read off a `LoadResult` (seconds)."""
        return {"ttft": result.stat("ttft", self.ttft_stat), "itl": result.stat("itl", self.itl_stat),
                "e2e": result.e2e_s}

    def for_sizing(self, margin: float = SIZING_MARGIN) -> SLO:
        """The targets a fleet or a plan is sized to: each one ``margin`` of this SLO's, so that
        the replica still meets this SLO when the load model errs by its stated accuracy."""
        from dataclasses import replace

        return replace(self, **{k: getattr(self, k) * margin for k in ("ttft_ms", "itl_ms", "e2e_s")
                                if getattr(self, k) is not None})

    def met(self, result):
        """True where a `LoadResult` is feasible and meets every target."""
        v = self.values(result)
        ok = np.asarray(result.feasible, dtype=bool)
        with np.errstate(invalid="ignore"):
            if self.ttft_ms is not None:
                ok = ok & (np.asarray(v["ttft"]) * 1e3 <= self.ttft_ms)
            if self.itl_ms is not None:
                ok = ok & (np.asarray(v["itl"]) * 1e3 <= self.itl_ms)
            if self.e2e_s is not None:
                ok = ok & (np.asarray(v["e2e"]) <= self.e2e_s)
        return bool(ok) if ok.ndim == 0 else ok

    def misses(self, result) -> str | None:
        """For one configuration: which targets it misses and by how much (None if it meets all)."""
        if not bool(np.all(result.feasible)):
            return f"infeasible: {result.reason}"
        v = {k: float(np.asarray(x)) for k, x in self.values(result).items()}
        out = []
        if self.ttft_ms is not None and v["ttft"] * 1e3 > self.ttft_ms:
            out.append(f"{self.ttft_stat} TTFT {v['ttft'] * 1e3:,.0f} ms > {self.ttft_ms:,.0f} ms")
        if self.itl_ms is not None and v["itl"] * 1e3 > self.itl_ms:
            out.append(f"{self.itl_stat} ITL {v['itl'] * 1e3:,.1f} ms > {self.itl_ms:,.1f} ms")
        if self.e2e_s is not None and v["e2e"] > self.e2e_s:
            out.append(f"mean e2e {v['e2e']:,.2f} s > {self.e2e_s:,.2f} s")
        return "; ".join(out) or None

    def __str__(self) -> str:
        parts = []
        if self.ttft_ms is not None:
            parts.append(f"{self.ttft_stat} TTFT <= {self.ttft_ms:,.0f} ms")
        if self.itl_ms is not None:
            parts.append(f"{self.itl_stat} ITL <= {self.itl_ms:,.1f} ms")
        if self.e2e_s is not None:
            parts.append(f"mean e2e <= {self.e2e_s:,.2f} s")
        return " and ".join(parts) if parts else "no latency target"
