"""Parse a ``vllm serve`` argument list with vLLM's own parser (run in a subprocess).

Run by `mlsyslab.measure.check_vllm_command` with the engine environment's interpreter; imports
nothing from mlsyslab. Reads a JSON list of argument lists (each after ``vllm``) on stdin, builds the
``serve`` subcommand's parser as ``vllm``'s own ``main`` does, parses, runs the subcommand's
``validate`` and builds ``AsyncEngineArgs`` from the result (which checks types and choices), and
prints a JSON list, one object per argument list: ``{"ok": true, "args": {...}}`` or
``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def main() -> list:
    import vllm.entrypoints.cli.serve as serve
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    sub = parser.add_subparsers(dest="subparser")
    cmds = {}
    for cmd in serve.cmd_init():
        cmd.subparser_init(sub)
        cmds[cmd.name] = cmd
    return [_check(parser, cmds, AsyncEngineArgs, argv) for argv in json.loads(sys.stdin.read())]


def _check(parser, cmds, AsyncEngineArgs, argv) -> dict:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit:
        return {"ok": False, "error": err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "rejected"}
    try:
        if getattr(args, "model_tag", None):          # `vllm serve MODEL`: what serve's cmd does
            args.model = args.model_tag
        cmds[args.subparser].validate(args)
        engine = AsyncEngineArgs.from_cli_args(args)
    except Exception as exc:  # noqa: BLE001 - any refusal is the answer
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    keep = ("model", "tensor_parallel_size", "pipeline_parallel_size", "max_num_seqs", "max_num_batched_tokens",
            "gpu_memory_utilization", "max_model_len", "kv_cache_dtype", "quantization", "enable_chunked_prefill")
    return {"ok": True, "args": {k: getattr(engine, k, None) for k in keep}}


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
