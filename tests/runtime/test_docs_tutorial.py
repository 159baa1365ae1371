"""``docs/tutorial.md`` works as written: its ``console`` blocks run, in order, in an empty folder.

The ``shell`` blocks (clone, install, the junction example run from the clone) are not run here:
installing is what the README's commands and ``.ci/run`` check, and the junction example is run by
``test_report_junction.py``. They are checked for shell syntax.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

TUTORIAL = REPO_ROOT / "docs" / "tutorial.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```$", TUTORIAL.read_text(), re.S | re.M)


def test_tutorial_has_the_steps_and_valid_shell() -> None:
    console = "\n".join(blocks("console"))
    for command in ("carbonedge count", "carbonedge run", "carbonedge export", "--period 15min",
                    "carbonedge report", "carbonedge calibrate homography"):  # fmt: skip
        assert command in console, command
    for script in blocks("console") + blocks("shell"):
        proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert proc.returncode == 0, (script, proc.stderr)
    for link in re.findall(r"\]\(([^)#]+)", TUTORIAL.read_text()):
        if not link.startswith("http"):
            assert (TUTORIAL.parent / link).exists(), link


@pytest.mark.slow
def test_tutorial_console_blocks_run_in_an_empty_folder(shared_dir, model_dir, tmp_path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "CARBONEDGE_SHARED_DIR": str(shared_dir),
           "CARBONEDGE_MODEL_DIR": str(model_dir),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    outputs = []
    for number, script in enumerate(blocks("console"), start=1):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        assert proc.returncode == 0, f"block {number}:\n{script}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    out = "\n".join(outputs)
    assert (tmp_path / "highway-count/annotated.mp4").stat().st_size > 10_000
    crossings = (tmp_path / "highway-count/crossings.csv").read_text().splitlines()
    assert len(crossings) > 10  # the clip has 27 vehicles over the line
    table = (tmp_path / "counts-15min.csv").read_text().splitlines()
    assert table[0] == "period_start,period_end,camera,line,direction,class,count"
    assert all(r.startswith("2026-03-02T08:00:00+08:00,2026-03-02T08:15:00+08:00,highway,y150,")
               for r in table[1:])  # fmt: skip
    assert sum(int(r.split(",")[-1]) for r in table[1:] if ",total," in r) > 10
    html = (tmp_path / "report.html").read_text()
    assert "<dt>Time zone</dt><dd>Asia/Shanghai, UTC+08:00</dd>" in html
    assert '<svg id="snapshot-highway"' in html and "<table class='counts'" in html
    assert "PASS" in out
