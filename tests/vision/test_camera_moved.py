"""Camera-moved check on the synthetic scene (exact geometry, traffic) and the real highway clip.

A moved camera is simulated by warping the frames (``cv2.warpAffine``: a translation of a few
pixels or a roll of 1-2 degrees about the image centre); the reference is the unwarped view.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.types import Frame
from carbonedge.runtime.camera_moved_stage import CameraMovedStage, reference_for
from carbonedge.vision.camera_moved import CameraMovedCheck, CameraMovedConfig

CLIP = "media/traffic/highway_cdnet_320x240.avi"
CONFIRM = CameraMovedConfig().confirm_checks


def warp(image: np.ndarray, dx: float = 0.0, dy: float = 0.0, rot_deg: float = 0.0) -> np.ndarray:
    """``image`` as a camera moved by (dx, dy) px and rolled by ``rot_deg`` (counter-clockwise)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rot_deg, 1.0)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    return SyntheticScene(SyntheticSceneConfig(id="road", duration_s=3600, seed=11))


@pytest.fixture(scope="module")
def clip(shared_dir: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(shared_dir / CLIP))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == 1699, f"{CLIP}: expected 1699 frames, read {len(frames)}"
    return frames


def run_checks(check: CameraMovedCheck, images: list[np.ndarray], every_s: float) -> list[str]:
    """Feed ``images`` one check apart; the state after each."""
    return [check.update(image, i * every_s) for i, image in enumerate(images)]


# --- never fires on an unshifted camera ----------------------------------------------------------


def test_synthetic_long_run_never_fires(scene: SyntheticScene) -> None:
    """40 minutes of traffic, lighting drift and sensor noise (one check every 6 s: 400 checks
    over 36 000 frames): not a single check sees a move."""
    config = CameraMovedConfig(check_every_s=6.0)
    check = CameraMovedCheck(scene.render(0).image, config)
    step = int(config.check_every_s * scene.fps)
    scores = []
    for index in range(step, 401 * step, step):
        frame = scene.render(index)
        assert check.update(frame.image, frame.t_mono_s) == "ok", check.last
        assert check.last.verdict == "still" and check.last.displacement_px < 1.5, check.last
        scores.append(check.last.score)
    assert check.checks == 400
    assert min(scores) > 0.5  # traffic lowers the agreement, not the peak's place


def test_real_clip_never_fires(clip: list[np.ndarray]) -> None:
    """The whole highway clip (trees, shadows, 27 vehicles), a check every fifth frame."""
    check = CameraMovedCheck(clip[0], CameraMovedConfig(check_every_s=0.08))
    verdicts = set()
    for i, image in enumerate(clip):
        assert check.update(image, i / 60.0) == "ok", (i, check.last)
        verdicts.add(check.last.verdict)
    assert check.checks == 340 and verdicts == {"still"}


def test_lighting_change_and_glitches_do_not_fire(scene: SyntheticScene) -> None:
    """Darker/brighter frames are still; one or two glitched checks (noise, a black frame, a
    shaken frame) make it ``suspect`` at most, never ``moved``."""
    check = CameraMovedCheck(scene.render(0).image, CameraMovedConfig())
    frames = [scene.render(i).image for i in range(30, 900, 30)]
    dim = [np.clip(f.astype(np.float32) * 0.55 + 10, 0, 255).astype(np.uint8) for f in frames[:4]]
    bright = [np.clip(f.astype(np.float32) * 1.35, 0, 255).astype(np.uint8) for f in frames[4:8]]
    assert set(run_checks(check, dim + bright, 5.0)) == {"ok"}
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, frames[0].shape, dtype=np.uint8)
    glitches = [noise, np.zeros_like(frames[0]), warp(frames[1], 4, 3), noise]
    states = []
    for glitch, normal in zip(glitches, frames[8:], strict=False):
        states += run_checks(check, [glitch, glitch, normal, normal], 5.0)  # two in a row at most
    assert "moved" not in states and "suspect" in states
    assert states[-1] == "ok"


# --- fires on a moved camera ---------------------------------------------------------------------

MOVES = [(2.0, 0.0, 0.0), (0.0, -3.0, 0.0), (-5.0, 2.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, -2.0),
         (1.5, 1.5, 1.0)]  # fmt: skip


@pytest.mark.parametrize(("dx", "dy", "rot_deg"), MOVES)
def test_synthetic_move_fires(scene: SyntheticScene, dx: float, dy: float, rot_deg: float) -> None:
    check = CameraMovedCheck(scene.render(0).image, CameraMovedConfig())
    frames = [warp(scene.render(i).image, dx, dy, rot_deg) for i in range(45, 45 * 6, 45)]
    states = run_checks(check, frames, 5.0)
    assert states[:CONFIRM] == ["suspect"] * (CONFIRM - 1) + ["moved"]
    assert states[CONFIRM:] == ["moved"] * (len(frames) - CONFIRM)
    last = check.last
    assert last.verdict == "shifted"
    assert last.rotation_deg == pytest.approx(rot_deg, abs=0.15)
    if rot_deg == 0.0:
        assert last.shift_px == pytest.approx((dx, dy), abs=0.3)


@pytest.mark.parametrize(("dx", "dy", "rot_deg"), [(2.0, 0.0, 0.0), (0.0, 2.0, 0.0),
                                                   (-3.0, -2.0, 0.0), (0.0, 0.0, 1.0),
                                                   (0.0, 0.0, -1.5)])  # fmt: skip
def test_real_clip_move_fires(clip: list[np.ndarray], dx: float, dy: float, rot_deg: float) -> None:
    check = CameraMovedCheck(clip[0], CameraMovedConfig())
    frames = [warp(image, dx, dy, rot_deg) for image in clip[200:1699:300]]  # traffic in view
    states = run_checks(check, frames, 5.0)
    assert states[CONFIRM - 1 :] == ["moved"] * (len(frames) - CONFIRM + 1)
    assert check.last.rotation_deg == pytest.approx(rot_deg, abs=0.2)
    assert check.last.displacement_px >= 1.5


def test_view_out_of_range_and_new_resolution_fire(scene: SyntheticScene) -> None:
    """A view moved beyond the search range matches nowhere; another frame size means the
    calibration does not fit the stream: both are ``moved`` after the confirming checks."""
    reference = scene.render(0).image
    far = [warp(scene.render(i).image, 40, 25) for i in (30, 60, 90)]
    check = CameraMovedCheck(reference, CameraMovedConfig())
    assert run_checks(check, far, 5.0)[-1] == "moved"
    assert check.last.verdict in ("mismatch", "shifted")
    resized = [cv2.resize(scene.render(i).image, (320, 180)) for i in (30, 60, 90)]
    check = CameraMovedCheck(reference, CameraMovedConfig())
    assert run_checks(check, resized, 5.0) == ["suspect", "suspect", "moved"]
    assert check.last.verdict == "mismatch" and check.last.to_dict()["displacement_px"] is None


def test_cadence_and_recovery_events(scene: SyntheticScene) -> None:
    """Checks run every ``check_every_s`` only; the stage emits "moved" once and "restored" after
    ``clear_checks`` still checks; each interval says whether the calibration held in it."""
    config = CameraMovedConfig(check_every_s=2.0, clear_checks=2)
    stage = CameraMovedStage(CameraMovedCheck(scene.render(0).image, config), device_id="box",
                             source_id="road", reference="test")  # fmt: skip
    events = []
    for index in range(0, 15 * 13, 5):  # 13 s at 3 frames per second
        image = scene.render(index).image
        if 15 * 3 <= index < 15 * 9:  # moved at t = 4, 6, 8 s
            image = warp(image, 3, 0)
        frame = Frame("road", index, index / 15.0, 1e9 + index / 15.0, image, fps=15.0)
        events += stage.update(frame)
        if index == 15 * 8:
            assert stage.close_interval() is False and stage.snapshot()["state"] == "moved"
    assert stage.check.checks == 7  # t = 0, 2, 4, ... 12 s
    assert [e.status for e in events] == ["moved", "restored"]
    moved = events[0].to_dict()
    assert moved["kind"] == "camera_moved" and moved["shift_px"] == pytest.approx((3, 0), abs=0.3)
    assert moved["t_wall"].endswith("Z") and moved["id"]
    assert stage.close_interval() is False  # it was moved at the start of this interval
    assert stage.close_interval() is True and stage.calibration_valid


def test_reference_errors_name_the_source_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cameras.cam.camera_moved: no reference view"):
        reference_for("cam", CameraMovedConfig())
    missing = tmp_path / "nothing.png"
    with pytest.raises(ConfigError, match=r"nothing.png: cannot read the camera-moved reference"):
        reference_for("cam", CameraMovedConfig(reference_image=missing))
    garbled = tmp_path / "garbled.png"
    garbled.write_bytes(b"not a PNG at all")
    with pytest.raises(ConfigError, match=r"garbled.png: cannot read the camera-moved reference"):
        reference_for("cam", CameraMovedConfig(reference_image=garbled))
    with pytest.raises(ValueError, match=r"reference_bgr: expected shape \(H, W, 3\)"):
        CameraMovedCheck(np.zeros((10, 10), np.uint8), CameraMovedConfig())
