"""Sustained memory bandwidth and matmul rate of this host, as one script (run in a subprocess).

Run by `mlsyslab.measure.measure_host` with the interpreter whose kernels are to be measured (the
engine environment's, with PyTorch: the same oneDNN/ATen kernels vLLM's CPU backend calls; or the
course's, with numpy) and the thread count fixed before the libraries load. It imports nothing
from mlsyslab, so it runs in any environment that has numpy or torch, and prints one JSON object.

- **read** bandwidth: the sum of a 512 MiB array (16-bit with torch, 32-bit with numpy), best of
  the repeats: decode streams weights and KV this way, read once per step;
- **copy** bandwidth: a 256 MiB array copied into another, bytes read plus bytes written (the
  STREAM convention), best of the repeats;
- **weight-streaming** (GEMV) bandwidth: one token through a 64 MiB weight matrix (``x W^T``,
  the kernel a decode step runs per layer), weight bytes over time, best of the repeats: below
  the read rate where the kernel does not keep the memory system busy;
- **matmul** rate: ``2 n^3`` FLOPs of an ``n x n`` product (bf16 with torch, fp32 with numpy),
  best of the repeats, the rate prefill's large matmuls approach.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time


def _best(fn, repeats):
    fn()                                    # warm: page faults, thread pool start
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(threads: int, repeats: int = 7, n: int = 2048) -> dict:
    try:
        import torch

        torch.set_num_threads(threads)
        lib, dtype = f"torch {torch.__version__}", "bf16"
        big = torch.ones(256 * 2**20, dtype=torch.bfloat16)        # 512 MiB
        src = torch.ones(128 * 2**20, dtype=torch.bfloat16)        # 256 MiB
        dst = torch.empty_like(src)
        a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
        w, x = torch.randn(8192, 4096, dtype=torch.bfloat16), torch.randn(1, 4096, dtype=torch.bfloat16)
        read = _best(lambda: big.sum(), repeats)
        copy = _best(lambda: dst.copy_(src), repeats)
        gemv = _best(lambda: torch.nn.functional.linear(x, w), repeats)
        mm = _best(lambda: torch.mm(a, b), repeats)
        read_bytes, copy_bytes, w_bytes = big.numel() * 2, 2 * src.numel() * 2, w.numel() * 2
    except ImportError:
        import numpy as np

        lib, dtype = f"numpy {np.__version__}", "fp32"
        big = np.ones(128 * 2**20, dtype=np.float32)                # 512 MiB
        src = np.ones(64 * 2**20, dtype=np.float32)                 # 256 MiB
        dst = np.empty_like(src)
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
        w, x = rng.standard_normal((4096, 4096), dtype=np.float32), rng.standard_normal((1, 4096), dtype=np.float32)
        read = _best(lambda: big.sum(), repeats)
        copy = _best(lambda: np.copyto(dst, src), repeats)
        gemv = _best(lambda: x @ w.T, repeats)
        mm = _best(lambda: a @ b, repeats)
        read_bytes, copy_bytes, w_bytes = big.nbytes, 2 * src.nbytes, w.nbytes
    mem_total = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem_total = int(line.split()[1]) * 1024
    except OSError:
        mem_total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cpu": _cpu_name(), "machine": platform.machine(), "cores": os.cpu_count(),
            "threads": threads, "library": lib, "dtype": dtype, "repeats": repeats,
            "read_gb_s": read_bytes / read / 1e9, "copy_gb_s": copy_bytes / copy / 1e9,
            "gemv_gb_s": w_bytes / gemv / 1e9,
            "matmul_tflops": 2 * n**3 / mm / 1e12, "matmul_n": n, "memory_bytes": mem_total,
            "python": sys.version.split()[0]}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 7)))
