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

The fit runs in one compiled call for all tracks of the frame (``kernels.track_speed_fit``, NumPy
reference in ``kernels.reference``); the rest is whole-column NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.kernels import track_speed_fit
from carbonedge.runtime.types import Detections, Frame
from carbonedge.vision.track_state import TrackTable

__all__ = ["Kinematics", "KinematicsFrame", "SpeedConfig"]

_RING = 32  # samples kept per track (covers window_s at up to 30 FPS)


class SpeedConfig(BaseModel):
    """How speeds, stops and distances are estimated (one block per site)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(1.0, gt=0.0, description="fit velocity over this much history")
    min_samples: int = Field(3, ge=2)
    smoothing_s: float = Field(0.5, ge=0.0, description="EMA time constant of the speed")
    max_speed_kmh: float = Field(200.0, gt=0.0)
    outlier_floor_m: float = Field(0.5, ge=0.0, description="residual below this is never cut")
    idle_speed_kmh: float = Field(5.0, ge=0.0, description="slower than this: stopped/idling")
    idle_heights_per_s: float = Field(
        0.15, ge=0.0, description="stopped threshold without a ground plane (box heights/s)"
    )
    edge_margin_px: float = Field(2.0, ge=0.0)
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

    @property
    def tracked_state_count(self) -> int:
        return len(self._state)

    def forget(self, tracker_ids) -> None:
        self._state.release(tracker_ids)

    def update(self, tracked: Detections, frame: Frame) -> KinematicsFrame:
        """Add this frame's observations; per-row speed, stopped flag and distance step."""
        n = len(tracked)
        out = KinematicsFrame(np.full(n, np.nan), np.zeros(n, bool), np.zeros(n), np.zeros(n))
        self._state.release(self._state.idle_ids(frame.t_mono_s, self.forget_after_s))
        rows = np.flatnonzero(tracked.tracker_id >= 0)
        if len(rows) == 0:
            return out
        cfg, st = self.config, self._state
        t = frame.t_mono_s
        slots = st.slots_for(tracked.tracker_id[rows], t)
        boxes = tracked.xyxy[rows].astype(np.float64)
        anchor = np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]], axis=1)
        pos = anchor if self.ground_plane is None else self.ground_plane.to_world(anchor)
        usable = np.isfinite(pos).all(axis=1) & ~self._touches_border(boxes, frame)

        # append usable samples to each track's ring
        ok_slots = slots[usable]
        head = st["head"][ok_slots]
        st["t"][ok_slots, head] = t
        st["xy"][ok_slots, head] = pos[usable]
        st["head"][ok_slots] = (head + 1) % _RING

        raw = self._fit_speed(slots, t)  # m/s or px/s, NaN when too few samples
        if self.ground_plane is not None:
            raw[raw * 3.6 > cfg.max_speed_kmh] = np.nan  # impossible: a bad fit, not a car
        last_t = st["last_t"][slots]
        step_s = np.where(np.isnan(last_t), 0.0, t - last_t)
        smoothed = self._smooth(slots, raw, step_s)
        st["last_t"][slots] = t

        integrate = (step_s > 0) & (step_s <= cfg.max_step_s) & np.isfinite(smoothed)
        if self.ground_plane is not None:
            out.speed_kmh[rows] = smoothed * 3.6
            out.step_m[rows] = np.where(integrate, smoothed * step_s, 0.0)
            out.stopped[rows] = smoothed * 3.6 < cfg.idle_speed_kmh
        else:
            height_px = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
            out.stopped[rows] = smoothed / height_px < cfg.idle_heights_per_s
        out.step_s[rows] = np.where(step_s <= cfg.max_step_s, step_s, 0.0)
        return out

    def _touches_border(self, boxes: NDArray, frame: Frame) -> NDArray[np.bool_]:
        h, w = frame.image.shape[:2]
        m = self.config.edge_margin_px
        return (boxes[:, 0] <= m) | (boxes[:, 2] >= w - m) | (boxes[:, 3] >= h - m)

    def _fit_speed(self, slots: NDArray[np.int64], now_s: float) -> NDArray[np.float64]:
        """Least-squares speed over the window, with one round of outlier rejection."""
        cfg, st = self.config, self._state
        floor = cfg.outlier_floor_m if self.ground_plane is not None else 2.0  # metres or px
        return track_speed_fit(st["t"][slots], st["xy"][slots], now_s, window_s=cfg.window_s,
                               min_samples=cfg.min_samples, outlier_floor=floor)  # fmt: skip

    def _smooth(
        self, slots: NDArray[np.int64], raw: NDArray[np.float64], step_s: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """EMA of the fitted speed per track; an unknown fit keeps the previous value."""
        prev = self._state["speed"][slots]
        tau = self.config.smoothing_s
        alpha = np.ones_like(raw) if tau <= 0 else 1.0 - np.exp(-np.maximum(step_s, 0.0) / tau)
        new = np.where(np.isnan(prev), raw, prev + alpha * (raw - prev))
        new = np.where(np.isnan(raw), prev, new)
        self._state["speed"][slots] = new
        return new
