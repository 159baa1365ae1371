"""Track kinematics: the Numba kernels against their NumPy references, and known answers."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.kernels import kinematics_params, kinematics_step, track_speed_fit
from carbonedge.kernels import reference as ref
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.analytics.kinematics import Kinematics, SpeedConfig


def rings(n: int, r: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random rings: tracks at 0-30 m/s with noise, outliers, empty slots and stale samples."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.0, 0.0, (n, r)), axis=1)
    v = rng.uniform(-30, 30, (n, 1, 2))
    xy = rng.uniform(-50, 50, (n, 1, 2)) + v * t[:, :, None] + rng.normal(0, 0.1, (n, r, 2))
    outliers = rng.random((n, r)) < 0.08
    xy[outliers] += rng.normal(0, 5.0, (outliers.sum(), 2))
    empty = rng.random((n, r)) < 0.2
    t[empty] = np.nan
    xy[empty] = np.nan
    return t, xy


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("window_s", "min_samples", "floor"), [(1.0, 3, 0.5), (0.4, 2, 0.0)])
def test_parity_with_the_reference(seed: int, window_s: float, min_samples: int, floor: float):
    t, xy = rings(200, 32, seed)
    ours = track_speed_fit(t, xy, 0.0, window_s=window_s, min_samples=min_samples,
                           outlier_floor=floor)  # fmt: skip
    theirs = ref.track_speed_fit(t, xy, 0.0, window_s, min_samples, floor)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert np.isfinite(ours).sum() > 100  # the case is not vacuous


def test_exact_line_and_one_outlier() -> None:
    t = np.linspace(-0.9, 0.0, 10)[None, :]
    xy = np.stack([10.0 * t[0], np.zeros(10)], axis=1)[None, :, :].copy()
    xy[0, 4, 0] += 8.0  # one sample 8 m off: cut, the fit stays exact
    speed = track_speed_fit(t, xy, 0.0, window_s=1.0, min_samples=3, outlier_floor=0.5)
    assert speed[0] == pytest.approx(10.0, rel=1e-12)


def test_too_few_samples_and_bad_shapes() -> None:
    t = np.array([[0.0, -0.1, np.nan]])
    xy = np.zeros((1, 3, 2))
    assert np.isnan(track_speed_fit(t, xy, 0.0, window_s=1.0, min_samples=3, outlier_floor=0.0))[0]
    with pytest.raises(ValueError, match="track_speed_fit"):
        track_speed_fit(t, np.zeros((1, 3)), 0.0, window_s=1.0, min_samples=3, outlier_floor=0.0)


# --- the whole per-frame step: Kinematics with the compiled step vs with the NumPy reference ---


class _ReferenceKinematics(Kinematics):
    _step = staticmethod(ref.kinematics_step)


PERSPECTIVE = GroundPlane(
    np.array([[0.05, 0.002, -16.0], [0.0004, 0.19, -20.0], [0.0, 0.004, 1.0]])
)


def scene(seed: int, frames: int = 500, w: int = 640, h: int = 480):
    """Frames of tracked boxes: tracks come and go, jump, touch the border, skip frames."""
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.uint8)
    tracks: dict[int, list[float]] = {}  # id -> [x, y, vx_px_s, vy_px_s, box_h]
    next_id = 1
    for k in range(frames):
        t = k / 25.0 + (0.4 if k > frames // 2 else 0.0)  # one clock jump > max_step_s
        if rng.random() < 0.15 or not tracks:
            x, y = rng.uniform(-20, w), rng.uniform(150, h + 10)  # some start on the border
            moving = rng.random() < 0.7  # the rest wait at a light
            vx, vy = rng.uniform(-200, 200) * moving, rng.uniform(-60, 60) * moving
            tracks[next_id] = [x, y, vx, vy, rng.uniform(20, 80)]
            next_id += 1
        for tid in [tid for tid in tracks if rng.random() < 0.01]:
            del tracks[tid]
        ids, boxes = [], []
        for tid, (x, y, vx, vy, bh) in tracks.items():
            if rng.random() < 0.07:
                continue  # missed this frame
            cx = x + vx * t + rng.normal(0, 0.5) + (rng.random() < 0.03) * rng.normal(0, 40)
            by = y + vy * t + rng.normal(0, 0.5)
            boxes.append([cx - bh * 0.6, by - bh, cx + bh * 0.6, by])
            ids.append(tid if rng.random() > 0.03 else -1)  # a few unassigned rows
        xyxy = np.array(boxes, np.float32).reshape(-1, 4)
        det = Detections(xyxy, np.full(len(ids), 0.9), np.zeros(len(ids), np.int32),
                         tracker_id=np.array(ids, np.int64))  # fmt: skip
        yield det, Frame("parity", k, t, t, image)


CONFIGS = [
    SpeedConfig(),
    SpeedConfig(smoothing_s=0.0, window_s=0.4, min_samples=2, max_speed_kmh=60.0),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("plane", [None, PERSPECTIVE], ids=["pixels", "ground"])
@pytest.mark.parametrize("config", CONFIGS, ids=["default", "raw"])
def test_step_parity_over_a_long_sequence(seed: int, plane, config: SpeedConfig) -> None:
    ours = Kinematics(config, plane, forget_after_s=2.0)
    theirs = _ReferenceKinematics(config, plane, forget_after_s=2.0)
    seen_speed = seen_stopped = seen_step = 0
    for det, frame in scene(seed):
        a, b = ours.update(det, frame), theirs.update(det, frame)
        for name in ("speed_kmh", "step_m", "step_s"):
            x, y = getattr(a, name), getattr(b, name)
            np.testing.assert_array_equal(
                np.isnan(x), np.isnan(y), err_msg=f"{name} frame {frame.index}"
            )
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True,
                                       err_msg=f"{name} frame {frame.index}")  # fmt: skip
        np.testing.assert_array_equal(a.stopped, b.stopped, err_msg=f"stopped frame {frame.index}")
        seen_speed += np.isfinite(a.speed_kmh).sum()
        seen_stopped += a.stopped.sum()
        seen_step += (a.step_m > 0).sum()
        assert ours.tracked_state_count == theirs.tracked_state_count
    for col in ("t", "xy", "head", "speed", "last_t"):
        np.testing.assert_allclose(ours._state[col], theirs._state[col], rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=col)  # fmt: skip
    assert seen_stopped > 0  # not vacuous: stops, speeds and distances all occurred
    if plane is not None:
        assert seen_speed > 1000 and seen_step > 500


def test_step_rejects_bad_columns() -> None:
    kin = Kinematics(SpeedConfig())
    state = (
        kin._state["t"],
        kin._state["xy"],
        kin._state["head"],
        kin._state["speed"],
        kin._state["last_t"],
    )
    out = (np.zeros(2), np.zeros(2, bool), np.zeros(2), np.zeros(2))
    rows, slots, params = np.arange(2), np.arange(2), kin._params
    boxes = np.zeros((2, 4))
    with pytest.raises(ValueError, match="expected dtypes"):
        kinematics_step(
            rows, slots, boxes.astype(np.float32), 0.0, (64, 64), None, params, state, out
        )
    with pytest.raises(ValueError, match="expected dtypes"):
        bad = (out[0], np.zeros(2), out[2], out[3])  # stopped must be bool
        kinematics_step(rows, slots, boxes, 0.0, (64, 64), None, params, state, bad)
    with pytest.raises(ValueError, match="out columns"):
        bad = (out[0], out[1], np.zeros(1), out[3])
        kinematics_step(rows, slots, boxes, 0.0, (64, 64), None, params, state, bad)
    with pytest.raises(ValueError, match="slot is outside"):
        kinematics_step(rows, slots + 1000, boxes, 0.0, (64, 64), None, params, state, out)
    with pytest.raises(ValueError, match="row is outside"):
        kinematics_step(rows + 2, slots, boxes, 0.0, (64, 64), None, params, state, out)
    with pytest.raises(ValueError, match="N rows"):
        kinematics_step(rows, slots, boxes[:1], 0.0, (64, 64), None, params, state, out)
    assert np.isnan(kin._state["last_t"]).all()  # nothing written by the refused calls
    with pytest.raises(ValueError, match="missing"):
        kinematics_params(window_s=1.0)


def test_warmup_keeps_no_state() -> None:
    kin = Kinematics(SpeedConfig(), PERSPECTIVE)
    kin.warmup()
    assert kin.tracked_state_count == 0


def test_step_parity_with_a_repeated_tracker_id() -> None:
    """Both read every slot's state before writing, so a repeated id gives the same answer."""
    ours, theirs = (
        Kinematics(SpeedConfig(), PERSPECTIVE),
        _ReferenceKinematics(SpeedConfig(), PERSPECTIVE),
    )
    image = np.zeros((480, 640, 3), np.uint8)
    for k in range(12):
        x = 100.0 + 8.0 * k
        xyxy = np.array([[x, 200, x + 60, 300], [x + 3, 200, x + 63, 302]], np.float32)
        det = Detections(xyxy, [0.9, 0.8], [0, 0], tracker_id=np.array([7, 7]))
        a, b = (
            ours.update(det, Frame("dup", k, k / 25, k / 25, image)),
            theirs.update(det, Frame("dup", k, k / 25, k / 25, image)),
        )
        np.testing.assert_allclose(a.speed_kmh, b.speed_kmh, rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(a.step_m, b.step_m, rtol=1e-9)
    assert np.isfinite(a.speed_kmh).all()
    for col in ("t", "xy", "head", "speed", "last_t"):
        np.testing.assert_allclose(ours._state[col], theirs._state[col], rtol=1e-9, equal_nan=True)
