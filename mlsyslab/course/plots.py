"""One house style for figures, and the roofline, frontier, validation and benchmark plots.

Labelled axes with units, log axes where the physics is multiplicative, a colour-blind-safe
palette (Okabe and Ito), and reusable roofline, frontier and predicted-against-measured plots.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.ticker import FuncFormatter

from ..catalog.hardware import accelerator
from ..catalog.models import model as model_spec
from ..engine.serving import decode_step

__all__ = ["PALETTE", "use_style", "new_axes", "roofline", "decode_breakdown", "frontier",
           "predicted_vs_measured", "benchmark_sweep", "ratio_bars"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    """Apply the house style to matplotlib (idempotent).

    Returns
    -------
    None
        The course's matplotlib style is set for the rest of the session.

    Examples
    --------
    >>> from mlsyslab.course import plots
    >>> plots.use_style()
    """
    plt.rcParams.update({
        "figure.figsize": (7.0, 4.2),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "axes.prop_cycle": cycler(color=PALETTE),
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "axes.labelsize": 11,
        "legend.frameon": False,
        "font.size": 10,
    })


def new_axes(title: str, xlabel: str, ylabel: str, *, logx: bool = False, logy: bool = False,
             ax=None):
    """Axes with a title and labelled axes; units belong in the labels, e.g. 'ITL (ms)'."""
    if ax is None:
        _, ax = plt.subplots()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    plain = FuncFormatter(lambda v, _: f"{v:,.6g}")
    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    if logy:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: _minor_label(v, ax.get_ylim())))
    return ax


def _minor_label(v, limits):
    """Label the 2, 3 and 5 minor ticks of a short log axis (enough to read values off).

    An axis spanning more than two and a half decades keeps only its powers of ten: more labels
    would overlap.
    """
    lo, hi = sorted(limits)
    if lo <= 0 or np.log10(hi / lo) > 2.5:
        return ""
    lead = v / 10 ** np.floor(np.log10(v)) if v > 0 else 0
    return f"{v:,.6g}" if round(lead) in (2, 3, 5) else ""


def roofline(hardware, points=(), *, precision: str = "fp16", efficiency=None, ax=None):
    """Roofline of ``hardware``: attainable FLOP/s against arithmetic intensity (FLOP/byte).

    ``points`` are ``(label, intensity_flop_per_byte)``; each is drawn on the roof it meets.
    With ``efficiency`` (an `mlsyslab.Efficiency`) the sustained roof is drawn too.

    Parameters
    ----------
    hardware : str or Accelerator
        The accelerator whose roofs are drawn.
    points : sequence of (str, float)
        Labelled arithmetic intensities (FLOP/byte) to mark on the roof.
    precision : str
        The number format whose peak FLOP/s is the flat roof.
    efficiency : Efficiency, optional
        Also draw the sustained roof.
    ax : matplotlib Axes, optional
        Draw into these axes.

    Returns
    -------
    matplotlib Axes
        The axes drawn into.

    Examples
    --------
    >>> from mlsyslab.course import plots
    >>> ax = plots.roofline("h100-sxm", [("decode, batch 1", 1.0), ("prefill", 2000.0)])
    >>> ax.get_xlabel()
    'arithmetic intensity (FLOP/byte)'
    """
    hw = accelerator(hardware)
    peak = hw.peak_tflops[precision]
    bw = hw.memory_bandwidth_gb_s / 1e3  # TB/s, so TB/s x FLOP/byte = TFLOP/s
    ridge = peak / bw
    x = np.logspace(-1, 4, 400)
    ax = new_axes(f"Roofline: {hw.name} ({precision})", "arithmetic intensity (FLOP/byte)",
                  "attainable (TFLOP/s)", logx=True, logy=True, ax=ax)
    ax.plot(x, np.minimum(peak, bw * x), color=PALETTE[7], lw=2, label="datasheet roof")
    if efficiency is not None:
        ax.plot(x, np.minimum(peak * efficiency.compute, bw * efficiency.bandwidth * x),
                color=PALETTE[7], lw=1, ls="--", label="sustained roof")
    ax.axvline(ridge, color=PALETTE[7], ls=":", lw=1)
    ax.annotate(f"ridge point\n{ridge:,.0f} FLOP/byte", (ridge, peak), textcoords="offset points",
                xytext=(6, -30), fontsize=9)
    for i, (label, intensity) in enumerate(points):
        y = min(peak, bw * intensity)
        ax.plot([intensity], [y], "o", ms=9, color=PALETTE[(i + 1) % len(PALETTE)], label=label)
    ax.legend(loc="lower right")
    return ax


def decode_breakdown(model, hardware, *, context: int, batches=None, title: str | None = None,
                     ax=None):
    """Where a decode step's time goes as the batch grows: memory, compute and their sum.

    Draws `mlsyslab.decode_step` over ``batches`` (default 1 to 512) at one ``context``, log-log.
    Batches whose KV cache does not fit are shaded, never drawn as if they ran.
    """
    b = np.arange(1, 513) if batches is None else np.asarray(batches)
    step = decode_step(model, hardware, batch=b, context=context)
    if title is None:
        title = f"{model_spec(model).name} on {accelerator(hardware).name}, context {context:,}"
    ax = new_axes(title, "batch size B (sequences)", "time per decode step (ms)", logx=True, logy=True,
                  ax=ax)
    ax.plot(b, step["memory"].magnitude, label="memory: weights + B x KV")
    ax.plot(b, step["compute"].magnitude, label="compute: B x 2P FLOPs")
    ax.plot(b, step["step"].magnitude, color="black", lw=1, ls="--", label="step (sum of parts)")
    unfit = b[~np.asarray(step["fits"])]
    if unfit.size:
        ax.axvspan(unfit.min(), b.max(), color="grey", alpha=0.15, label="does not fit in memory")
    ax.legend(fontsize=8)
    return ax


def frontier(x, y, *, labels=None, title: str, xlabel: str, ylabel: str, highlight=None,
             logx: bool = False, logy: bool = True, ax=None):
    """A trade-off curve (e.g. cost per token against latency), with optional point labels.

    Parameters
    ----------
    x : array
        The horizontal values (latency, say).
    y : array
        The vertical values (cost, say).
    labels : list of str, optional
        A label per point.
    title : str
        The axes' title.
    xlabel : str
        The horizontal axis's label, with its unit.
    ylabel : str
        The vertical axis's label, with its unit.
    highlight : (x, y, str), optional
        A point to ring and label (the chosen configuration); the label goes to the side with room.
    logx : bool
        A logarithmic horizontal axis.
    logy : bool
        A logarithmic vertical axis.
    ax : matplotlib Axes, optional
        Draw into these axes (default: new ones).

    Returns
    -------
    matplotlib Axes
        The axes drawn into.

    Examples
    --------
    >>> from mlsyslab.course import plots
    >>> ax = plots.frontier([10, 20, 40], [3.0, 1.5, 1.0], title="Cost against latency", xlabel="ITL (ms)", ylabel="USD per million tokens")
    >>> ax.get_ylabel()
    'USD per million tokens'
    """
    ax = new_axes(title, xlabel, ylabel, logx=logx, logy=logy, ax=ax)
    ax.plot(x, y, "-o" if len(x) <= 40 else "-", ms=4)
    if labels is not None:
        for xi, yi, lab in zip(x, y, labels):
            ax.annotate(str(lab), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if highlight is not None:
        hx, hy, text = highlight
        ax.plot([hx], [hy], "o", ms=11, mfc="none", mec=PALETTE[3], mew=2)
        # the label goes to the side with room, so a pick at the right end stays inside the axes
        xs = np.log10(np.asarray(x, dtype=float)) if logx else np.asarray(x, dtype=float)
        at = np.log10(hx) if logx else hx
        right = np.nanmax(xs) > np.nanmin(xs) and at > (np.nanmin(xs) + np.nanmax(xs)) / 2
        ax.annotate(text, (hx, hy), textcoords="offset points", xytext=(-12, 18) if right else (12, 18),
                    ha="right" if right else "left",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
                    color=PALETTE[3], fontweight="bold",
                    arrowprops={"arrowstyle": "-", "color": PALETTE[3], "lw": 1})
    return ax


def predicted_vs_measured(compared):
    """Predicted against measured, log-log with y = x and a 2x band (``validation.compare``).

    Two panels, latencies (TTFT, ITL, end to end, in ms) and throughputs (tokens/s), coloured
    by accelerator; points above the line are where the model is pessimistic (latency) or
    optimistic (throughput).

    Parameters
    ----------
    compared : pandas.DataFrame
        The frame `compare` returns.

    Returns
    -------
    matplotlib Figure
        The two panels.

    Examples
    --------
    >>> from mlsyslab.course import plots, validation
    >>> fig = plots.predicted_vs_measured(validation.compare())
    >>> len(fig.axes)
    2
    """
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.9))
    panels = [("latency (ms)", compared["metric"].str.endswith("_ms")),
              ("output tokens/s", ~compared["metric"].str.endswith("_ms"))]
    gpus = sorted(compared["gpu"].unique())
    for ax, (what, rows) in zip(axes, panels):
        sub = compared[rows]
        new_axes(f"{what.split(' (')[0].capitalize()}: {len(sub)} published points",
                 f"measured {what}", f"predicted {what}", logx=True, logy=True, ax=ax)
        for i, gpu in enumerate(gpus):
            g = sub[sub["gpu"] == gpu]
            if len(g):
                ax.plot(g["value"], g["predicted"], "o", ms=4, alpha=0.8, color=PALETTE[i], label=gpu)
        lo = min(sub["value"].min(), sub["predicted"].min()) * 0.7
        hi = max(sub["value"].max(), sub["predicted"].max()) * 1.4
        x = np.array([lo, hi])
        ax.plot(x, x, color=PALETTE[7], lw=1, label="y = x")
        ax.plot(x, 2 * x, color=PALETTE[7], lw=0.8, ls=":", label="2x off")
        ax.plot(x, x / 2, color=PALETTE[7], lw=0.8, ls=":")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


_METRIC_LABELS = {"ttft_mean_ms": "mean TTFT", "ttft_p50_ms": "median TTFT", "ttft_p99_ms": "p99 TTFT",
                  "itl_mean_ms": "mean ITL", "itl_p50_ms": "median ITL", "itl_p99_ms": "p99 ITL",
                  "output_tok_s": "throughput"}


def benchmark_sweep(compared: dict, *, title: str, metrics=("ttft_mean_ms", "itl_mean_ms")):
    """A benchmark sweep measured (markers) and predicted (one line per model), against clients.

    One panel per metric, log-log; closed-loop points only, fixed lengths filled, spread lengths
    open.

    Parameters
    ----------
    compared : dict
        A model's name (the legend) to the frame `mlsyslab.measure.compare_to_model` returns for
        it; every frame holds the same measurements.
    title : str
        The figure's title: its finding.
    metrics : tuple of str
        Measured columns to plot, one panel each (``ttft_mean_ms``, ``itl_p50_ms``, ...).

    Returns
    -------
    matplotlib Figure
        One panel per metric.

    Examples
    --------
    >>> run = ml.stored_measurement()
    >>> dep = ml.Deployment(run.model, run.host.accelerator(), weights="bf16", kv="bf16")
    >>> fig = benchmark_sweep({"GPU factors": ml.compare_to_model(run.frame, dep)}, title="A sweep")
    >>> len(fig.axes)
    2
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(7.5, 3.7))
    axes = np.atleast_1d(axes)
    first = next(iter(compared.values()))
    for ax, metric in zip(axes, metrics):
        label = _METRIC_LABELS[metric]
        new_axes(label[0].upper() + label[1:], "clients (closed loop)",
                 f"{_METRIC_LABELS[metric]} ({'ms' if metric.endswith('_ms') else 'tokens/s'})",
                 logx=True, logy=True, ax=ax)
        rows = first[(first["metric"] == metric) & (first["loop"] == "closed")]
        for spread, marker, face in ((0.0, "o", None), (0.5, "s", "none")):
            r = rows[rows["range_ratio"] == spread].sort_values("concurrency")
            if len(r):
                ax.plot(r["concurrency"], r["measured"], marker, ms=6, color=PALETTE[7], mfc=face,
                        label=f"measured, {'fixed' if spread == 0 else 'spread'} lengths", zorder=3)
        for i, (name, frame) in enumerate(compared.items()):
            r = frame[(frame["metric"] == metric) & (frame["loop"] == "closed") & (frame["range_ratio"] == 0)]
            r = r.sort_values("concurrency")
            ax.plot(r["concurrency"], r["model"], "-", lw=1.8, color=PALETTE[i], label=f"model: {name}")
        ax.legend(fontsize=7.5, loc="upper left")
    fig.suptitle(title, fontsize=12, fontweight="bold")
    fig.tight_layout()
    return fig


def ratio_bars(compared, *, title: str, metrics=("ttft_mean_ms", "itl_mean_ms", "output_tok_s"),
               band: float = 0.3):
    """Model over measured for each point and metric, as bars around 1 with a +-``band`` strip.

    Parameters
    ----------
    compared : pandas.DataFrame
        The frame `mlsyslab.measure.compare_to_model` returns.
    title : str
        The figure's title: its finding.
    metrics : tuple of str
        Measured columns to show, one bar each per point.
    band : float
        The tolerance strip around 1, as a fraction.

    Returns
    -------
    matplotlib Axes
        The bars, one group per point.

    Examples
    --------
    >>> run = ml.stored_measurement()
    >>> dep = ml.Deployment(run.model, run.host.accelerator(), weights="bf16", kv="bf16")
    >>> ax = ratio_bars(ml.compare_to_model(run.frame, dep), title="Model over measured")
    >>> ax.get_ylabel()
    'model / measured'
    """
    rows = compared[compared["metric"].isin(metrics)]
    points = list(dict.fromkeys(rows["point"]))
    ax = new_axes(title, "", "model / measured")
    width = 0.8 / len(metrics)
    x = np.arange(len(points))
    ax.axhspan(1 - band, 1 + band, color=PALETTE[2], alpha=0.12, label=f"within {band:.0%}")
    ax.axhline(1.0, color=PALETTE[7], lw=1)
    for i, metric in enumerate(metrics):
        r = rows[rows["metric"] == metric].set_index("point").reindex(points)
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, r["ratio"], width, color=PALETTE[i],
               label=_METRIC_LABELS[metric])
    ax.set_xticks(x, points, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, max(2.0, float(np.nanmax(rows["ratio"])) * 1.1))
    ax.legend(fontsize=8, ncol=2, loc="upper right")
    return ax
