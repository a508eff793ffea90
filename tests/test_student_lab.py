"""A student's own copy: made from labs/ once, never overwritten; no instructor menus."""

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import make_labs  # noqa: E402
import student_lab  # noqa: E402


def test_first_use_copies_every_lab_and_later_uses_never_overwrite(tmp_path):
    work = tmp_path / "my-labs"
    said = student_lab.prepare(ROOT / "labs", work)
    assert sorted(p.name for p in work.glob("*.ipynb")) == sorted(p.name for p in (ROOT / "labs").glob("*.ipynb"))
    assert len(said) == len(list((ROOT / "labs").glob("*.ipynb")))
    mine = work / "01_two_phases.ipynb"
    mine.write_text(mine.read_text(encoding="utf-8").replace("my_ttft_ms = ...", "my_ttft_ms = 80"), encoding="utf-8")
    before = mine.read_bytes()
    os.utime(mine, (time.time() - 3600, time.time() - 3600))       # labs/ is now "newer"
    said = student_lab.prepare(ROOT / "labs", work)
    assert mine.read_bytes() == before
    assert any("newer" in line and "kept" in line for line in said)


def test_make_labs_saves_work_found_in_labs_before_regenerating(tmp_path, monkeypatch):
    monkeypatch.setattr(make_labs, "ROOT", tmp_path)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "labs").mkdir()
    src = ROOT / "solutions" / "02_kv_wall.ipynb"
    (tmp_path / "solutions" / src.name).write_bytes(src.read_bytes())
    worked = nbformat.read(ROOT / "labs" / src.name, as_version=4)
    worked.cells[2].execution_count = 1                                   # a student ran and saved it
    nbformat.write(worked, tmp_path / "labs" / src.name)
    assert make_labs.main() == 0
    kept = tmp_path / "my-labs" / src.name
    assert kept.exists() and nbformat.read(kept, as_version=4).cells[2].execution_count == 1
    assert make_labs.main(check=True) == 0                                 # labs/ is the generated copy again


def test_the_student_configuration_turns_off_the_instructor_menus(tmp_path):
    config = student_lab.student_config(tmp_path)
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(config))
    jupyter = str(Path(sys.executable).parent / "jupyter")
    lab = subprocess.run([jupyter, "labextension", "list"], env=env, capture_output=True, text=True)
    line = next(x for x in (lab.stdout + lab.stderr).splitlines() if "@jupyter/nbgrader" in x and "v" in x)
    assert "disabled" in line
    server = subprocess.Popen([jupyter, "server", "--no-browser", "--port=0", "--allow-root",
                               f"--ServerApp.root_dir={tmp_path}"], env=env, stderr=subprocess.STDOUT,
                              stdout=subprocess.PIPE, text=True)
    log = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            out = server.stdout.readline()
            log.append(out)
            if "http://" in out or not out:
                break
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = "".join(log)
    assert "notebook_shim" in text or "jupyterlab" in text, text
    assert "nbgrader" not in text, "an nbgrader server extension loaded for a student"
