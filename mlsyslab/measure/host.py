"""This machine as an accelerator: its sustained memory bandwidth and matmul rate, measured.

A CPU serves a model by the same physics as a GPU (decode streams the weights and the KV cache
once per step; prefill is large matmuls), so the package's step-time model applies once the two
ceilings are known. `measure_host` measures them with microbenchmarks (``microbench.py``) run in a
fresh process with the thread count fixed before the libraries load:

- by default with the engine environment's PyTorch (16-bit matmuls and reads: the oneDNN/ATen
  kernels vLLM's CPU backend calls), else with the course's numpy (32-bit);
- on ``threads`` cores: vLLM's CPU backend computes on all cores but one, which it keeps for its
  front end (``VLLM_CPU_OMP_THREADS_BIND=auto``), so that is the default;
- each figure is the best of several repeats (STREAM's convention): a sustained rate that the
  serving efficiencies then scale, as they scale a GPU's datasheet peaks.

`HostMeasurement.accelerator` returns an `Accelerator` whose "datasheet" is this measurement, with
the measurement as its source: ``peak_tflops`` is the measured matmul rate and
``memory_bandwidth_gb_s`` the measured read rate, so ``Efficiency`` factors below 1 say how far
serving falls short of what the same machine sustains in isolation.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..catalog import Accelerator
from ..catalog.reader import Source
from ..engine.efficiency import Efficiency, calibrated_efficiency
from ..errors import EngineError, ValueRangeError
from .environment import engine_python

__all__ = ["HostMeasurement", "measure_host", "default_threads"]

_SCRIPT = Path(__file__).with_name("microbench.py")


def default_threads() -> int:
    """The cores vLLM's CPU backend computes on: all it may use but one (at least one)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True)
class HostMeasurement:
    """What `measure_host` measured.

    Attributes
    ----------
    cpu : str
        The processor's name as the OS reports it.
    cores : int
        Logical cores the OS reports.
    threads : int
        Threads the kernels ran on.
    library : str
        The library whose kernels were timed (``torch 2.13.0+cpu`` or ``numpy 2.x``).
    dtype : str
        Element type of the reads and matmuls (bf16 with torch, fp32 with numpy).
    read_gb_s : float
        Sustained read bandwidth (a 512 MiB sum), GB/s.
    copy_gb_s : float
        Sustained copy bandwidth (bytes read plus written, 256 MiB), GB/s.
    gemv_gb_s : float
        Weight bytes per second of one token through a 64 MiB matrix (a decode step's kernel), GB/s.
    matmul_tflops : float
        Sustained matmul rate of a 2048 x 2048 product, TFLOP/s.
    memory_gb : float
        Main memory, GB.
    date : str
        When it was measured (ISO date).
    """

    cpu: str
    cores: int
    threads: int
    library: str
    dtype: str
    read_gb_s: float
    copy_gb_s: float
    gemv_gb_s: float
    matmul_tflops: float
    memory_gb: float
    date: str

    def accelerator(self, *, tdp_w: float | None = None) -> Accelerator:
        """This host as an `Accelerator`: the measured rates as its peaks, the measurement as the source.

        ``tdp_w`` (W) only matters for energy and TCO; it is not measured, so it is unknown unless given.
        """
        src = Source("measured", f"measured on this host by mlsyslab.measure_host ({self.library}, {self.dtype}, "
                     f"{self.threads} thread{'s' if self.threads != 1 else ''}, best of repeats)", "", self.date)
        return Accelerator(
            key="host", name=f"{self.cpu} ({self.threads} thread{'s' if self.threads != 1 else ''})",
            memory_gb=self.memory_gb, memory_bandwidth_gb_s=self.read_gb_s,
            peak_tflops={"fp16": self.matmul_tflops, "bf16": self.matmul_tflops}, tdp_w=tdp_w,
            interconnect_gb_s=self.copy_gb_s, scale_up_link="pcie", scale_up_gpus=1, vendor="this host",
            sources={f: src for f in ("memory_gb", "memory_bandwidth_gb_s", "peak_tflops", "interconnect_gb_s")})

    def efficiency(self, engine: str = "vllm") -> Efficiency:
        """The starting `Efficiency` for this host, before any serving is measured.

        ``bandwidth`` is measured, not assumed: the weight-streaming kernel's rate over the read
        rate (``gemv_gb_s / read_gb_s``), since `accelerator` states the read rate as the peak;
        ``compute`` is 1 (the measured matmul rate is the peak); ``overlap`` is 1 (the plain
        roofline); the fixed costs per layer, step and request are the engine's calibrated GPU
        values (`calibrated_efficiency`), which `fit_efficiency` then refits to this machine.
        """
        base = calibrated_efficiency(self.accelerator(), engine)
        return replace(base, bandwidth=min(1.0, self.gemv_gb_s / self.read_gb_s), compute=1.0, overlap=1.0)

    def __str__(self) -> str:
        return (f"{self.cpu}, {self.threads} of {self.cores} cores, {self.library} {self.dtype}: read "
                f"{self.read_gb_s:.1f} GB/s, copy {self.copy_gb_s:.1f} GB/s, weight streaming "
                f"{self.gemv_gb_s:.1f} GB/s, matmul "
                f"{self.matmul_tflops * 1e3:.0f} GFLOP/s; {self.memory_gb:.1f} GB memory ({self.date})")


def measure_host(threads: int | None = None, *, repeats: int = 7, library: str = "auto",
                 timeout_s: float = 300) -> HostMeasurement:
    """Measure this machine's sustained read and copy bandwidth and matmul rate.

    Parameters
    ----------
    threads : int, optional
        Threads to measure with (default `default_threads`: what vLLM's CPU backend computes on).
    repeats : int
        Timed repeats of each kernel; the best counts. From 1 to 100.
    library : str
        ``"torch"`` (the engine environment's; needs `make engine`), ``"numpy"`` (this
        environment's) or ``"auto"`` (torch where the engine is installed, else numpy).
    timeout_s : float
        The most seconds the measurement may take.

    Returns
    -------
    HostMeasurement
        The four rates, the machine and the library they were measured with, and the date.

    Examples
    --------
    >>> host = ml.measure_host(library="numpy", repeats=2)      # doctest: +SKIP
    >>> host.accelerator().memory_bandwidth                    # doctest: +SKIP
    <Quantity(24.8, 'gigabyte / second')>
    """
    cores = os.cpu_count() or 1
    threads = default_threads() if threads is None else threads
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= cores:
        raise ValueRangeError(f"threads must be a whole number from 1 to this machine's {cores} cores; got {threads!r}")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 100:
        raise ValueRangeError(f"repeats must be a whole number from 1 to 100; got {repeats!r}")
    if library not in ("auto", "torch", "numpy"):
        raise ValueRangeError(f"library must be 'auto', 'torch' or 'numpy'; got {library!r}")
    if library == "numpy":
        python = Path(sys.executable)
    else:
        try:
            python = engine_python()
        except EngineError:
            if library == "torch":
                raise
            python = Path(sys.executable)
    env = {**os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    try:
        out = subprocess.run([str(python), str(_SCRIPT), str(threads), str(repeats)], env=env,
                             capture_output=True, text=True, timeout=timeout_s, check=True).stdout
        d = json.loads(out.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        raise EngineError(f"the host measurement took longer than {timeout_s:g} s") from None
    except (subprocess.CalledProcessError, json.JSONDecodeError, IndexError) as exc:
        tail = getattr(exc, "stderr", "") or ""
        raise EngineError(f"the host measurement failed: {tail.strip()[-400:] or exc}") from None
    if library == "torch" and not d["library"].startswith("torch"):
        raise EngineError(f"{python} has no PyTorch: run `make engine` again")
    return HostMeasurement(cpu=d["cpu"], cores=int(d["cores"]), threads=int(d["threads"]), library=d["library"],
                           dtype=d["dtype"], read_gb_s=float(d["read_gb_s"]), copy_gb_s=float(d["copy_gb_s"]),
                           gemv_gb_s=float(d["gemv_gb_s"]),
                           matmul_tflops=float(d["matmul_tflops"]),
                           memory_gb=float(d["memory_bytes"]) / 1e9,
                           date=_dt.date.today().isoformat())
