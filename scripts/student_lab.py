"""Open JupyterLab on the student's own copies of the labs (what `make lab` runs).

``labs/`` is generated from ``solutions/`` and tested; a student works in ``my-labs/`` (ignored
by git), made from ``labs/`` on first use, one notebook at a time:

- a lab the student does not have yet is copied in;
- a lab the student has is never overwritten, by this or by any other target; when ``labs/``
  holds a newer version (the course was updated), a line says so and how to take it.

JupyterLab runs with a student configuration (``my-labs/.jupyter/``, first on
``JUPYTER_CONFIG_PATH``) that turns off nbgrader's instructor menus and server extensions
(formgrader, course list, assignment list, validation), which ``make assignments`` and
``make grade`` need but a student must not see.

Usage: python scripts/student_lab.py [--prepare-only] [jupyter lab options]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "my-labs"

NBGRADER_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",
                              "nbgrader.server_extensions.assignment_list",
                              "nbgrader.server_extensions.course_list",
                              "nbgrader.server_extensions.validate_assignment")
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"


def student_config(work: Path) -> Path:
    """Write the student's Jupyter configuration: nbgrader's instructor parts turned off."""
    config = work / ".jupyter"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {name: False for name in NBGRADER_SERVER_EXTENSIONS}}},
        indent=2) + "\n", encoding="utf-8")
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {NBGRADER_LAB_EXTENSION: True}}, indent=2) + "\n", encoding="utf-8")
    return config


def prepare(labs: Path = ROOT / "labs", work: Path = WORK) -> list[str]:
    """Copy every lab the student lacks into ``work``; never overwrite one. Returns what it says."""
    work.mkdir(exist_ok=True)
    said = []
    for src in sorted(labs.glob("*.ipynb")):
        mine = work / src.name
        if not mine.exists():
            shutil.copyfile(src, mine)
            said.append(f"my-labs/{src.name}: your copy, made from labs/{src.name}")
        elif src.stat().st_mtime > mine.stat().st_mtime and src.read_bytes() != mine.read_bytes():
            said.append(f"labs/{src.name} is newer than your my-labs/{src.name}: yours is kept as it is; to take "
                        f"the new version, rename yours (for example to {src.stem}-mine.ipynb) and run `make lab`")
    return said


def main(argv: list[str]) -> int:
    for line in prepare():
        print(line)
    config = student_config(WORK)
    if "--prepare-only" in argv:
        return 0
    env = dict(os.environ, MLSYSLAB_STATIC=os.environ.get("MLSYSLAB_STATIC", "0"),
               JUPYTER_CONFIG_PATH=os.pathsep.join(filter(None, [str(config), os.environ.get("JUPYTER_CONFIG_PATH")])))
    jupyter = Path(sys.executable).parent / "jupyter"
    args = [str(jupyter), "lab", *argv, str(WORK)]
    if hasattr(os, "getuid") and os.getuid() == 0 and "--allow-root" not in argv:
        args.insert(2, "--allow-root")      # containers and CI machines often run as root
    os.execve(str(jupyter), args, env)
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
