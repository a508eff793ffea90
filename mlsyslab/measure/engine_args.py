"""Check a launch command with the engine's own argument parser, not a list of flag names.

`check_vllm_command` takes the text `PlanResult.launch` prints for vLLM (comments, a ``CHECKPOINT``
line, continuation backslashes) and hands its ``vllm serve`` arguments to vLLM's parser in the
engine environment (``check_vllm_args.py``): the serve subcommand's parser, its ``validate`` and
``AsyncEngineArgs``, which refuse an unknown flag, a value of the wrong type and a value outside a
flag's choices (a ``--kv-cache-dtype`` or ``--quantization`` vLLM does not have). It returns the
engine arguments as vLLM understood them, so a test can hold them against the plan.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from ..errors import EngineError, ValueRangeError
from .environment import engine_python

__all__ = ["check_vllm_command", "check_vllm_commands", "serve_arguments"]

_SCRIPT = Path(__file__).with_name("check_vllm_args.py")


def serve_arguments(command: str, *, checkpoint: str = "a-quantised-checkpoint") -> list[str]:
    """The arguments after ``vllm`` in a launch text (``$CHECKPOINT`` replaced by ``checkpoint``)."""
    lines = [x for x in command.replace("\\\n", " ").splitlines() if x.strip() and not x.lstrip().startswith("#")]
    serve = [x for x in lines if x.lstrip().startswith("vllm serve")]
    if len(serve) != 1:
        raise ValueRangeError(f"expected one `vllm serve` line in the command; found {len(serve)}")
    words = shlex.split(serve[0].replace('"$CHECKPOINT"', checkpoint).replace("$CHECKPOINT", checkpoint))
    return words[1:]


def check_vllm_command(command: str, *, timeout_s: float = 180) -> dict:
    """Parse a ``vllm serve`` launch text with vLLM's parser; its engine arguments, or `EngineError`.

    Parameters
    ----------
    command : str
        A launch text (`PlanResult.launch` for vLLM) with one ``vllm serve`` line.
    timeout_s : float
        The most seconds vLLM's parser may take (importing vLLM takes several).

    Returns
    -------
    dict
        The engine arguments as vLLM parsed them (model, parallelism, limits, precision).

    Examples
    --------
    >>> p = ml.plan("llama-3-8b", workload=ml.Workload(rate=2), slo=ml.SLO(itl_ms=30))   # doctest: +SKIP
    >>> ml.check_vllm_command(p.launch("vllm"))["max_model_len"]                          # doctest: +SKIP
    1024
    """
    out = check_vllm_commands([command], timeout_s=timeout_s)[0]
    if not out["ok"]:
        raise EngineError(f"vLLM refuses `vllm {' '.join(serve_arguments(command))}`: {out['error']}")
    return out["args"]


def check_vllm_commands(commands, *, timeout_s: float = 180) -> list[dict]:
    """Parse several launch texts in one engine process (vLLM takes seconds to import).

    Returns one ``{"ok": True, "args": {...}}`` or ``{"ok": False, "error": "..."}`` per command.
    """
    argvs = [serve_arguments(c) for c in commands]
    try:
        proc = subprocess.run([str(engine_python()), str(_SCRIPT)], input=json.dumps(argvs), capture_output=True,
                              text=True, timeout=timeout_s, env={**os.environ, "VLLM_TARGET_DEVICE": "cpu"})
    except subprocess.TimeoutExpired:
        raise EngineError(f"vLLM's parser took longer than {timeout_s:g} s") from None
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        tail = [x for x in proc.stderr.splitlines() if not x.startswith("WARNING: Location")]
        raise EngineError(f"vLLM's parser failed: {' | '.join(tail[-3:])}") from None
    return out
