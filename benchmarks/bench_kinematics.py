"""Track kinematics kernels (Numba) vs their NumPy references, for typical track counts per frame.

``track_speed_fit`` alone, and the whole ``Kinematics.update`` per frame: compiled
``kinematics_step`` against the same class running the NumPy reference step (slot lookup and
output allocation included on both sides).
"""

from __future__ import annotations

import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.kernels import reference as ref
from carbonedge.kernels import track_speed_fit
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.analytics.kinematics import Kinematics, SpeedConfig

_PLANE = GroundPlane(np.array([[0.05, 0.002, -16.0], [0.0004, 0.19, -20.0], [0.0, 0.004, 1.0]]))


class _ReferenceKinematics(Kinematics):
    _step = staticmethod(ref.kinematics_step)


def _rings(n: int, r: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.0, 0.0, (n, r)), axis=1)
    v = rng.uniform(-30, 30, (n, 1, 2))
    xy = v * t[:, :, None] + rng.normal(0, 0.1, (n, r, 2))
    return t, xy


def frame_feed(n_tracks: int, frames: int = 256, seed: int = 0):
    """A callable giving the next (detections, frame) of ``n_tracks`` cars in a 1280x720 view.

    The boxes repeat every ``frames`` frames while the clock keeps running (25 FPS).
    """
    rng = np.random.default_rng(seed)
    image = np.zeros((720, 1280, 3), np.uint8)
    x0 = rng.uniform(100, 1100, n_tracks)
    y0 = rng.uniform(300, 600, n_tracks)
    v = rng.uniform(-80, 80, n_tracks)
    dets = []
    for k in range(frames):
        cx = 100.0 + (x0 + v * k / 25.0) % 1000.0
        xyxy = np.stack([cx - 40, y0 - 60, cx + 40, y0 + rng.normal(0, 0.5, n_tracks)], axis=1)
        ids = np.arange(1, n_tracks + 1)
        dets.append(Detections(xyxy, np.full(n_tracks, 0.9), np.zeros(n_tracks), tracker_id=ids))
    state = {"k": 0}

    def next_frame() -> tuple[Detections, Frame]:
        k = state["k"]
        state["k"] = k + 1
        return dets[k % frames], Frame("bench", k, k / 25.0, k / 25.0, image)

    return next_frame


def update_pair(n_tracks: int):
    """(compiled update, reference update) callables, each on its own state and frame feed."""
    ours, theirs = Kinematics(SpeedConfig(), _PLANE), _ReferenceKinematics(SpeedConfig(), _PLANE)
    feed_ours, feed_theirs = frame_feed(n_tracks), frame_feed(n_tracks)
    return (lambda: ours.update(*feed_ours())), (lambda: theirs.update(*feed_theirs()))


def run(quick: bool) -> list[Row]:
    """Speed fit for 8, 50 (and 200) tracks; the whole update for 8, 30 (and 100) tracks."""
    rows = []
    for n in (8, 50) if quick else (8, 50, 200):
        t, xy = _rings(n)
        rows.append(compare(
            "track_speed_fit", f"N={n} tracks x 32 samples",
            lambda t=t, xy=xy: track_speed_fit(t, xy, 0.0, window_s=1.0, min_samples=3,
                                               outlier_floor=0.5),
            lambda t=t, xy=xy: ref.track_speed_fit(t, xy, 0.0, 1.0, 3, 0.5),
        ))  # fmt: skip
    for n in (8, 30) if quick else (8, 30, 100):
        ours, theirs = update_pair(n)
        rows.append(compare(
            "kinematics_step", f"Kinematics.update, {n} tracks, ground plane", ours, theirs,
            reference_name="numpy update",
        ))  # fmt: skip
    return rows
