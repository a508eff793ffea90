"""Lab 9's measurement: the one shipped with the course, or a fresh one of this machine.

``mlsyslab/data/measured/vllm_cpu.csv`` and ``vllm_cpu.json`` are written by
`measure_this_machine` and `save_measurement` (``make measure-engine``): one `measure_serving`
sweep of the local model (`SWEEP`), with the host measurement, the server's settings and the
date. Lab 9 reads them where no server runs, and says so; its exercises then work on them as on
fresh data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from ..catalog import Model
from .host import HostMeasurement, measure_host

__all__ = ["SWEEP", "StoredMeasurement", "measure_this_machine", "save_measurement", "stored_measurement"]


@dataclass(frozen=True)
class StoredMeasurement:
    """A measured sweep with what it ran on.

    Attributes
    ----------
    frame : DataFrame
        One row per benchmark point, as `measure_serving` returns it.
    host : HostMeasurement
        The machine's measured ceilings.
    model : Model
        The local model it served.
    server : dict
        The server's settings (``max_num_seqs``, ``max_num_batched_tokens``, ...) and its command.
    date : str
        When it was measured.
    record : dict
        All of it as stored (``vllm_cpu.json``).
    """

    frame: pd.DataFrame
    host: HostMeasurement
    model: Model
    server: dict
    date: str
    record: dict

    def __str__(self) -> str:
        return (f"{len(self.frame)} points measured {self.date} with {self.record['tool']} on {self.host}; "
                f"served: {self.server['command']}")


def stored_measurement() -> StoredMeasurement:
    """The sweep shipped in ``mlsyslab/data/measured/`` (see the module docstring).

    Returns
    -------
    StoredMeasurement
        The frame of benchmark points, the host measurement, the model, the server's settings.

    Examples
    --------
    >>> run = ml.stored_measurement()
    >>> bool(run.server["max_num_seqs"] >= run.frame["concurrency"].max())
    True
    """
    base = resources.files("mlsyslab") / "data" / "measured"
    record = json.loads((base / "vllm_cpu.json").read_text())
    with (base / "vllm_cpu.csv").open() as f:
        frame = pd.read_csv(f, keep_default_na=True)
    frame["error"] = frame["error"].astype(object).where(frame["error"].notna(), "")
    frame.attrs.update(url="(stored)", model="local Llama", tool=record["tool"], date=record["date"],
                       **{k: record["server"][k] for k in ("max_num_seqs", "max_num_batched_tokens")})
    host = HostMeasurement(**record["host"])
    model = Model.from_hf_config(record["model"]["config"], key="local-llama", name="local Llama (random weights)")
    return StoredMeasurement(frame, host, model, record["server"], record["date"], record)


SWEEP = {"prompt_tokens": 256, "output_tokens": 128,
         "closed_fixed": (1, 2, 4, 8, 16), "closed_spread": (1, 4, 16), "rates": (0.5, 1.0, 2.0),
         "range_ratio": 0.5, "poisson_requests": 32}
"""The course's sweep (`measure_this_machine`): the wave regime (a closed loop, fixed lengths),
the same loop with lengths spread +-50%, and Poisson arrivals with that spread."""


def measure_this_machine(folder, *, quick: bool = False, threads: int | None = None) -> StoredMeasurement:
    """Measure this host, write the local model into ``folder``, serve it, run the course's sweep.

    The whole of Lab 9's measurement in one call (about 10 minutes on a 2-core machine; ``quick``
    runs a few points, about 4). Needs `make engine`.

    Parameters
    ----------
    folder : str or path
        Where the local model is written (and the server's log).
    quick : bool
        A few points instead of the whole sweep.
    threads : int, optional
        Threads for the host measurement (default: what vLLM computes on).

    Returns
    -------
    StoredMeasurement
        What `stored_measurement` returns, for this machine and today; `save_measurement` writes
        it where that function reads.

    Examples
    --------
    >>> run = ml.measure_this_machine("local-llama")          # doctest: +SKIP
    >>> print(run)                                             # doctest: +SKIP
    """
    import datetime as _dt

    from .local_model import write_local_model
    from .server import VLLMServer
    from .sweep import measure_serving

    print("measuring this host's bandwidth and matmul rate ...", flush=True)
    host = measure_host(threads)
    print(f"  {host}\nwriting the local model into {folder} ...", flush=True)
    model = write_local_model(folder)
    print("starting vllm serve (about 1.5 minutes the first time: it compiles the model) ...", flush=True)
    s = SWEEP
    lengths = {"prompt_tokens": s["prompt_tokens"], "output_tokens": s["output_tokens"]}
    fixed, spread, rates = ((1, 16), (4,), (1.0,)) if quick else (s["closed_fixed"], s["closed_spread"], s["rates"])
    with VLLMServer(folder) as server:
        print(f"  up in {server.startup_s:.0f} s; benchmarking with vllm bench serve ...", flush=True)
        frames = [measure_serving(server, concurrency=fixed, **lengths),
                  measure_serving(server, concurrency=spread, range_ratio=s["range_ratio"], **lengths),
                  measure_serving(server, rate=rates, range_ratio=s["range_ratio"],
                                  requests=s["poisson_requests"] // (2 if quick else 1), **lengths)]
        settings = {k: getattr(server, k) for k in ("max_num_seqs", "max_num_batched_tokens", "max_model_len",
                                                       "kv_cache_gib")}
        command = re.sub(r" --port \d+", "", "vllm " + " ".join(server.args))
        startup = server.startup_s
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(frames[0].attrs)
    date = _dt.date.today().isoformat()
    server_info = {**settings, "startup_s": round(startup, 1), "engine": "vllm-cpu 0.32.0",
                   "command": command.replace(str(folder), "<local model>")}
    record = {"host": {k: getattr(host, k) for k in host.__dataclass_fields__},
              "model": {"config": json.loads((Path(folder) / "mlsyslab-config.json").read_text()),
                        "params": model.params_b * 1e9},
              "server": server_info, "tool": "vllm bench serve (vllm-cpu 0.32.0)", "date": date}
    return StoredMeasurement(frame, host, model, server_info, date, record)


def save_measurement(m: StoredMeasurement, folder=None) -> Path:
    """Write a measurement as ``vllm_cpu.csv`` and ``vllm_cpu.json`` (default: the package's data).

    >>> import tempfile
    >>> out = save_measurement(ml.stored_measurement(), tempfile.mkdtemp())
    >>> sorted(p.name for p in out.iterdir())
    ['vllm_cpu.csv', 'vllm_cpu.json']
    """
    out = Path(folder) if folder else Path(__file__).resolve().parents[1] / "data" / "measured"
    out.mkdir(parents=True, exist_ok=True)
    m.frame.drop(columns=[c for c in ("wall_s",) if c in m.frame]).to_csv(out / "vllm_cpu.csv", index=False,
                                                                          float_format="%.6g")
    (out / "vllm_cpu.json").write_text(json.dumps(m.record, indent=1) + "\n")
    return out
