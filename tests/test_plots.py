"""The plotting helpers draw what they claim: labelled axes, readable log ticks, honest roofs."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mlsyslab as ml  # noqa: E402
from mlsyslab.course import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _minor_labels(ax):
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()]


def test_new_axes_labels_and_plain_log_ticks():
    ax = plots.new_axes("t", "batch (sequences)", "ITL (ms)", logx=True, logy=True)
    ax.plot([1, 1000], [10, 20])
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("t", "batch (sequences)", "ITL (ms)")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    ax.figure.canvas.draw()
    assert "1,000" in [t.get_text() for t in ax.xaxis.get_majorticklabels()]   # not 10^3


def test_a_short_log_axis_labels_its_2_3_5_ticks_and_a_long_one_does_not():
    short = plots.new_axes("short", "x", "y", logy=True)
    short.plot([0, 1], [10, 90])
    short.set_ylim(10, 90)
    assert {"20", "30", "50"} <= set(_minor_labels(short))
    long = plots.new_axes("long", "x", "y", logy=True)
    long.plot([0, 1], [1, 1e5])
    assert _minor_labels(long) == []   # labels on five decades would overlap


def test_roofline_puts_decode_on_the_slope_and_prefill_on_the_roof():
    hw = ml.accelerator("h100-sxm")
    ax = plots.roofline("h100-sxm", [("decode", 1.0), ("prefill", 2000.0)])
    points = {line.get_label(): line.get_ydata()[0] for line in ax.lines if line.get_label() in ("decode", "prefill")}
    assert points["decode"] == pytest.approx(hw.memory_bandwidth_gb_s / 1e3 * 1.0)
    assert points["prefill"] == pytest.approx(hw.peak_tflops["fp16"])


def test_predicted_vs_measured_has_a_panel_per_kind_with_every_point():
    from mlsyslab.course.validation import compare

    checked = compare()
    fig = plots.predicted_vs_measured(checked)
    latency, throughput = fig.axes
    n_latency = int(checked["metric"].str.endswith("_ms").sum())
    assert f"{n_latency} published points" in latency.get_title()
    drawn = sum(len(line.get_xdata()) for line in latency.lines if line.get_linestyle() == "None")
    assert drawn == n_latency
    assert f"{len(checked) - n_latency} published points" in throughput.get_title()
    assert np.all(np.asarray(latency.get_ylim()) > 0)


def test_decode_breakdown_shades_the_batches_that_do_not_fit():
    from matplotlib.patches import Polygon, Rectangle

    batches = np.arange(1, 1025)
    ax = plots.decode_breakdown("llama-3-8b", "l4", context=8192, batches=batches)
    fits = np.asarray(ml.decode_step("llama-3-8b", "l4", batch=batches, context=8192)["fits"])
    shaded = [p for p in ax.patches if isinstance(p, (Polygon, Rectangle))]
    assert not fits.all() and len(shaded) == 1
    span = shaded[0]
    left = span.get_x() if isinstance(span, Rectangle) else span.get_xy()[:, 0].min()
    assert left == batches[~fits].min()
    assert [line.get_label() for line in ax.lines][:3] == [
        "memory: weights + B x KV", "compute: B x 2P FLOPs", "step (sum of parts)"]


def test_decode_breakdown_draws_no_shade_when_everything_fits():
    ax = plots.decode_breakdown("llama-3-8b", "h200", context=128, batches=np.arange(1, 9))
    assert not ax.patches
