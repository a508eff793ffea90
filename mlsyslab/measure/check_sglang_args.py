"""Parse ``sglang.launch_server`` argument lists with SGLang's own parser (run in a subprocess).

Run by `mlsyslab.measure.check_sglang_commands` with the engine environment's interpreter and
``.venv-engine/sglang-args`` on its path (SGLang's package without its CUDA dependencies);
imports nothing from mlsyslab. Reads a JSON list of argument lists on stdin, adds SGLang's
arguments to a parser as ``launch_server`` does (``ServerArgs.add_cli_args``), parses, builds
``ServerArgs.from_cli_args`` (its own checks), and prints a JSON list, one object per list:
``{"ok": true, "args": {...}}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys


def main() -> list:
    from sglang.srt.server_args import ServerArgs

    out = []
    for argv in json.loads(sys.stdin.read()):
        parser = argparse.ArgumentParser(prog="sglang.launch_server")
        ServerArgs.add_cli_args(parser)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = parser.parse_args(argv)
        except SystemExit:
            lines = err.getvalue().strip().splitlines()
            out.append({"ok": False, "error": lines[-1] if lines else "rejected"})
            continue
        try:
            s = ServerArgs.from_cli_args(args)
        except Exception as exc:  # noqa: BLE001 - any refusal is the answer
            out.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        keep = ("model_path", "tp_size", "pp_size", "max_running_requests", "chunked_prefill_size",
                "mem_fraction_static", "context_length", "kv_cache_dtype", "quantization")
        out.append({"ok": True, "args": {k: getattr(s, k, None) for k in keep}})
    return out


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
