r"""Semantic caching: answer a request from a similar past one, and pay for the wrong hits.

A semantic cache embeds each request, looks up the nearest cached one and, above a similarity
threshold, returns its answer without running the model. The threshold sets two rates that must
be measured on one's own traffic (they are inputs here, never defaults): the *hit rate* ``h`` and
the *false-hit rate* ``f``, the share of hits whose cached answer is wrong for the new request.
Per request,

    cost = lookup + (1 - h) * request + h * f * wrong_answer

    saving = 1 - cost / request,   break-even false-hit rate f* = (h * request - lookup) / (h * wrong_answer)

``wrong_answer`` is what a wrong answer costs the business (a retry, a support ticket, a lost
user), usually far more than the request itself: it, not the GPU, decides the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import Param, checked
from ..report import Report

__all__ = ["semantic_cache", "SemanticCache"]


@dataclass(frozen=True)
class SemanticCache(Report):
    """Expected cost per request with a semantic cache (arrays broadcast like the inputs).

    Attributes
    ----------
    hit_rate : float or array
        Share of requests answered from the cache.
    false_hit_rate : float or array
        Share of hits whose cached answer is wrong for the new request.
    request_usd : float
        What one request costs when the model serves it.
    cost_usd : float or array
        Expected cost of a request with the cache: lookup, misses and the cost of wrong hits.
    saving : float or array
        ``1 - cost / request``: negative where the cache loses money.
    breakeven_false_hit_rate : float or array
        The false-hit rate at which the cache stops paying.
    """

    hit_rate: np.ndarray
    false_hit_rate: np.ndarray
    request_usd: float
    cost_usd: np.ndarray
    saving: np.ndarray
    breakeven_false_hit_rate: np.ndarray
    feasible: bool = True
    reason: str | None = None

    def __str__(self) -> str:
        if np.ndim(self.cost_usd):
            return f"semantic cache: {np.size(self.cost_usd)} operating points"
        return (f"semantic cache at {float(self.hit_rate):.0%} hits, {float(self.false_hit_rate):.1%} of them wrong: "
                f"USD {float(self.cost_usd):.6f} per request against USD {self.request_usd:.6f} "
                f"({float(self.saving):+.0%}); it loses money above {float(self.breakeven_false_hit_rate):.2%} wrong hits")


@checked(hit_rate=Param("real", "", low=0, high=1, array=True), false_hit_rate=Param("real", "", low=0, high=1, array=True),
         request_usd=Param("real", "USD", low=0, low_open=True, high=1e6),
         lookup_usd=Param("real", "USD", low=0, high=1e6), wrong_answer_usd=Param("real", "USD", low=0, high=1e9))
def semantic_cache(*, hit_rate, false_hit_rate, request_usd, lookup_usd, wrong_answer_usd) -> SemanticCache:
    """Expected cost per request, saving and break-even false-hit rate; see the module docstring.

    Parameters
    ----------
    hit_rate : float or array
        Share of requests answered from the cache, in [0, 1].
    false_hit_rate : float or array
        Share of hits whose cached answer is wrong for the new request, in [0, 1].
    request_usd : float [USD]
        What serving one request with the model costs.
    lookup_usd : float [USD]
        What one cache lookup (embedding and search) costs.
    wrong_answer_usd : float [USD]
        What one wrong answer costs the business (a retry, a ticket, a lost user).

    Returns
    -------
    SemanticCache
        Cost per request, saving and the break-even false-hit rate.

    Examples
    --------
    >>> c = ml.semantic_cache(hit_rate=0.3, false_hit_rate=0.02, request_usd=0.01, lookup_usd=0.0002, wrong_answer_usd=0.2)
    >>> round(float(c.saving), 3), round(float(c.breakeven_false_hit_rate), 4)
    (0.16, 0.0467)
    """
    h, f = np.broadcast_arrays(np.asarray(hit_rate, dtype=float), np.asarray(false_hit_rate, dtype=float))
    cost = lookup_usd + (1 - h) * request_usd + h * f * wrong_answer_usd
    with np.errstate(divide="ignore", invalid="ignore"):
        f_star = np.where(h * wrong_answer_usd > 0, (h * request_usd - lookup_usd) / (h * wrong_answer_usd), np.inf)
    f_star = np.clip(f_star, 0.0, 1.0)
    out = (h, f, cost, 1 - cost / request_usd, f_star)
    h, f, cost, saving, f_star = (x if np.ndim(x) else float(x) for x in out)
    return SemanticCache(hit_rate=h, false_hit_rate=f, request_usd=float(request_usd), cost_usd=cost,
                         saving=saving, breakeven_false_hit_rate=f_star)
