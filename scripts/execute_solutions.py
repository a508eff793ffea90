"""Execute every solution notebook in place (after the package changes), then regenerate labs/.

Runs with MLSYSLAB_STATIC=1, so explorers store a static figure (what the site shows).
Usage: python scripts/execute_solutions.py [name ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import make_labs  # noqa: E402


def main(names: list[str]) -> None:
    os.environ["MLSYSLAB_STATIC"] = "1"
    paths = sorted((ROOT / "solutions").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        t = time.perf_counter()
        NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                       coalesce_streams=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell in nb.cells:   # no timestamps: a re-run that changes nothing leaves no diff
            cell.metadata.pop("execution", None)
        nbformat.write(nb, path)
        print(f"executed {path.name} in {time.perf_counter() - t:.1f} s")
    make_labs.main()


if __name__ == "__main__":
    main(sys.argv[1:])
