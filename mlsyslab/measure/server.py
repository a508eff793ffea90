"""A vLLM server on 127.0.0.1, started and stopped by process id, every wait bounded.

`VLLMServer` runs ``vllm serve`` from the engine environment (`make engine`) in its own process
group, with its log in a file, waits for ``/health`` (at most ``start_timeout_s``: the first start
on a CPU compiles the model, about 1.5 minutes; later starts reuse the compile cache), and stops
the whole group (SIGTERM, then SIGKILL) when the ``with`` block ends, even on an error. The
settings that change what a benchmark measures are explicit and recorded in ``args``:

- ``--max-num-seqs`` and ``--max-num-batched-tokens``: the batch cap and the step's token budget,
  which the model then uses too;
- ``--no-enable-prefix-caching``: a benchmark's seeded prompts repeat, and a prefix cache would
  turn their prefill into a lookup;
- ``VLLM_CPU_KVCACHE_SPACE`` (GiB): vLLM's CPU backend otherwise takes most of the machine's
  memory for its KV cache;
- nothing is fetched from the network: ``HF_HUB_OFFLINE=1``, and vLLM's usage reports off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import EngineError, ValueRangeError
from .environment import engine_bin

__all__ = ["VLLMServer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """``vllm serve MODEL`` on 127.0.0.1 for the length of a ``with`` block.

    Parameters
    ----------
    model : str or path
        A checkpoint folder (`write_local_model`) or a model name the engine can load offline.
    max_num_seqs : int
        Requests running at once (``--max-num-seqs``).
    max_num_batched_tokens : int
        Tokens one step may carry (``--max-num-batched-tokens``).
    max_model_len : int
        Longest sequence (``--max-model-len``).
    kv_cache_gib : float
        Memory for the KV cache, GiB (``VLLM_CPU_KVCACHE_SPACE``).
    port : int, optional
        Where to listen (default: a free port).
    start_timeout_s : float
        The most seconds to wait for the server to answer ``/health``.
    log : path, optional
        The server's log file (default ``vllm-serve.log`` beside the checkpoint).
    extra_args : list of str
        More ``vllm serve`` arguments.

    Examples
    --------
    >>> with ml.VLLMServer("local-llama") as server:            # doctest: +SKIP
    ...     frame = ml.measure_serving(server, concurrency=[1, 4])
    """

    def __init__(self, model, *, max_num_seqs: int = 64, max_num_batched_tokens: int = 2048,
                 max_model_len: int = 2048, kv_cache_gib: float = 2.0, port: int | None = None,
                 start_timeout_s: float = 600, log=None, extra_args=()):
        for name, v in (("max_num_seqs", max_num_seqs), ("max_num_batched_tokens", max_num_batched_tokens),
                        ("max_model_len", max_model_len)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueRangeError(f"{name} must be a whole number >= 1; got {v!r}")
        if not (isinstance(kv_cache_gib, (int, float)) and 0 < kv_cache_gib < 1024):
            raise ValueRangeError(f"kv_cache_gib must be a number of GiB in (0, 1024); got {kv_cache_gib!r}")
        self.model = str(model)
        self.max_num_seqs, self.max_num_batched_tokens = max_num_seqs, max_num_batched_tokens
        self.max_model_len, self.kv_cache_gib = max_model_len, float(kv_cache_gib)
        self.port = port or _free_port()
        self.start_timeout_s = float(start_timeout_s)
        folder = Path(self.model) if Path(self.model).is_dir() else Path.cwd()
        self.log = Path(log) if log else folder / "vllm-serve.log"
        self.args = ["serve", self.model, "--host", "127.0.0.1", "--port", str(self.port),
                     "--max-num-seqs", str(max_num_seqs), "--max-num-batched-tokens", str(max_num_batched_tokens),
                     "--max-model-len", str(max_model_len), "--no-enable-prefix-caching",
                     "--disable-log-stats", *extra_args]
        self.process: subprocess.Popen | None = None
        self.startup_s: float | None = None

    @property
    def url(self) -> str:
        """The server's base address (OpenAI-compatible: ``/v1/completions`` below it)."""
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the server's log (what to read when it fails)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        lines = [x for x in text.splitlines() if not x.startswith("WARNING: Location")]
        return "\n".join(lines)[-chars:]

    def start(self) -> VLLMServer:
        """Start the server and wait until it answers, or raise `EngineError` with its log's end."""
        vllm = engine_bin("vllm")
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": f"{self.kv_cache_gib:g}", "VLLM_TARGET_DEVICE": "cpu",
               "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([str(vllm), *self.args], stdout=log, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)
        while time.monotonic() - t0 < self.start_timeout_s:
            if self.process.poll() is not None:
                raise EngineError(f"vllm serve exited with status {self.process.returncode} while starting; "
                                  f"the end of {self.log}:\n{self.log_tail()}")
            if self._healthy():
                self.startup_s = time.monotonic() - t0
                return self
            time.sleep(1.0)
        self.stop()
        raise EngineError(f"vllm serve did not answer within {self.start_timeout_s:g} s; the end of "
                          f"{self.log}:\n{self.log_tail()}")

    def stop(self, grace_s: float = 20) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after ``grace_s``."""
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"VLLMServer({self.model!r}, {self.url}, {state})"
