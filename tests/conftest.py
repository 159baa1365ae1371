"""Shared test helpers: where ../shared is, and small factories.

Tests that need third-party models or footage from ../shared use the ``shared_dir`` fixture: outside
CI they skip with a clear reason when the folder is absent; in CI (``CI=true``) a missing ../shared
is an error, so a real-data test can never pass by skipping.

Keep fixtures and helpers here, not in a ``conftest.py`` of a subfolder: test modules import the
helpers with ``from conftest import ...``, and a second conftest module would shadow this one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from carbonedge.runtime.base.types import Detections, Frame

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("CARBONEDGE_SHARED_DIR", REPO_ROOT.parent / "shared"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


_SHARED_FIXTURES = frozenset({"shared_dir", "model_dir", "with_model_dir", "source_tables"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs ../shared (through any of its fixtures) as ``shared``."""
    for item in items:
        if _SHARED_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED_DIR / "models").is_dir() or not (SHARED_DIR / "media").is_dir():
        message = f"../shared (models and media) not found at {SHARED_DIR}"
        if _in_ci():
            pytest.fail(f"{message}: CI must run with the real data")
        pytest.skip(message)
    return SHARED_DIR


@pytest.fixture(scope="session")
def source_tables() -> Path:
    """../shared/data/emissions (the published emission-factor tables the emissions tests check
    our transcription against): skip outside CI when absent, fail in CI."""
    path = SHARED_DIR / "data" / "emissions"
    if not (path / "eea2019_pc_lcv_mc_all.csv").is_file():
        message = f"source emission tables not found at {path}"
        if _in_ci():
            pytest.fail(f"{message}: CI must run with the real data")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def model_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture()
def with_model_dir(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARBONEDGE_MODEL_DIR", str(model_dir))
    return model_dir


def make_detections(xyxy, confidence=None, class_id=None, **kw) -> Detections:
    """Detections from (N, 4) boxes; ``confidence`` and ``class_id`` may be scalars or (N,)."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(xyxy)
    return Detections(
        xyxy,
        np.full(n, 0.9 if confidence is None else confidence, np.float32),
        np.full(n, 0 if class_id is None else class_id, np.int32),
        **kw,
    )


def make_frame(image=None, *, index: int = 0, fps: float = 25.0, source_id: str = "cam") -> Frame:
    image = np.zeros((240, 320, 3), np.uint8) if image is None else image
    return Frame(source_id, index, index / fps, 1_767_254_400.0 + index / fps, image, fps)
