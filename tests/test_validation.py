"""The serving model against every published measurement in shared/validation/measured.csv.

The goal the project set is a median error of at most 15% in every regime and no point off by
more than 2x. Where the model does not reach it yet, the ceilings below are today's levels, so a
change that makes the model worse fails; each gap says why it is there.
"""

import numpy as np
import pytest

from mlsyslab.course.validation import (
    UNSTATED_KV,
    compare,
    error_table,
    load_measurements,
    summary_numbers,
)

from .conftest import SHARED_VALIDATION

GOAL = 0.15
KNOWN_GAPS = {  # (regime, metric): (ceiling on the median, why)
    ("batch1_latency", "ttft_ms"): (0.50, "per-request overhead differs by engine (lmdeploy vs TensorRT-LLM)"),
    ("batch1_latency+long_output", "ttft_ms"): (0.25, "the same"),
    ("static_large_batch", "ttft_ms"): (0.30, "lmdeploy's mean FTL over sessions of a cohort"),
    ("static_large_batch+long_output", "ttft_ms"): (0.25, "the same"),
    ("static_large_batch+long_prompt+long_output", "ttft_ms"): (0.20, "the same"),
    ("static_large_batch+long_prompt", "output_tok_s_per_gpu"): (0.20, "2 points, Llama-2-70B on TensorRT-LLM v0.6.1"),
    ("static_large_batch", "output_tok_s_per_gpu"): (0.40, "2 points; v0.6.1 ran GQA without its GQA kernels (SOURCES.md)"),
    ("static_large_batch+long_output", "output_tok_s_per_gpu"): (0.60, "the same, worst at long outputs"),
    ("static_large_batch+long_prompt+long_output", "output_tok_s_per_gpu"): (0.40, "the same"),
    ("max_load+long_output", "output_tok_s_total"): (0.20, "MI300X max load, one fitted factor for two vLLM versions"),
}


@pytest.fixture(scope="module")
def compared():
    path = SHARED_VALIDATION if SHARED_VALIDATION.exists() else None
    return compare(load_measurements(path))


def test_packaged_copy_matches_shared(root):
    if not SHARED_VALIDATION.exists():
        pytest.skip("shared/validation is not beside this checkout")
    packaged = root / "mlsyslab" / "data" / "validation" / "measured.csv"
    assert packaged.read_bytes() == SHARED_VALIDATION.read_bytes(), \
        "shared/validation/measured.csv changed: copy it into mlsyslab/data/validation and run make calibrate"


def test_every_row_is_predicted_none_dropped(compared):
    assert len(compared) == 225
    assert np.isfinite(compared["predicted"]).all(), "a measured configuration was predicted infeasible"
    assert set(compared.loc[compared["kv"] == "unstated", "source"]) <= set(UNSTATED_KV)


def test_median_error_per_regime_and_metric(compared):
    table = error_table(compared)
    print("\n" + table.to_string(float_format="{:.1%}".format))  # shown with pytest -s
    for key, row in table.iterrows():
        ceiling = KNOWN_GAPS.get(key, (GOAL, ""))[0]
        assert row["median_abs_error"] <= ceiling, (key, row["median_abs_error"])


def test_overall_error_and_points_off_by_2x(compared):
    s = summary_numbers(compared)
    assert s["median_abs_error"] <= 0.08
    assert s["off_by_2x"] <= 11      # 6 are lmdeploy sessions that exceed the KV cache, see Lab 1
    assert abs(compared["rel_error"].median()) < 0.05   # unbiased over the set


def test_mi300x_needs_its_own_compute_factor(compared):
    # the reason the calibration is per accelerator: with the shared factors MI300X is ~2x optimistic
    import mlsyslab as ml
    from mlsyslab.course.validation import with_factors

    amd = compared[compared["gpu"] == "mi300x"]
    shared = compare(amd, with_factors({"mi300x": {"compute": ml.DEFAULT_EFFICIENCY.compute,
                                                   "bandwidth": ml.DEFAULT_EFFICIENCY.bandwidth}}))
    big = amd["batch_or_concurrency"].fillna(1e9) >= 128
    assert shared.loc[big, "rel_error"].abs().median() > 0.5     # 2x too fast with NVIDIA's factors
    assert amd.loc[big, "rel_error"].abs().median() < 0.2
    small = amd["batch_or_concurrency"].fillna(1e9) <= 8     # bandwidth-bound: the shared factor fits
    assert shared.loc[small, "rel_error"].abs().median() < 0.1


def test_calibration_report_is_fresh(compared):
    # make calibrate writes it; if the model or the factors change, the packaged errors move
    from mlsyslab.course.validation import calibration_report
    report = calibration_report()
    live = error_table(compared, by=("source",))["median_abs_error"]
    assert report["packaged_errors_by_source"] == pytest.approx(live.to_dict(), abs=1e-5), \
        "the serving model or calibration.toml changed: run make calibrate"
    assert {r["held_out"] for r in report["leave_one_source_out"]} == set(compared["source"])
