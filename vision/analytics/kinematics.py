"""Per-track ground speed, stopped state and distance travelled, from tracked boxes.

Each track keeps a ring of its recent anchor positions (bottom-centre of the box) with their
timestamps. With a ground plane the positions are in metres on the road, otherwise in pixels.
Velocity is the least-squares slope of position over the samples of the last ``window_s``
seconds, fitted twice: samples whose residual exceeds ``max(3 x median residual,
outlier_floor)`` (a box that jumped because of an occlusion or a merge) are dropped before the
second fit. Speeds above ``max_speed_kmh`` are rejected as impossible. The reported speed is an
exponential moving average (time constant ``smoothing_s``) of the fitted speed. Samples whose box
touches the image border are not used: a clipped box's bottom edge is the border, not the car.

Distance travelled is the integral of the smoothed speed over the time the track is observed
(gaps longer than ``max_step_s`` are not integrated). A track is *stopped* (idling) when its
speed is below ``idle_speed_kmh`` (without a ground plane: below ``idle_heights_per_s`` box
heights per second, a scale-free pixel criterion).

The whole per-frame update after the slot lookup (anchors, ground projection, border test, ring
append, fit, EMA, distance, stopped flag) is one compiled call on the track table's columns,
``kernels.kinematics_step``; its whole-column NumPy reference is ``kernels.reference``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.kernels import kinematics_params, kinematics_step
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.track_state import TrackTable

__all__ = ["Kinematics", "KinematicsFrame", "SpeedConfig"]

_RING = 32  # samples kept per track (covers window_s at up to 30 FPS)


class SpeedConfig(BaseModel):
    """How speeds, stops and distances are estimated (one block per site)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(1.0, gt=0.0, description="fit velocity over this much history")
    min_samples: int = Field(
        3,
        ge=2,
        description="track positions needed before a speed is reported",
    )
    smoothing_s: float = Field(0.5, ge=0.0, description="EMA time constant of the speed")
    max_speed_kmh: float = Field(
        200.0,
        gt=0.0,
        description="faster estimates are dropped as tracking errors",
    )
    outlier_floor_m: float = Field(0.5, ge=0.0, description="residual below this is never cut")
    idle_speed_kmh: float = Field(5.0, ge=0.0, description="slower than this: stopped/idling")
    idle_heights_per_s: float = Field(
        0.15, ge=0.0, description="stopped threshold without a ground plane (box heights/s)"
    )
    edge_margin_px: float = Field(
        2.0,
        ge=0.0,
        description="boxes this close to the frame edge are not used for speed (cut off)",
    )
    max_step_s: float = Field(1.0, gt=0.0, description="longer gaps are not integrated")


@dataclass
class KinematicsFrame:
    """Per row of the tracked detections of one frame (NaN where unknown).

    ``speed_kmh`` needs a ground plane; ``stopped`` is known with or without one; ``step_m`` is
    the distance travelled since the track's previous observation and ``step_s`` that time.
    """

    speed_kmh: NDArray[np.float64]
    stopped: NDArray[np.bool_]
    step_m: NDArray[np.float64]
    step_s: NDArray[np.float64]


class Kinematics:
    """Speed, stopped state and distance for every track of one source."""

    _step = staticmethod(kinematics_step)  # the parity test swaps in the NumPy reference

    def __init__(
        self,
        config: SpeedConfig,
        ground_plane: GroundPlane | None = None,
        *,
        forget_after_s: float = 60.0,
    ) -> None:
        self.config = config
        self.ground_plane = ground_plane
        self.forget_after_s = forget_after_s
        self._state = TrackTable(
            {
                "t": ((_RING,), np.float64, np.nan),
                "xy": ((_RING, 2), np.float64, np.nan),
                "head": ((), np.int64, 0),  # next ring position
                "speed": ((), np.float64, np.nan),  # smoothed, m/s (px/s without ground plane)
                "last_t": ((), np.float64, np.nan),  # last observation (for step_s)
            }
        )
        self._image_to_world = (
            None if ground_plane is None
            else np.ascontiguousarray(ground_plane.image_to_world, np.float64)
        )  # fmt: skip
        self._params = kinematics_params(
            window_s=config.window_s, min_samples=config.min_samples,
            smoothing_s=config.smoothing_s, max_speed_kmh=config.max_speed_kmh,
            outlier_floor=config.outlier_floor_m if ground_plane is not None else 2.0,  # m or px
            idle_speed_kmh=config.idle_speed_kmh, idle_heights_per_s=config.idle_heights_per_s,
            edge_margin_px=config.edge_margin_px, max_step_s=config.max_step_s,
        )  # fmt: skip

    @property
    def tracked_state_count(self) -> int:
        return len(self._state)

    def forget(self, tracker_ids) -> None:
        self._state.release(tracker_ids)

    def warmup(self) -> None:
        """Compile or load the Numba step once (call before reporting ready); no state kept."""
        scratch = Kinematics(self.config, self.ground_plane)
        image = np.zeros((64, 64, 3), np.uint8)
        for k in range(2):
            box = np.array([[10.0 + k, 10.0, 30.0 + k, 40.0]], np.float32)
            det = Detections(box, [0.9], [0], tracker_id=np.array([1]))
            scratch.update(det, Frame("warmup", k, 0.1 * k, 0.1 * k, image))

    def update(self, tracked: Detections, frame: Frame) -> KinematicsFrame:
        """Add this frame's observations; per-row speed, stopped flag and distance step."""
        n = len(tracked)
        out = KinematicsFrame(np.full(n, np.nan), np.zeros(n, bool), np.zeros(n), np.zeros(n))
        st = self._state
        st.release(st.idle_ids(frame.t_mono_s, self.forget_after_s))
        rows = np.flatnonzero(tracked.tracker_id >= 0)
        if len(rows) == 0:
            return out
        slots = st.slots_for(tracked.tracker_id[rows], frame.t_mono_s)
        h, w = frame.image.shape[:2]
        self._step(
            rows, slots, tracked.xyxy[rows].astype(np.float64), frame.t_mono_s, (w, h),
            self._image_to_world, self._params,
            (st["t"], st["xy"], st["head"], st["speed"], st["last_t"]),
            (out.speed_kmh, out.stopped, out.step_m, out.step_s),
        )  # fmt: skip
        return out
