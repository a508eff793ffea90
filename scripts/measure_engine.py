"""Measure vLLM's CPU backend on this machine and store it for Lab 9 (make measure-engine).

Runs `mlsyslab.measure.measure_this_machine` (the host's ceilings, the local 88M-parameter Llama,
``vllm serve``, the course's ``vllm bench serve`` sweep: about 10 minutes on 2 cores) and writes
``mlsyslab/data/measured/vllm_cpu.csv`` and ``vllm_cpu.json``, which Lab 9 reads where no server
runs. Run it on a quiet machine: other work on the same cores slows the server and the client.
"""

from __future__ import annotations

import sys
import tempfile
import time

from mlsyslab.measure.stored import measure_this_machine, save_measurement


def main() -> None:
    t0 = time.monotonic()
    m = measure_this_machine(tempfile.mkdtemp(prefix="mlsyslab-local-llama-"), quick="--quick" in sys.argv)
    out = save_measurement(m)
    print(f"{m}\nwrote {out}/vllm_cpu.csv ({len(m.frame)} points) and vllm_cpu.json in {time.monotonic() - t0:.0f} s")
    bad = m.frame[m.frame["error"].astype(str) != ""]
    if len(bad):
        print(f"{len(bad)} points failed:\n{bad[['loop', 'concurrency', 'rate', 'error']]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
