"""Fixtures for the emissions tests: the shared source tables (independent test vectors)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("CARBONEDGE_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def source_tables() -> Path:
    """../shared/data/emissions: skip outside CI when absent, fail in CI (like ``shared_dir``)."""
    path = SHARED_DIR / "data" / "emissions"
    if not (path / "eea2019_pc_lcv_mc_all.csv").is_file():
        message = f"source emission tables not found at {path}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}: CI must run with the real data")
        pytest.skip(message)
    return path
