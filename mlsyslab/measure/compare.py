"""The model beside the measurement: the same benchmark predicted, and the few factors refitted.

`compare_to_model` predicts each row of a `measure_serving` frame with the load model (and,
with ``simulate_too=True``, the step-by-step simulation) for the protocol the row ran:

- a closed-loop row as its `Benchmark` (C clients started together, its lengths, its requests);
- an open-loop row as Poisson arrivals with the lengths' spread (CV ``r / sqrt(3)`` for vLLM's
  uniform ``[L(1 - r), L(1 + r)]``), and its throughput over the run as the tool times it:
  ``N x output / (N / rate + e2e)``, the arrivals' span plus the last request's latency.

It returns a tidy frame, one row per point and metric, with ``measured``, ``model`` (and
``simulated``) and their ratio.

`fit_efficiency` refits a few `Efficiency` factors to such a frame by least squares (scipy's
``least_squares``) on the log ratios of mean TTFT, median ITL (a decode step alone), mean ITL
and output throughput, with a weak pull toward the starting factors: in a direction the data
cannot see (one model size cannot tell a slower weight read from a fixed cost per step) the
start decides, instead of the fit drifting.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from ..engine.deployment import Deployment
from ..engine.efficiency import Efficiency
from ..engine.load import load
from ..engine.simulation import simulate
from ..errors import ValueRangeError
from .sweep import benchmark_of

__all__ = ["compare_to_model", "fit_efficiency", "METRICS"]

METRICS = {"ttft_mean_ms": ("ttft", "mean", 1e3), "ttft_p50_ms": ("ttft", "p50", 1e3),
           "ttft_p99_ms": ("ttft", "p99", 1e3), "itl_mean_ms": ("itl", "mean", 1e3),
           "itl_p50_ms": ("itl", "p50", 1e3), "itl_p99_ms": ("itl", "p99", 1e3),
           "output_tok_s": ("throughput_tok_s", None, 1.0)}
"""Measured column -> the model's metric, statistic and scale (seconds to ms)."""

_FIT_METRICS = ("ttft_mean_ms", "itl_p50_ms", "itl_mean_ms", "output_tok_s")


def _limits(measured, max_batch, max_batched_tokens):
    return (max_batch or measured.attrs.get("max_num_seqs"),
            max_batched_tokens or measured.attrs.get("max_num_batched_tokens"))


def _predict(result, col, row=None):
    metric, stat, scale = METRICS[col]
    if col == "output_tok_s" and row is not None and row["loop"] == "open":
        # a Poisson benchmark of N requests lasts N / rate (the arrivals) plus the last one's
        # latency: its throughput is the tokens over that, not the steady state's
        n, q = float(row["requests"]), float(row["rate"])
        return n * float(row["output_tokens"]) / (n / q + float(np.asarray(result.e2e_s)))
    if stat is None:
        return float(np.asarray(getattr(result, metric))) * scale
    return float(np.asarray(result.stat(metric, stat))) * scale


def _split_failed(measured):
    """The rows that measured something, and "label: error" for each that did not (plain strings,
    so that frames carrying them in ``attrs`` still concatenate)."""
    if "error" not in measured:
        return measured, []
    bad = measured["error"].fillna("").astype(str) != ""
    return measured[~bad], [f"{_label(r)}: {r['error']}" for _, r in measured[bad].iterrows()]


def _label(row) -> str:
    where = f"C={int(row['concurrency'])}" if row["loop"] == "closed" else f"{float(row['rate']):g} req/s"
    spread = "fixed" if float(row["range_ratio"]) == 0 else f"\u00b1{float(row['range_ratio']):.0%}"
    return f"{where}, {spread}"


def _model_of(row, dep, max_batch, max_batched_tokens, fn, **kw):
    if row["loop"] == "closed":
        return fn(dep, benchmark=benchmark_of(row), max_batch=max_batch, max_batched_tokens=max_batched_tokens, **kw)
    cv = float(row["range_ratio"]) / math.sqrt(3)         # uniform in [L(1 - r), L(1 + r)]
    return fn(dep, rate=float(row["rate"]), prompt_tokens=int(row["prompt_tokens"]),
              output_tokens=int(row["output_tokens"]), prompt_cv=cv, output_cv=cv, max_batch=max_batch,
              max_batched_tokens=max_batched_tokens, **kw)


def compare_to_model(measured: pd.DataFrame, deployment: Deployment, *, simulate_too: bool = False,
                     max_batch: int | None = None, max_batched_tokens: int | None = None,
                     seed: int = 0) -> pd.DataFrame:
    """Each measured point and metric beside the model's prediction of the same benchmark.

    Parameters
    ----------
    measured : DataFrame
        From `measure_serving` (rows with an ``error`` are left out of the comparison and named,
        with their errors, in the frame's ``attrs["failed"]``).
    deployment : Deployment
        The model, this host's `Accelerator` (`HostMeasurement.accelerator`), the precision and
        the efficiency factors to predict with.
    simulate_too : bool
        Also run the step-by-step simulation of each point (``simulated`` column).
    max_batch, max_batched_tokens : int, optional
        The server's ``--max-num-seqs`` and ``--max-num-batched-tokens`` (default: what the frame
        recorded of the `VLLMServer`, else the engine's defaults).
    seed : int
        The simulation's seed.

    Returns
    -------
    DataFrame
        Tidy: ``point`` (a label: "C=4, fixed", "2 req/s, \u00b150%"), ``loop``, ``concurrency``, ``rate``, ``range_ratio``, ``metric``, ``measured``,
        ``model``, ``ratio`` (model / measured), and ``simulated``, ``sim_ratio`` when asked.

    Examples
    --------
    >>> run = ml.stored_measurement()
    >>> dep = ml.Deployment(run.model, run.host.accelerator(), weights="bf16", kv="bf16",
    ...                     efficiency=run.host.efficiency())
    >>> c = ml.compare_to_model(run.frame, dep)
    >>> sorted(c["metric"].unique())[:3]
    ['itl_mean_ms', 'itl_p50_ms', 'itl_p99_ms']
    """
    if not isinstance(deployment, Deployment):
        raise ValueRangeError(f"deployment must be a Deployment; got {type(deployment).__name__}")
    mb, mbt = _limits(measured, max_batch, max_batched_tokens)
    ok, failed = _split_failed(measured)
    rows = []
    for _, row in ok.iterrows():
        res = _model_of(row, deployment, mb, mbt, load)
        sim = _model_of(row, deployment, mb, mbt, simulate, seed=seed) if simulate_too else None
        for col in METRICS:
            if col not in row or not np.isfinite(row[col]):
                continue
            out = {"point": _label(row), "loop": row["loop"], "concurrency": row["concurrency"], "rate": row["rate"],
                   "range_ratio": row["range_ratio"], "metric": col, "measured": float(row[col]),
                   "model": _predict(res, col, row)}
            out["ratio"] = out["model"] / out["measured"] if out["measured"] > 0 else np.nan
            if sim is not None:
                out["simulated"] = _predict(sim, col, row)
                out["sim_ratio"] = out["simulated"] / out["measured"] if out["measured"] > 0 else np.nan
            rows.append(out)
    frame = pd.DataFrame(rows)
    frame.attrs.update(measured.attrs, failed=failed)
    return frame


def fit_efficiency(measured: pd.DataFrame, deployment: Deployment, *,
                   factors=("bandwidth", "compute", "overlap", "step_overhead_ms", "request_overhead_ms"),
                   max_batch: int | None = None, max_batched_tokens: int | None = None,
                   prior_weight: float = 0.05) -> Efficiency:
    """Refit ``factors`` of the deployment's `Efficiency` to measured points (see the module docstring).

    With one model size the data cannot tell a slower weight read from a fixed cost per step: in
    that direction the pull toward the start decides, so start from factors measured for the host
    (`HostMeasurement.efficiency`: ``bandwidth`` from the weight-streaming kernel), and read the
    split between the two as a prior's, not the data's.
    The residuals are ``log(model / measured)`` of mean TTFT, median and mean ITL and throughput at
    every point, plus ``prior_weight x log(factor / start)`` for each factor. Fractions stay in
    (0.01, 1], ``overlap`` in [0, 1]; fixed costs in [0, 1000] ms (``_ms``) or [0, 10,000] us
    (``_us``).

    Parameters
    ----------
    measured : DataFrame
        From `measure_serving` (rows with an ``error`` are left out).
    deployment : Deployment
        The model, the host's `Accelerator` and the starting factors.
    factors : sequence of str
        `Efficiency` fields to fit (any but ``kv_bandwidth``).
    max_batch, max_batched_tokens : int, optional
        The server's limits (default: what the frame recorded).
    prior_weight : float
        The pull of each factor toward its start, per unit of log error.

    Returns
    -------
    Efficiency
        The deployment's factors with ``factors`` replaced by the fitted values.

    Examples
    --------
    >>> run = ml.stored_measurement()
    >>> dep = ml.Deployment(run.model, run.host.accelerator(), weights="bf16", kv="bf16",
    ...                     efficiency=run.host.efficiency())
    >>> 0 <= ml.fit_efficiency(run.frame, dep).overlap <= 1
    True
    """
    from scipy.optimize import least_squares

    start = deployment.efficiency
    names = list(factors)
    valid = {f for f in Efficiency.__dataclass_fields__}
    for n in names:
        if n not in valid or n == "kv_bandwidth":
            raise ValueRangeError(f"cannot fit {n!r}: choose from {', '.join(sorted(valid - {'kv_bandwidth'}))}")
    mb, mbt = _limits(measured, max_batch, max_batched_tokens)
    ok, failed = _split_failed(measured)
    if ok.empty:
        raise ValueRangeError("no measured point without an error to fit")

    def bounds(n):
        if n == "overlap":
            return (0.0, 1.0)
        return (0.0, 1000.0) if n.endswith("_ms") else (0.0, 1e4) if n.endswith("_us") else (0.01, 1.0)

    # fixed costs are fitted in ms + 1 (log space with room for zero); fractions as they are
    def to_x(eff):
        return np.array([math.log(getattr(eff, n) + (1.0 if bounds(n)[0] == 0 else 0.0)) for n in names])

    def to_eff(x):
        vals = {n: float(np.clip(math.exp(v) - (1.0 if bounds(n)[0] == 0 else 0.0), *bounds(n)))
                for n, v in zip(names, x)}
        return replace(start, **vals)

    x0 = to_x(start)

    def residuals(x):
        dep = replace(deployment, efficiency=to_eff(x))
        out = []
        for _, row in ok.iterrows():
            res = _model_of(row, dep, mb, mbt, load)
            for col in _FIT_METRICS:
                p, m = _predict(res, col, row), float(row[col])
                out.append(math.log(p / m) if p > 0 and m > 0 and math.isfinite(p) else 5.0)
        return np.array(out + list(prior_weight * (x - x0)))

    lo = np.array([math.log(bounds(n)[0] + (1.0 if bounds(n)[0] == 0 else 0.0)) for n in names])
    hi = np.array([math.log(bounds(n)[1] + (1.0 if bounds(n)[0] == 0 else 0.0)) for n in names])
    sol = least_squares(residuals, np.clip(x0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), diff_step=1e-3,
                        max_nfev=200)
    return to_eff(sol.x)
