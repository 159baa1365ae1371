"""The wrong point of a few measured points: every point k of a synthetic plane moved in turn,
the fit's reason names k; 4 points are checked against a camera; the README's points pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO_ROOT
from test_homography import SIZE_PX, truth_plane

from carbonedge.calibration.homography import fit_ground_plane
from carbonedge.calibration.homography_blame import blame_point, camera_fit

# Lane-line points a technician tapes on the synthetic road (its camera is known exactly).
FIVE_M = np.array([[-3.5, 20.0], [3.5, 20.0], [-3.5, 40.0], [3.5, 40.0], [7.0, 25.0]])
SIX_M = np.vstack([FIVE_M, [[0.0, 30.0]]])


def pixels(world_m: np.ndarray) -> np.ndarray:
    return np.round(truth_plane().to_image(world_m), 1)  # clicks to 0.1 px


def blamed(reason: str) -> int:
    """The first point a failing reason names for re-measuring (or as an outlier)."""
    m = re.search(r"(?:re-measure point|most likely point|outliers beyond \S+: point) (\d+)",
                  reason)  # fmt: skip
    assert m, reason
    return int(m[1])


@pytest.mark.parametrize("world_m", [FIVE_M, SIX_M], ids=["5 points", "6 points"])
@pytest.mark.parametrize("shift_m", [(0.0, 2.0), (1.5, 0.0), (0.0, -3.0)])
def test_the_moved_point_is_named(world_m: np.ndarray, shift_m: tuple[float, float]) -> None:
    px = pixels(world_m)
    for k in range(len(world_m)):
        wrong = world_m.copy()
        wrong[k] += shift_m  # a tape reading written down wrong
        fit = fit_ground_plane(px, wrong, image_size_px=SIZE_PX)
        assert fit.verdict == "fail", (k, fit.reason)
        assert blamed(fit.reason) == k + 1, (k, fit.reason)
        if len(world_m) == 5:  # named alone, or first with the honest caveat
            assert ("re-measure point" in fit.reason) != ("cannot be told apart" in fit.reason)


def test_five_good_points_pass_and_blame_ranks_nothing_clearly() -> None:
    fit = fit_ground_plane(pixels(FIVE_M), FIVE_M, image_size_px=SIZE_PX)
    assert fit.verdict == "pass", fit.reason
    blame = blame_point(pixels(FIVE_M), FIVE_M, SIZE_PX)
    assert blame is not None and not blame.clear  # every 4 fit the camera: no culprit


def test_five_points_without_the_image_size_do_not_guess() -> None:
    wrong = FIVE_M.copy()
    wrong[4] += (0.0, 2.0)
    fit = fit_ground_plane(pixels(FIVE_M), wrong)
    assert fit.verdict == "fail" and "re-measure point" not in fit.reason
    assert "image size" in fit.reason and "6th point" in fit.reason


def test_the_camera_fit_recovers_the_synthetic_camera() -> None:
    cam = camera_fit(pixels(FIVE_M), FIVE_M, SIZE_PX)
    assert cam is not None and cam.height_m == pytest.approx(12.0, abs=0.05)  # the scene's mast
    assert cam.rms_m < 0.01


def test_four_points_are_checked_against_a_camera() -> None:
    four = FIVE_M[:4]
    fit = fit_ground_plane(pixels(four), four, image_size_px=SIZE_PX)
    assert fit.verdict == "pass" and "checked against one camera only" in fit.note
    wrong = four.copy()
    wrong[2] += (0.0, 4.0)
    fit = fit_ground_plane(pixels(four), wrong, image_size_px=SIZE_PX)
    assert fit.verdict == "fail" and "disagree with any camera" in fit.reason


def readme_points() -> list[dict]:
    """The ``ground_plane: points:`` of the README's site config example."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\n      points:[^\n]*\n((?:        - \{image_px[^\n]*\n)+)", text)
    assert block, "the README's ground_plane example is gone"
    return [yaml.safe_load(line.strip()[2:]) for line in block[1].splitlines()]


def readme_csv() -> str:
    """The points.csv of the README's ``calibrate homography`` example."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"cat > points\.csv <<'EOF'\n(.*?)\n *EOF", text, re.S)
    assert block, "the README's calibrate homography example is gone"
    return "\n".join(line.strip() for line in block[1].splitlines()) + "\n"


def calibrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "calibrate",
                           "homography", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_the_readme_examples_pass(tmp_path: Path) -> None:
    points = readme_points()
    assert len(points) == 4
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"points": points}))
    proc = calibrate("config.yaml", "--image-size", "320x240", cwd=tmp_path)  # its 320x240 clip
    assert proc.returncode == 0 and "\nPASS\n" in proc.stdout, proc.stdout + proc.stderr
    (tmp_path / "points.csv").write_text(readme_csv())
    proc = calibrate("points.csv", "--image-size", "640x360", cwd=tmp_path)
    assert proc.returncode == 0 and "\nPASS\n" in proc.stdout, proc.stdout + proc.stderr
