"""The benchmark suite runs and covers every registered kernel (it does not assert speed)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from carbonedge.kernels import kernel_status


@pytest.mark.slow  # runs the whole quick benchmark suite (~40 s)
def test_quick_benchmarks_cover_every_kernel() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [
        line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line
    ]
    benchmarked = {row.split("|")[1].strip() for row in rows[1:]}
    assert set(kernel_status()) <= benchmarked, set(kernel_status()) - benchmarked
    for row in rows[1:]:
        assert re.search(r"\| \d+\.\dx \|$", row), row
