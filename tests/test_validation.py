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
    ("batch1_latency+long_output", "ttft_ms"): (0.40, "2 points: one lmdeploy request overhead for a 7B "
                                                      "(+49%) and a 70B (-24%)"),
    ("static_large_batch", "ttft_ms"): (0.30, "lmdeploy's mean FTL over sessions of a cohort"),
    ("static_large_batch+long_output", "ttft_ms"): (0.25, "the same"),
    ("static_large_batch+long_prompt", "ttft_ms"): (0.20, "the same"),
    ("static_large_batch+long_prompt+long_output", "ttft_ms"): (0.20, "the same"),
    ("static_large_batch+long_prompt", "output_tok_s_per_gpu"): (0.20, "2 points, Llama-2-70B on TensorRT-LLM v0.6.1"),
    ("static_large_batch", "output_tok_s_per_gpu"): (0.40, "2 points; v0.6.1 ran GQA without its GQA kernels (SOURCES.md)"),
    ("static_large_batch+long_output", "output_tok_s_per_gpu"): (0.60, "the same, worst at long outputs"),
    ("static_large_batch+long_prompt+long_output", "output_tok_s_per_gpu"): (0.40, "the same"),
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


def test_every_regime_median_within_the_goal(compared):
    table = error_table(compared, by=("regime",))
    for regime, row in table.iterrows():
        assert row["median_abs_error"] <= GOAL, (regime, row["median_abs_error"])


def test_rocm_attention_reads_below_the_weights_rate(compared):
    # the MI300X max-load pairs (one batch, mean contexts of 1,152 and 2,176 tokens) separate the
    # KV read from the matmuls: vLLM on ROCm's paged attention sustains well under the weights'
    # streaming rate, and with the shared rate the longer outputs came out 20-29% too fast
    import mlsyslab as ml

    rocm, h100 = ml.calibrated_efficiency("mi300x"), ml.calibrated_efficiency("h100-sxm")
    assert h100.kv_bandwidth is None and rocm.kv_bandwidth < 0.5 * rocm.bandwidth
    amd = compared[compared["source"].str.startswith("amd-rocm")]
    assert amd["rel_error"].abs().median() <= GOAL
    longer = amd[amd["output_tokens"] == 4096]["rel_error"]
    assert longer.abs().max() <= GOAL, longer


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
    # every MI300X row runs fp8 weights; vLLM on ROCm's fp8 GEMMs are the factor that cannot be shared
    shared = compare(amd, with_factors({"mi300x": {"compute_fp8": ml.DEFAULT_EFFICIENCY.compute_fp8}}))
    big = amd["batch_or_concurrency"].fillna(1e9) >= 128
    assert shared.loc[big, "rel_error"].median() > 0.35    # about 1.4x too fast with NVIDIA's factor
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
    held_out = {r["held_out"] for r in report["leave_one_source_out"]}
    from mlsyslab.course.validation import corpus_rows

    corpus = {f"corpus:{p} (TPOT)" for p in corpus_rows(max_concurrency=4)["provenance"].unique()}
    assert held_out == set(compared["source"]) | corpus


# --- the Hopper corpus (measured_aic_hopper.csv) at concurrency <= 4: the step time's goals ----

CORPUS_GOAL = 0.10      # TPOT median error per tp degree and per backend
CORPUS_GAPS: dict = {}  # (column, value): (ceiling, why) where a group cannot reach the goal yet


@pytest.fixture(scope="module")
def corpus_low():
    from mlsyslab.course.validation import compare_corpus, corpus_rows

    return compare_corpus(corpus_rows(max_concurrency=4))


def test_packaged_corpus_matches_shared(root):
    shared = SHARED_VALIDATION.parent / "measured_aic_hopper.csv"
    if not shared.exists():
        pytest.skip("shared/validation is not beside this checkout")
    packaged = root / "mlsyslab" / "data" / "validation" / "measured_aic_hopper.csv"
    assert packaged.read_bytes() == shared.read_bytes()


def test_corpus_tpot_median_per_tp_degree_and_backend(corpus_low):
    from mlsyslab.course.validation import corpus_error_table

    assert len(corpus_low) >= 140 and np.isfinite(corpus_low["tpot_ratio"]).all()
    for column in ("ml_tp", "backend"):
        table = corpus_error_table(corpus_low, by=(column,))
        print("\n" + table.to_string(float_format="{:.1%}".format))
        for value, row in table.iterrows():
            ceiling = CORPUS_GAPS.get((column, value), (CORPUS_GOAL, ""))[0]
            assert row["median_abs_error"] <= ceiling, (column, value, row["median_abs_error"])


def test_corpus_residuals_have_no_tensor_parallel_trend(corpus_low):
    # the old fitted all-reduce made tp8 1.45-2.07x slow and tp1 0.82-1.09x: a slope of ~0.2 per
    # doubling of tp in the log ratio. The per-link all-reduce must leave none.
    from mlsyslab.course.validation import corpus_error_table

    slope = np.polyfit(np.log2(corpus_low["ml_tp"]), np.log(corpus_low["tpot_ratio"]), 1)[0]
    assert abs(slope) < 0.03, slope
    bias = corpus_error_table(corpus_low, by=("ml_tp",))["geomean_ratio"]
    assert bias.between(0.93, 1.07).all(), bias


def test_nemo_latency_falls_with_tp_as_measured(compared):
    # NeMo Llama-2-7B at batch 1: measured 153.8 ms at tp1 and 128.6 ms at tp2 on H100 (the old
    # all-reduce term predicted it rising, 135 -> 167 ms)
    nemo = compared[compared["source"] == "nemo-llama2-inference"]
    by_tp = nemo.groupby(["gpu", "tp"])[["value", "predicted"]].median()
    for gpu, g in by_tp.groupby(level="gpu"):
        assert (np.diff(g["value"].to_numpy()) < 0).all()
        assert (np.diff(g["predicted"].to_numpy()) < 0).all(), (gpu, g)


# --- the whole corpus under load: every gated row predicted as its benchmark ran ---------------

LOAD_GOAL = 0.15            # TTFT and TPOT median error over the corpus (issue goal)
LOAD_GAPS = {  # (metric, backend or "all"): (ceiling on the median, why)
    ("ttft", "all"): (0.33, "NVIDIA's gap-analysis runs (804 rows): their client protocol is unstated, "
                            "fixed lengths and 20 requests per client assumed from AIConfigurator's template"),
    ("ttft", "sglang"): (0.45, "SGLang's measured TTFT grows with concurrency far beyond its queue"),
    ("ttft", "trtllm"): (0.42, "mostly gap-analysis rows, as above"),
    ("ttft", "vllm"): (0.20, "9 runs at C = 512 whose engine limits the corpus does not state"),
    ("tpot", "sglang"): (0.23, "SGLang at 8-256 clients runs 1.1-1.25x slower than predicted"),
}


@pytest.fixture(scope="module")
def corpus_all():
    from mlsyslab.course.validation import compare_corpus, corpus_rows

    return compare_corpus(corpus_rows())


def test_corpus_ttft_and_tpot_under_load(corpus_all):
    from mlsyslab.course.validation import corpus_error_table

    assert len(corpus_all) >= 1400
    for metric in ("ttft", "tpot"):
        ratio = corpus_all[f"{metric}_ratio"]
        assert np.isfinite(ratio).all()
        overall = float((ratio - 1).abs().median())
        assert overall <= LOAD_GAPS.get((metric, "all"), (LOAD_GOAL,))[0], (metric, overall)
        for backend, row in corpus_error_table(corpus_all, by=("backend",), metric=metric).iterrows():
            ceiling = LOAD_GAPS.get((metric, backend), (0.25,))[0]
            assert row["median_abs_error"] <= ceiling, (metric, backend, row["median_abs_error"])
    tpot = corpus_all["tpot_ratio"]
    assert (np.maximum(tpot, 1 / tpot) > 2).mean() < 0.02                   # the goal, met
    assert 0.9 < float(np.exp(np.log(corpus_all["ttft_ratio"]).mean())) < 1.1  # TTFT unbiased


def test_a_benchmarks_start_up_queue_is_what_inferencex_measured(corpus_all):
    # InferenceX's own runs (clients started together, 10 per client): where the model was 0.35x
    # on TTFT before it ran them as a benchmark
    ix = corpus_all[(corpus_all["provenance"] == "inferencex-export") & (corpus_all["backend"] == "vllm")]
    assert len(ix) > 250
    assert float((ix["ttft_ratio"] - 1).abs().median()) <= 0.15
