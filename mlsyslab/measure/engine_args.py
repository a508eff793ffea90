"""Check a launch command with the engine's own argument parser, not a list of flag names.

`check_vllm_command` and `check_sglang_command` take the text `PlanResult.launch` prints (comments,
a ``CHECKPOINT`` line, continuation backslashes) and hand the command's arguments to the engine's
parser in the engine environment (`make engine`):

- vLLM (``check_vllm_args.py``): the ``serve`` subcommand's parser, its ``validate`` and
  ``AsyncEngineArgs``;
- SGLang (``check_sglang_args.py``): ``ServerArgs.add_cli_args`` and ``ServerArgs.from_cli_args``,
  from SGLang's package installed without its CUDA dependencies (``.venv-engine/sglang-args``).

Each refuses an unknown flag, a value of the wrong type and a value outside a flag's choices (a KV
dtype or a quantisation the engine does not have) and returns the arguments as the engine
understood them, so a test can hold them against the plan. (argparse accepts an unambiguous
prefix of a flag, as the engines' own command lines do.)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from ..errors import EngineError, ValueRangeError
from .environment import engine_python

__all__ = ["check_vllm_command", "check_vllm_commands", "check_sglang_command", "check_sglang_commands",
           "serve_arguments"]

_HERE = Path(__file__).parent
_ENGINES = {"vllm": ("vllm serve", 1, "check_vllm_args.py"),
            "sglang": ("python -m sglang.launch_server", 3, "check_sglang_args.py")}


def serve_arguments(command: str, *, engine: str = "vllm", checkpoint: str = "a-quantised-checkpoint") -> list[str]:
    """The engine's arguments in a launch text (after ``vllm``, or after ``python -m
    sglang.launch_server``), with ``$CHECKPOINT`` replaced by ``checkpoint``.

    >>> serve_arguments("# a comment\\nvllm serve m \\\\\\n    --max-num-seqs 8")
    ['serve', 'm', '--max-num-seqs', '8']
    """
    if engine not in _ENGINES:
        raise ValueRangeError(f"engine must be one of {', '.join(_ENGINES)}; got {engine!r}")
    head, skip, _ = _ENGINES[engine]
    lines = [x for x in command.replace("\\\n", " ").splitlines() if x.strip() and not x.lstrip().startswith("#")]
    found = [x for x in lines if x.lstrip().startswith(head)]
    if len(found) != 1:
        raise ValueRangeError(f"expected one `{head}` line in the command; found {len(found)}")
    words = shlex.split(found[0].replace('"$CHECKPOINT"', checkpoint).replace("$CHECKPOINT", checkpoint))
    return words[skip:]


def _check(engine, commands, timeout_s) -> list[dict]:
    argvs = [serve_arguments(c, engine=engine) for c in commands]
    python = engine_python()
    # vLLM builds its engine arguments without a lookup while the Hub is "online" (its offline
    # mode resolves the model from the local cache and fails); SGLang's need none either way
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu"}
    if engine == "sglang":
        env["HF_HUB_OFFLINE"] = "1"
        target = python.parents[1] / "sglang-args"
        if not target.is_dir():
            raise EngineError(f"SGLang's arguments are not installed ({target} is missing): run `make engine` again")
        env["PYTHONPATH"] = str(target)
    try:
        proc = subprocess.run([str(python), str(_HERE / _ENGINES[engine][2])], input=json.dumps(argvs),
                              capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise EngineError(f"{engine}'s parser took longer than {timeout_s:g} s") from None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        tail = [x for x in proc.stderr.splitlines() if not x.startswith("WARNING: Location")]
        raise EngineError(f"{engine}'s parser failed: {' | '.join(tail[-3:])}") from None


def check_vllm_commands(commands, *, timeout_s: float = 180) -> list[dict]:
    """Parse several vLLM launch texts in one engine process (vLLM takes seconds to import).

    Returns one ``{"ok": True, "args": {...}}`` or ``{"ok": False, "error": "..."}`` per command.

    >>> [r["ok"] for r in check_vllm_commands(["vllm serve m --max-num-seqs 8"])]   # doctest: +SKIP
    [True]
    """
    return _check("vllm", commands, timeout_s)


def check_sglang_commands(commands, *, timeout_s: float = 180) -> list[dict]:
    """Parse several SGLang launch texts with SGLang's ``ServerArgs``, as `check_vllm_commands` does.

    >>> [r["ok"] for r in check_sglang_commands(["python -m sglang.launch_server --model-path m"])]  # doctest: +SKIP
    [True]
    """
    return _check("sglang", commands, timeout_s)


def _one(engine, command, timeout_s):
    out = _check(engine, [command], timeout_s)[0]
    if not out["ok"]:
        raise EngineError(f"{engine} refuses `{' '.join(serve_arguments(command, engine=engine))}`: {out['error']}")
    return out["args"]


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
    return _one("vllm", command, timeout_s)


def check_sglang_command(command: str, *, timeout_s: float = 180) -> dict:
    """Parse a ``python -m sglang.launch_server`` launch text with SGLang's parser; its server
    arguments, or `EngineError`.

    Parameters
    ----------
    command : str
        A launch text (`PlanResult.launch` for SGLang).
    timeout_s : float
        The most seconds SGLang's parser may take.

    Returns
    -------
    dict
        The server arguments as SGLang parsed them (model path, parallelism, limits, precision).

    Examples
    --------
    >>> p = ml.plan("llama-3-8b", workload=ml.Workload(rate=2), slo=ml.SLO(itl_ms=30))    # doctest: +SKIP
    >>> ml.check_sglang_command(p.launch("sglang"))["context_length"]                      # doctest: +SKIP
    1024
    """
    return _one("sglang", command, timeout_s)
