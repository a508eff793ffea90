"""The serving model against published measurements (``measured.csv``), per regime.

The measurements live in ``shared/validation/measured.csv`` beside the project; a copy ships in
``mlsyslab/data/validation/`` (with its ``SOURCES.md``) so notebooks work anywhere, and a test
keeps the two identical. Each row is one published configuration and one metric.

How each row is predicted (``mode``):

- ``static``: a batch that starts together, `mlsyslab.serve` (TTFT is the cohort's
  prefill, as ``gptSessionBenchmark``, lmdeploy's ``profile_generation`` and ``benchmark_latency``
  measure it). Where the batch's whole contexts do not fit (lmdeploy ran 64 sessions of 4,096
  tokens of a 16-bit 7B model on one 80 GB A100), the engine admits them all and grows their KV
  on demand: the cohort's prompts are prefilled together (TTFT) and the decode is
  `mlsyslab.load` with paged KV in a closed loop of ``batch`` clients;
- ``max_load``: the engine fed at an infinite rate, `mlsyslab.load` in a closed loop with
  as many clients as prompts and ``max_batch`` = the source's "Max Num Seqs" (vLLM's default of
  256 where the source does not state it).

Where a source does not state the KV-cache precision (``kv = unstated``) the engine's default is
assumed, per source, in `UNSTATED_KV`; ``compare(..., kv_assumption="fp16")`` shows how
much the assumption matters. Metrics: ``ttft_ms``, ``itl_ms``, ``e2e_ms``,
``output_tok_s_total`` (all replicas) and ``output_tok_s_per_gpu``.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from ..engine.deployment import Deployment, calibrated_efficiency
from ..engine.load import load
from ..engine.serving import prefill_seconds, serve

__all__ = ["load_measurements", "compare", "predict_row", "error_table", "leave_one_source_out",
           "with_factors", "summary_numbers", "calibration_report", "UNSTATED_KV",
           "VLLM_DEFAULT_MAX_NUM_SEQS"]

UNSTATED_KV = {
    "lmdeploy-a100-fp16": ("fp16", "lmdeploy v0.1 TurboMind's default KV cache is 16-bit (int8 KV is opt-in)"),
    "amd-rocm-perf-results-vllm0.8.3": ("fp8", "the checkpoints are amd/Llama-3.1-*-Instruct-FP8-KV, which ship FP8 KV scales"),
    "amd-rocm-perf-results-vllm0.10.2": ("fp8", "the checkpoints are amd/Llama-3.1-*-Instruct-FP8-KV, which ship FP8 KV scales"),
    "oci-blog-405b-mi300x": ("fp16", "vLLM's kv_cache_dtype 'auto' follows the model's 16-bit activations"),
    "trtllm-perf-v0.6.1": ("fp8", "the table's FP8 builds use --fp8_kv_cache (stated for H100; assumed for L40S)"),
}
"""KV precision assumed for rows whose source leaves it unstated, with the reason."""

VLLM_DEFAULT_MAX_NUM_SEQS = 256

_STATIC = {"ttft_ms": ("ttft_s", 1e3), "itl_ms": ("itl_s", 1e3), "e2e_ms": ("e2e_s", 1e3),
           "output_tok_s_total": ("throughput_tok_s", 1.0), "output_tok_s_per_gpu": ("throughput_tok_s", 1.0)}


def calibration_report() -> dict:
    """The last ``make calibrate`` run: its refit, errors per source and leave-one-source-out."""
    import json

    text = resources.files("mlsyslab.data").joinpath("calibration_report.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_measurements(path: str | Path | None = None):
    """Read ``measured.csv`` (the packaged copy unless ``path`` is given) as a DataFrame."""
    import pandas as pd

    if path is None:
        path = resources.files("mlsyslab.data").joinpath("validation/measured.csv")
    with open(path, encoding="utf-8") if isinstance(path, (str, Path)) else path.open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def _kv(row, assumption):
    if row.kv != "unstated":
        return row.kv
    return assumption or UNSTATED_KV[row.source][0]


def predict_row(row, efficiency_for=None, kv_assumption=None) -> float:
    """The model's value for one measured row (NaN where it calls the configuration infeasible)."""
    eff = (efficiency_for or calibrated_efficiency)(row.gpu)
    dep = Deployment(row.model, row.gpu, tp=int(row.tp), weights=row.weights,
                     kv=_kv(row, kv_assumption), efficiency=eff)
    S, N = float(row.prompt_tokens), float(row.output_tokens)
    B = float(row.batch_or_concurrency)
    if row.mode == "static" and bool(dep.fits(B, S + N)):
        r = serve(dep, batch=B, prompt_tokens=S, output_tokens=N)
        attr, scale = _STATIC[row.metric]
        value = getattr(r, attr) * scale
    elif row.mode == "static":
        # more sessions than whole contexts the KV cache holds: the engine admits them all, its
        # KV grows on demand (paged), so the cohort's prompts are prefilled together and the
        # decode runs as the paged load model at that many clients (preempting when full)
        if row.metric == "ttft_ms" and bool(dep.fits(B, S)):
            value = float(prefill_seconds(dep, B, S)) * 1e3
        else:
            r = load(dep, concurrency=B, prompt_tokens=S, output_tokens=max(N, 2), kv_allocation="paged")
            attr, scale = _STATIC[row.metric]
            value = getattr(r, attr) * scale
    elif row.mode == "max_load":
        seqs = row.batch_or_concurrency
        cap = VLLM_DEFAULT_MAX_NUM_SEQS if seqs != seqs else int(seqs)   # NaN: not stated
        clients = max(cap, int(dep.max_batch(S + N)))
        r = load(dep, concurrency=clients, prompt_tokens=S, output_tokens=max(N, 2), max_batch=cap,
                 kv_allocation="paged")
        value = r.throughput_tok_s
    else:  # pragma: no cover - a mode the csv does not use yet
        raise ValueError(f"mode {row.mode!r} is not modelled")
    if row.metric == "output_tok_s_total":
        value = value * float(row.replicas)
    elif row.metric == "output_tok_s_per_gpu":
        value = value / float(row.tp)
    return float(value)


def compare(measured=None, efficiency_for=None, kv_assumption=None):
    """Predict every measured row; add ``predicted`` and ``rel_error`` = predicted/measured - 1.

    ``efficiency_for(gpu_key) -> Efficiency`` overrides the calibrated factors (for fitting).
    """
    df = load_measurements() if measured is None else measured.copy()
    df["predicted"] = [predict_row(row, efficiency_for, kv_assumption) for row in df.itertuples(index=False)]
    df["rel_error"] = df["predicted"] / df["value"] - 1.0
    return df


def error_table(compared, by=("regime", "metric")):
    """Points, median and worst absolute relative error, and the signed median (bias), per group."""
    import pandas as pd

    g = compared.assign(abs_error=compared["rel_error"].abs()).groupby(list(by))
    return pd.DataFrame({
        "points": g.size(),
        "median_abs_error": g["abs_error"].median(),
        "worst_abs_error": g["abs_error"].max(),
        "median_signed_error": g["rel_error"].median(),
    })


def leave_one_source_out(measured, fit):
    """For each source: fit on the others with ``fit(measured) -> efficiency_for``, predict it.

    Returns a frame of points, median and worst absolute error per held-out source.
    """
    import pandas as pd

    rows = []
    for source in sorted(measured["source"].unique()):
        train, test = measured[measured["source"] != source], measured[measured["source"] == source]
        c = compare(test, fit(train))
        err = c["rel_error"].abs()
        rows.append({"held_out": source, "points": len(c), "median_abs_error": err.median(),
                     "worst_abs_error": err.max()})
    return pd.DataFrame(rows).set_index("held_out")


def with_factors(factors: dict):
    """An ``efficiency_for`` that applies ``{gpu_key or '*': {field: value}}`` on the defaults."""
    def efficiency_for(gpu):
        eff = calibrated_efficiency(gpu)
        eff = replace(eff, **factors.get("*", {}))
        return replace(eff, **factors.get(gpu, {}))
    return efficiency_for


def summary_numbers(compared) -> dict:
    """Overall median and worst absolute error, and the share of points off by more than 2x."""
    err = compared["rel_error"]
    ratio = np.maximum(compared["predicted"] / compared["value"], compared["value"] / compared["predicted"])
    return {"points": len(compared), "median_abs_error": float(err.abs().median()),
            "worst_abs_error": float(err.abs().max()), "off_by_2x": int((ratio > 2).sum())}
