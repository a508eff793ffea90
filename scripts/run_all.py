"""Headless run of the main job: CLI examples, then every solution notebook end to end.

Each notebook is executed in a temporary copy (solutions/ is not modified) and its headline
result, the text of the cell tagged ``headline``, is printed.

Usage: make run   (or python scripts/run_all.py [--quick]: the CLI examples and the first
notebook only; the test suite runs it so the headless path cannot break silently)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_EXAMPLES = [
    ["serve", "--model", "llama-3-8b", "--gpu", "h100-sxm", "--batch", "8", "--prompt", "1024", "--output", "256"],
    ["serve", "--model", "llama-3-70b", "--gpu", "h100-sxm"],
    ["serve", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--tp", "4", "--batch", "32"],
    ["kv", "--model", "deepseek-r1-distill-llama-70b", "--context", "10000"],
    ["kv", "--model", "llama-3-8b", "--kv-pool", "60GB", "--context", "8192"],
    ["reason", "--model", "deepseek-r1-distill-llama-70b", "--gpu", "h100-sxm", "--tp", "4", "--steps", "8"],
    ["tco", "--model", "deepseek-r1-distill-llama-70b", "--gpu", "h100-sxm", "--qps", "100", "--steps", "8", "--slo-itl-ms", "50"],
    ["tco", "--model", "deepseek-r1-distill-llama-70b", "--gpu", "h100-sxm", "--qps", "100", "--steps", "8", "--naive"],
    ["cache", "--provider", "anthropic-5m", "--rate", "0.01"],
    ["route", "replicas", "--replicas", "8", "--policy", "round-robin"],
    ["route", "replicas", "--replicas", "8", "--policy", "prefix-aware"],
    ["goodput", "--model", "llama-3-8b", "--gpu", "h100-sxm", "--rate", "5", "--slo-ttft-ms", "500", "--slo-itl-ms", "20"],
    ["load", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--tp", "4", "--concurrency", "1,8,64", "--prompt", "2048"],
    ["fleet", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--qps", "10", "--slo-ttft-ms", "2000", "--slo-itl-ms", "50"],
    ["disagg", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--rate", "4", "--prompt", "8000", "--output", "300",
     "--slo-itl-ms", "30", "--weights", "fp8", "--kv", "fp8"],
    ["plan", "--model", "llama-3.1-8b", "--rate", "2", "--prompt", "1000", "--output", "200", "--slo-itl-ms", "40",
     "--emit", "vllm"],
]


def run_cli() -> None:
    for args in CLI_EXAMPLES:
        print(f"$ mlsyslab {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, "-m", "mlsyslab", *args], check=True)
        print()


def headline(nb) -> str:
    for cell in nb.cells:
        if "headline" in cell.get("metadata", {}).get("tags", []):
            texts = []
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                texts.append(out.get("text") or data.get("text/markdown") or data.get("text/plain", ""))
            return "".join(texts).strip()
    return "(no cell tagged 'headline')"


def run_notebooks(limit: int | None = None) -> None:
    import os

    import nbformat
    from nbclient import NotebookClient

    os.environ["MLSYSLAB_STATIC"] = "1"  # explorers draw a static figure
    notebooks = sorted((ROOT / "solutions").glob("*.ipynb"))[:limit]
    if not notebooks:
        print("no solution notebooks yet")
        return
    total = time.perf_counter()
    for i, path in enumerate(notebooks, 1):
        nb = nbformat.read(path, as_version=4)
        t = time.perf_counter()
        print(f"[{i}/{len(notebooks)}] {path.name} ...", end=" ", flush=True)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "solutions")}}).execute()
        print(f"{time.perf_counter() - t:.1f} s")
        print("    " + headline(nb).replace("\n", "\n    "))
    print(f"all {len(notebooks)} notebooks executed in {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    run_cli()
    run_notebooks(1 if quick else None)
