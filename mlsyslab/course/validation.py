"""The serving model against published measurements, per regime, backend and source.

Two measured sets ship in ``mlsyslab/data/validation/`` (copies of ``shared/validation/``; a
test keeps them identical): ``measured.csv``, 225 published rows from five sources, and
``measured_aic_hopper.csv``, 1,444 gated end-to-end runs on H100 and H200 with vLLM, SGLang and
TensorRT-LLM (the corpus; its rows on other hardware are held out and not here).

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
           "VLLM_DEFAULT_MAX_NUM_SEQS", "ENGINE_OF_SOURCE", "load_corpus", "corpus_rows",
           "compare_corpus", "corpus_error_table", "CORPUS_MODELS"]

UNSTATED_KV = {
    "lmdeploy-a100-fp16": ("fp16", "lmdeploy v0.1 TurboMind's default KV cache is 16-bit (int8 KV is opt-in)"),
    "amd-rocm-perf-results-vllm0.8.3": ("fp8", "the checkpoints are amd/Llama-3.1-*-Instruct-FP8-KV, which ship FP8 KV scales"),
    "amd-rocm-perf-results-vllm0.10.2": ("fp8", "the checkpoints are amd/Llama-3.1-*-Instruct-FP8-KV, which ship FP8 KV scales"),
    "oci-blog-405b-mi300x": ("fp16", "vLLM's kv_cache_dtype 'auto' follows the model's 16-bit activations"),
    "trtllm-perf-v0.6.1": ("fp8", "the table's FP8 builds use --fp8_kv_cache (stated for H100; assumed for L40S)"),
}
"""KV precision assumed for rows whose source leaves it unstated, with the reason."""

VLLM_DEFAULT_MAX_NUM_SEQS = 256

ENGINE_OF_SOURCE = {
    "trtllm-perf-v0.6.1": "trtllm-0.6", "nemo-llama2-inference": "nemo-trtllm",
    "lmdeploy-a100-fp16": "lmdeploy-0.1", "amd-rocm-perf-results-vllm0.8.3": "vllm-rocm",
    "amd-rocm-perf-results-vllm0.10.2": "vllm-rocm", "oci-blog-405b-mi300x": "vllm-rocm",
}
"""The serving stack each ``measured.csv`` source was measured with. These are 2023-25 releases
(TensorRT-LLM 0.5-0.6 and its ``gptSessionBenchmark``, NeMo's TensorRT-LLM, lmdeploy 0.1,
vLLM 0.6-0.10 on ROCm), older than the corpus's engines: their fixed costs per layer and per
request are their own (``[efficiency.by_stack]``), the physics (bandwidth, compute) shared."""

CORPUS_MODELS = {"MiniMax-M2.5.json": "minimax-m2.5", "Qwen3.5-397B-A17B.json": "qwen3.5-397b-a17b",
                 "Kimi-K2.5.json": "kimi-k2.5", "GLM-5.json": "glm-5"}
"""Catalog keys of the corpus's models that ``model`` leaves empty (their config.json, as shipped)."""

_STATIC = {"ttft_ms": ("ttft_s", 1e3), "itl_ms": ("itl_s", 1e3), "e2e_ms": ("e2e_s", 1e3),
           "output_tok_s_total": ("throughput_tok_s", 1.0), "output_tok_s_per_gpu": ("throughput_tok_s", 1.0)}


def calibration_report() -> dict:
    """The last ``make calibrate`` run: its refit, errors per source and leave-one-source-out."""
    import json

    text = resources.files("mlsyslab.data").joinpath("calibration_report.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_measurements(path: str | Path | None = None):
    """Read ``measured.csv`` (the packaged copy unless ``path`` is given) as a DataFrame.

    Parameters
    ----------
    path : str or Path, optional
        A CSV in the same columns (default: the packaged ``measured.csv``).

    Returns
    -------
    pandas.DataFrame
        One row per published measurement, with its source.

    Examples
    --------
    >>> from mlsyslab.course import validation
    >>> len(validation.load_measurements())
    225
    """
    import pandas as pd

    if path is None:
        path = resources.files("mlsyslab.data").joinpath("validation/measured.csv")
    with open(path, encoding="utf-8") if isinstance(path, (str, Path)) else path.open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def _kv(row, assumption):
    if row.kv != "unstated":
        return row.kv
    return assumption or UNSTATED_KV[row.source][0]


def _shared(gpu, engine=None):
    return calibrated_efficiency(gpu, engine)


def predict_row(row, efficiency_for=None, kv_assumption=None) -> float:
    """The model's value for one measured row (NaN where it calls the configuration infeasible)."""
    eff = (efficiency_for or _shared)(row.gpu, ENGINE_OF_SOURCE.get(row.source))
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

    Parameters
    ----------
    measured : pandas.DataFrame, optional
        Measured rows (default: `load_measurements`).
    efficiency_for : callable, optional
        ``efficiency_for(gpu_key) -> Efficiency`` (default: the calibrated factors).
    kv_assumption : str, optional
        The KV precision assumed where a source does not state it (default: the engine's, per
        source, as in ``UNSTATED_KV``).

    Returns
    -------
    pandas.DataFrame
        The measured rows with ``predicted`` and ``rel_error``.

    Examples
    --------
    >>> from mlsyslab.course import validation
    >>> c = validation.compare()
    >>> {"predicted", "rel_error"} <= set(c.columns)
    True
    """
    df = load_measurements() if measured is None else measured.copy()
    df["predicted"] = [predict_row(row, efficiency_for, kv_assumption) for row in df.itertuples(index=False)]
    df["rel_error"] = df["predicted"] / df["value"] - 1.0
    return df


def error_table(compared, by=("regime", "metric")):
    """Points, median and worst absolute relative error, and the signed median (bias), per group.

    Parameters
    ----------
    compared : pandas.DataFrame
        The frame `compare` returns.
    by : tuple of str
        The columns to group by.

    Returns
    -------
    pandas.DataFrame
        One row per group: points, median and worst absolute error, median signed error.

    Examples
    --------
    >>> from mlsyslab.course import validation
    >>> t = validation.error_table(validation.compare(), by=("metric",))
    >>> list(t.columns)
    ['points', 'median_abs_error', 'worst_abs_error', 'median_signed_error']
    """
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

    Parameters
    ----------
    measured : pandas.DataFrame
        Measured rows, with a ``source`` column.
    fit : callable
        ``fit(train) -> efficiency_for`` (or None to keep the calibrated factors).

    Returns
    -------
    pandas.DataFrame
        One row per held-out source: points, median and worst absolute error.

    Examples
    --------
    >>> from mlsyslab.course import validation
    >>> no_refit = lambda train: None
    >>> t = validation.leave_one_source_out(validation.load_measurements(), no_refit)
    >>> list(t.columns)
    ['points', 'median_abs_error', 'worst_abs_error']
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
    """An ``efficiency_for(gpu, engine)`` that applies ``{'*' | gpu_key | 'engine:<name>': {field:
    value}}`` on the packaged factors: shared first, then the engine's, then the GPU's."""
    def efficiency_for(gpu, engine=None):
        eff = calibrated_efficiency(gpu, engine)
        eff = replace(eff, **factors.get("*", {}))
        if engine is not None:
            eff = replace(eff, **factors.get(f"engine:{engine}", {}))
        return replace(eff, **factors.get(gpu, {}))
    return efficiency_for


def summary_numbers(compared) -> dict:
    """Overall median and worst absolute error, and the share of points off by more than 2x."""
    err = compared["rel_error"]
    ratio = np.maximum(compared["predicted"] / compared["value"], compared["value"] / compared["predicted"])
    return {"points": len(compared), "median_abs_error": float(err.abs().median()),
            "worst_abs_error": float(err.abs().max()), "off_by_2x": int((ratio > 2).sum())}


# --- the corpus: measured_aic_hopper.csv -------------------------------------------------------

def load_corpus(path: str | Path | None = None):
    """Read ``measured_aic_hopper.csv`` (the packaged copy unless ``path`` is given) as a DataFrame."""
    import pandas as pd

    if path is None:
        path = resources.files("mlsyslab.data").joinpath("validation/measured_aic_hopper.csv")
    with open(path, encoding="utf-8") if isinstance(path, (str, Path)) else path.open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def corpus_rows(corpus=None, *, max_concurrency=None, gate=("yes",)):
    """The corpus rows the model can score: gated aggregated runs whose layout mlsyslab can
    express (``ml_tp`` given), each with its catalog model key (``model_key``) and engine.

    No row is dropped for its error; rows are left out only where the source's layout cannot be
    expressed (the corpus's own ``note`` says why) or ``gate`` excludes them (``duplicate``
    rows repeat a measurement already counted; ``info`` rows have an ambiguous layout).
    """
    df = load_corpus() if corpus is None else corpus
    rows = df[df["gate"].isin(gate) & df["ml_tp"].notna() & (df["mode"] == "agg")].copy()
    rows["model_key"] = rows["model"].fillna(rows["model_config"].map(CORPUS_MODELS))
    rows = rows[rows["model_key"].notna()]
    if max_concurrency is not None:
        rows = rows[rows["concurrency"] <= max_concurrency]
    rows["engine"] = rows["backend"]
    return rows.reset_index(drop=True)


_CORPUS_GROUP = ["model_key", "gpu", "ml_tp", "ml_ep", "weights", "kv", "engine"]


def _requests_per_client(provenance):
    """Requests per client in a corpus run (SOURCES.md section 6): InferenceX's ``--num-prompts
    10*CONC``; for NVIDIA's gap-analysis runs, whose protocol is unstated, the ``--num-requests
    20*C`` of AIConfigurator's AIPerf template (an assumption)."""
    return np.where(np.asarray(provenance) == "aic-gap-analysis", 20.0, 10.0)


def compare_corpus(rows=None, efficiency_for=None, kv_assumption=None):
    """Predict the mean TTFT and TPOT of corpus rows with `load` as the benchmark ran them (the
    row's clients started together, its requests per client, its mean lengths and spread); add ``ttft_pred_ms``, ``tpot_pred_ms`` and the ratios
    ``ttft_ratio`` and ``tpot_ratio`` (predicted / measured). One vectorised `load` call per
    deployment; NaN where the model calls the row infeasible.
    """
    rows = corpus_rows() if rows is None else rows.copy()
    rows["ttft_pred_ms"] = np.nan
    rows["tpot_pred_ms"] = np.nan
    for key, grp in rows.groupby(_CORPUS_GROUP, sort=False):
        model_key, gpu, tp, ep, weights, kv, engine = key
        eff = (efficiency_for or _shared)(gpu, engine)
        dep = Deployment(model_key, gpu, tp=int(tp), ep=int(ep), weights=weights,
                         kv=kv_assumption or kv, efficiency=eff, engine=engine)
        clients = np.maximum(1, np.round(grp["concurrency"].to_numpy() / grp["replicas"].fillna(1).to_numpy()))
        r = load(dep, concurrency=clients,
                 prompt_tokens=grp["prompt_tokens_mean"].to_numpy(),
                 output_tokens=np.maximum(grp["output_tokens_mean"].to_numpy(), 2),
                 prompt_cv=float(grp["length_cv"].fillna(0).iloc[0]),
                 output_cv=float(grp["length_cv"].fillna(0).iloc[0]),
                 start="together", requests=clients * _requests_per_client(grp["provenance"].to_numpy()))
        rows.loc[grp.index, "ttft_pred_ms"] = np.asarray(r.ttft_s) * 1e3
        rows.loc[grp.index, "tpot_pred_ms"] = np.asarray(r.itl_s) * 1e3
    rows["ttft_ratio"] = rows["ttft_pred_ms"] / rows["silicon_ttft_ms"]
    rows["tpot_ratio"] = rows["tpot_pred_ms"] / rows["silicon_tpot_ms"]
    return rows


def corpus_error_table(compared, by=("backend",), metric="tpot"):
    """Rows, median absolute error, geometric-mean ratio (bias) and the share off by more than 2x,
    per group, for ``metric`` ``"tpot"`` or ``"ttft"``."""
    import pandas as pd

    ratio = compared[f"{metric}_ratio"]
    frame = compared.assign(_r=ratio, _abs=(ratio - 1).abs(), _log=np.log(ratio),
                            _off=np.maximum(ratio, 1 / ratio) > 2)
    g = frame.groupby(list(by))
    return pd.DataFrame({
        "rows": g.size(),
        "median_abs_error": g["_abs"].median(),
        "geomean_ratio": np.exp(g["_log"].mean()),
        "off_by_2x": g["_off"].mean(),
    })
