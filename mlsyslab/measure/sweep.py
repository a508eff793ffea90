"""Measure a server with vLLM's own load generator (``vllm bench serve``), as a tidy frame.

`measure_serving` runs one ``vllm bench serve`` per point against any OpenAI-compatible address
(the `VLLMServer` here, or a GPU server), reads the JSON file the tool saves (``--save-result``),
and returns one row per point with what the tool prints: mean, median and p99 TTFT, TPOT and ITL,
request and output-token throughput. The protocol is the benchmark the load model predicts
(`Benchmark`):

- a **closed loop** (``concurrency``): ``requests`` prompts, at most C in flight
  (``--max-concurrency C --request-rate inf``), all started together;
- an **open loop** (``rate``): Poisson arrivals at that rate (``--request-rate``), no cap;
- lengths from vLLM's random dataset: uniform in ``[L(1 - r), L(1 + r)]`` for the range ratio
  ``r`` (``--random-range-ratio``; 0 is fixed), every answer to its drawn length (``--ignore-eos``);
- ``warmup`` requests first (``--num-warmups``), not counted.

Every point is bounded: ``requests`` in count and ``timeout_s`` in time (the tool is stopped, the
point reported as failed with the reason, and the sweep goes on).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.benchmark import Benchmark, Lengths
from ..errors import EngineError, ValueRangeError
from ..progress import bar
from .environment import engine_bin

__all__ = ["MEASURED_COLUMNS", "measure_serving", "benchmark_of"]

MEASURED_COLUMNS = ("ttft_mean_ms", "ttft_p50_ms", "ttft_p99_ms", "tpot_mean_ms", "itl_mean_ms",
                    "itl_p50_ms", "itl_p99_ms", "output_tok_s", "request_rps")
"""The statistics each measured row has (milliseconds, tokens/s, requests/s)."""

_FROM_TOOL = {"ttft_mean_ms": "mean_ttft_ms", "ttft_p50_ms": "median_ttft_ms", "ttft_p99_ms": "p99_ttft_ms",
              "tpot_mean_ms": "mean_tpot_ms", "itl_mean_ms": "mean_itl_ms", "itl_p50_ms": "median_itl_ms",
              "itl_p99_ms": "p99_itl_ms", "output_tok_s": "output_throughput", "request_rps": "request_throughput"}


def _whole(name, v, lo=1):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise ValueRangeError(f"{name} must be a whole number >= {lo}; got {v!r}")
    return int(v)


def benchmark_of(row) -> Benchmark:
    """The `Benchmark` a closed-loop row of `measure_serving` ran (for `load` and `simulate`).

    >>> str(benchmark_of({"concurrency": 4, "prompt_tokens": 256, "output_tokens": 128, "range_ratio": 0.5,
    ...                   "requests": 16, "warmup": 0})).split(";")[0]
    '16 requests at concurrency 4, started together'
    """
    r = float(row["range_ratio"])

    def lengths(n):
        return Lengths.fixed(n) if r == 0 else Lengths.uniform(math.floor(n * (1 - r)), math.ceil(n * (1 + r)))

    return Benchmark(int(row["concurrency"]), lengths(int(row["prompt_tokens"])), lengths(int(row["output_tokens"])),
                     requests=int(row["requests"]), start="together", warmup=int(row["warmup"]))


def measure_serving(server, *, concurrency=None, rate=None, prompt_tokens: int = 256,
                    output_tokens: int = 128, range_ratio: float = 0.0, requests_per_client: int = 4,
                    requests: int | None = None, warmup: int = 0, seed: int = 0, timeout_s: float = 600,
                    model: str | None = None, tokenizer: str | None = None, result_dir=None) -> pd.DataFrame:
    """Benchmark a server at each concurrency (closed loop) and each rate (Poisson), one row each.

    Parameters
    ----------
    server : VLLMServer or str
        A running `VLLMServer`, or the base address of any OpenAI-compatible server (then give
        ``model`` and ``tokenizer``).
    concurrency : sequence of int, optional
        Closed-loop points: clients in flight (default 1, 4 and 16 when no ``rate`` is given).
    rate : sequence of float, optional
        Open-loop points: Poisson arrival rates, requests/s.
    prompt_tokens, output_tokens : int
        Mean prompt and answer lengths.
    range_ratio : float
        Lengths uniform in ``[L(1 - r), L(1 + r)]``, in [0, 1); 0 is fixed lengths.
    requests_per_client : int
        Closed loop: requests per client (``requests = C x this``).
    requests : int, optional
        Requests per point (overrides ``requests_per_client``; an open loop's default is 32).
    warmup : int
        Requests sent first and not counted.
    seed : int
        The dataset's random seed.
    timeout_s : float
        The most seconds one point may take.
    model, tokenizer : str, optional
        The served model's name and its tokenizer (default: the server's checkpoint).
    result_dir : path, optional
        Where the tool's JSON files go (default: a temporary folder).

    Returns
    -------
    DataFrame
        One row per point: ``loop``, ``concurrency``, ``rate``, the lengths, ``requests``,
        ``completed``, ``failed``, ``duration_s``, `MEASURED_COLUMNS`, ``error``; ``attrs`` hold the
        address, the model, the tool and the date.

    Examples
    --------
    >>> with ml.VLLMServer("local-llama") as server:                          # doctest: +SKIP
    ...     frame = ml.measure_serving(server, concurrency=[1, 4], rate=[1.0])
    >>> ml.stored_measurement().frame[["loop", "concurrency", "requests"]].iloc[0].astype(str).tolist()
    ['closed', '1.0', '4']
    """
    url = server.url if hasattr(server, "url") else str(server)
    model = model or getattr(server, "model", None)
    if not model:
        raise ValueRangeError("give model=... (the served model's name) with a server address")
    tokenizer = tokenizer or model
    if concurrency is None and rate is None:
        concurrency = (1, 4, 16)
    concurrency, rate = tuple(concurrency or ()), tuple(rate or ())
    for c in concurrency:
        _whole("concurrency", c)
    for q in rate:
        if not (isinstance(q, (int, float, np.integer, np.floating)) and math.isfinite(q) and q > 0):
            raise ValueRangeError(f"rates must be finite numbers of requests/s > 0; got {q!r}")
    _whole("prompt_tokens", prompt_tokens)
    _whole("output_tokens", output_tokens, 2)
    _whole("requests_per_client", requests_per_client)
    _whole("warmup", warmup, 0)
    if requests is not None:
        _whole("requests", requests)
    if not (isinstance(range_ratio, (int, float)) and 0 <= range_ratio < 1):
        raise ValueRangeError(f"range_ratio must be a number in [0, 1); got {range_ratio!r}")
    vllm = engine_bin("vllm")
    out = Path(result_dir) if result_dir else Path(tempfile.mkdtemp(prefix="mlsyslab-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    points = [("closed", int(c), math.inf) for c in concurrency] + [("open", None, float(q)) for q in rate]
    rows = []
    with bar(len(points), "vllm bench serve", unit="point") as pbar:
        for point in points:
            rows.append(_run_point(vllm, url, model, tokenizer, out, *point, prompt_tokens=prompt_tokens,
                                   output_tokens=output_tokens, range_ratio=range_ratio, requests=requests,
                                   requests_per_client=requests_per_client, warmup=warmup, seed=seed,
                                   timeout_s=timeout_s))
            pbar.update(1)
    frame = pd.DataFrame(rows)
    for col in MEASURED_COLUMNS + ("completed", "failed", "duration_s", "prompt_mean"):
        if col not in frame:
            frame[col] = np.nan
    frame.attrs.update(url=url, model=model, tool="vllm bench serve", date=_dt.datetime.now().isoformat(timespec="seconds"),
                       result_dir=str(out))
    for setting in ("max_num_seqs", "max_num_batched_tokens", "max_model_len", "kv_cache_gib"):
        if hasattr(server, setting):
            frame.attrs[setting] = getattr(server, setting)
    return frame


def _run_point(vllm, url, model, tokenizer, out, loop, c, q, *, prompt_tokens, output_tokens, range_ratio,
               requests, requests_per_client, warmup, seed, timeout_s) -> dict:

    n = requests or (c * requests_per_client if loop == "closed" else 32)
    name = f"{loop}-{c if loop == 'closed' else q:g}-{prompt_tokens}-{output_tokens}-{seed}.json"
    args = [str(vllm), "bench", "serve", "--backend", "vllm", "--base-url", url, "--model", model,
            "--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", str(prompt_tokens),
            "--random-output-len", str(output_tokens), "--random-range-ratio", f"{range_ratio:g}",
            "--num-prompts", str(n), "--request-rate", "inf" if loop == "closed" else f"{q:g}",
            "--ignore-eos", "--seed", str(seed), "--num-warmups", str(warmup), "--save-result",
            "--result-dir", str(out), "--result-filename", name, "--percentile-metrics",
            "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99", "--disable-tqdm"]
    if loop == "closed":
        args += ["--max-concurrency", str(c)]
    row = {"loop": loop, "concurrency": c if c else np.nan, "rate": q if loop == "open" else np.nan,
           "prompt_tokens": prompt_tokens, "output_tokens": output_tokens, "range_ratio": float(range_ratio),
           "requests": n, "warmup": warmup, "seed": seed}
    t0 = time.monotonic()
    try:
        env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        if Path(tokenizer).is_dir():            # a local checkpoint: never ask the Hub
            env["HF_HUB_OFFLINE"] = "1"
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=env)
        if proc.returncode != 0:
            tail = [x for x in proc.stderr.splitlines() if not x.startswith("WARNING: Location")]
            raise EngineError(f"vllm bench serve exited with status {proc.returncode}: {' | '.join(tail[-3:])}")
        d = json.loads((out / name).read_text())
        row.update({k: float(d[v]) for k, v in _FROM_TOOL.items()})
        row.update(completed=int(d["completed"]), failed=int(d.get("failed", 0)), duration_s=float(d["duration"]),
                   prompt_mean=float(np.mean(d["input_lens"])) if d.get("input_lens") else np.nan,
                   error="")
    except subprocess.TimeoutExpired:
        row.update(error=f"stopped after {timeout_s:g} s")
    except (EngineError, OSError, KeyError, json.JSONDecodeError) as exc:
        row.update(error=str(exc)[:300])
    row["wall_s"] = time.monotonic() - t0
    return row
