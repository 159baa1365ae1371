"""Vehicle candidates from head- and tail-light pairs, for dark scenes (dusk, night).

When the picture is dark a COCO model sees little, but a vehicle's lamps are the brightest
compact things on the road. Per frame, only when the scene is dark (the mean pixel value of the
whole frame, on a grid of every 4th pixel, at most ``max_scene_luma``; by day this source does
nothing; the whole frame, not the ROI: a crop of dark asphalt by day is not a dark scene), in the
frame or its ROI:

1. ``find_lamps`` (compiled kernel): bright compact blobs against their local background;
2. ``pair_lamps`` (compiled kernel): two lamps at about the same row, of similar size and
   brightness, spaced as a vehicle's width allows at that row: with a ground plane, between
   ``min_width_m`` and ``max_width_m`` on the road; without one, a perspective rule: at most
   ``max_width_frac`` of the frame width at the bottom row, shrinking linearly to the top, and at
   least ``min_gap_px``;
3. pairs over frames (Python, few pairs): a pair continues a pair track of the previous frames
   when its centre moved at most ``max_step_frac`` x its spacing and its spacing changed by at
   most 30 %; a track becomes a candidate once seen in ``min_frames`` frames and moved at least
   ``min_motion_frac`` x its spacing (street lights, signals and parked cars do not move);
4. box: width = spacing x ``width_per_gap``, height = width x ``height_per_width``, the lamps at
   ``lamp_height_frac`` of the height above the bottom. Class ``vehicle``; ``hgv`` only with a
   ground plane and a spacing of at least ``hgv_min_width_m`` on the road (a lorry's lamps are
   wider apart).

Limits: a lamp pair seen side-on (a vehicle crossing the view) is not a pair; two vehicles side
by side can pair a lamp of each; lamps projected through a ground plane are above the road, so
metres are overestimated a little for near vehicles. Per-source tracks are evicted by
:meth:`HeadlightPairs.forget` and when unseen for ``max_missed_frames``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.calibration.ground_plane import GroundPlane, GroundPlaneConfig
from carbonedge.kernels.headlights import find_lamps, pair_lamps
from carbonedge.runtime.base.types import Frame
from carbonedge.vision.detectors.roi import RoiBox

logger = logging.getLogger(__name__)

__all__ = ["HeadlightPairs", "HeadlightsConfig", "PairBoxes"]

_MAX_GAP_TABLES = 32  # per-row spacing tables kept, one per (frame size, ROI)


class HeadlightsConfig(BaseModel):
    """Settings of the lamp-pair candidates; sizes in pixels of the frame unless named _m."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_scene_luma: float = Field(
        70.0, ge=0, le=255,
        description="only where the mean pixel value of the whole frame is at most this",
    )  # fmt: skip
    min_luma: float = Field(50.0, ge=1, le=255, description="a lamp pixel is at least this bright")
    min_contrast_levels: float = Field(
        25.0, ge=0, le=255, description="... and this much above the mean of its window"
    )
    saturation_luma: float = Field(
        250.0, ge=1, le=256, description="... unless it is at least this bright (saturated)"
    )
    window_radius_px: int = Field(5, ge=1, le=50, description="half size of that window")
    min_area_px: int = Field(2, ge=1, description="a lamp has at least this many pixels")
    max_area_px: int = Field(400, ge=1, description="... and at most this many")
    max_aspect: float = Field(3.0, ge=1, description="a lamp's box: long side / short side")
    max_dy_frac: float = Field(
        0.6, gt=0, description="a pair's rows differ by at most this x lamp height + 1 px"
    )
    max_size_ratio: float = Field(2.5, ge=1, description="larger / smaller lamp area")
    max_luma_ratio: float = Field(1.6, ge=1, description="brighter / dimmer lamp mean grey level")
    min_gap_px: float = Field(3.0, ge=1, description="lamp centres at least this far apart")
    max_width_frac: float = Field(
        0.3, gt=0, le=1,
        description="no ground plane: spacing at most this x frame width at the bottom row, "
        "shrinking linearly to 10 % of that at the top row",
    )  # fmt: skip
    ground_plane: GroundPlaneConfig | None = Field(
        None, description="the camera's ground plane: spacing in metres, and hgv from it"
    )
    min_width_m: float = Field(1.0, gt=0, description="with a ground plane: spacing at least")
    max_width_m: float = Field(2.6, gt=0, description="with a ground plane: spacing at most")
    hgv_min_width_m: float = Field(
        1.95, gt=0, description="with a ground plane: a pair at least this wide is an hgv"
    )
    min_frames: int = Field(2, ge=1, description="a pair track is a candidate from this frame")
    min_motion_frac: float = Field(
        0.3, ge=0, description="... once it moved at least this x its spacing"
    )
    max_step_frac: float = Field(
        0.8, gt=0, description="a pair continues a track within this x spacing per frame"
    )
    max_missed_frames: int = Field(3, ge=0, description="tracks unseen longer are dropped")
    width_per_gap: float = Field(1.3, ge=1, description="box width / lamp spacing")
    height_per_width: float = Field(0.8, gt=0, description="box height / box width")
    lamp_height_frac: float = Field(
        0.35, ge=0, le=1, description="the lamps' height above the box bottom / box height"
    )
    confidence: float = Field(0.6, gt=0, le=1, description="score of every pair box")


@dataclass
class _Track:
    cx: float
    cy: float
    gap: float
    first_cx: float
    first_cy: float
    hits: int = 1
    missed: int = 0


@dataclass
class _SourceState:
    tracks: list[_Track] = field(default_factory=list)


@dataclass(frozen=True)
class PairBoxes:
    """Candidate boxes of one frame: (N, 4) float32 xyxy px, (N,) float32 scores, (N,) bool hgv."""

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    hgv: NDArray[np.bool_]

    @classmethod
    def empty(cls) -> PairBoxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, bool))


class HeadlightPairs:
    """Lamp pairs that move, as vehicle boxes; one set of pair tracks per source."""

    def __init__(self, config: HeadlightsConfig) -> None:
        self.config = config
        self.plane = GroundPlane.from_config(config.ground_plane) if config.ground_plane else None
        self._states: dict[str, _SourceState] = {}
        self._gaps: dict[tuple[int, int, int, int], tuple[NDArray, NDArray, NDArray]] = {}

    def forget(self, source_id: str) -> None:
        self._states.pop(source_id, None)

    def warmup(self) -> None:
        lamps = find_lamps(np.zeros((8, 8), np.uint8))
        pair_lamps(lamps, np.zeros(8), np.ones(8))

    def detect(self, frame: Frame, roi_xyxy: RoiBox | None = None) -> PairBoxes:
        """Boxes of moving lamp pairs in ``frame`` (full-frame px); empty when not dark."""
        image = frame.image
        h, w = image.shape[:2]
        state = self._states.setdefault(frame.source_id, _SourceState())
        if float(image[::4, ::4].mean()) > self.config.max_scene_luma:
            state.tracks.clear()
            return PairBoxes.empty()
        x0, y0, x1, y1 = roi_xyxy if roi_xyxy is not None else (0, 0, w, h)
        crop = image[y0:y1, x0:x1]
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        pairs = self._pairs(gray, (x0, y0, w, h))
        moving = self._follow(state, pairs)
        return self._boxes(moving)

    def _pairs(self, gray: NDArray[np.uint8], geometry: tuple[int, int, int, int]) -> NDArray:
        """(P, 4) float64 pairs in frame px: centre x, centre y, spacing px, spacing m (or NaN)."""
        cfg = self.config
        lamps = find_lamps(
            gray, radius_px=cfg.window_radius_px, min_luma=cfg.min_luma,
            min_contrast_levels=cfg.min_contrast_levels, saturation_luma=cfg.saturation_luma,
            min_area_px=cfg.min_area_px, max_area_px=cfg.max_area_px, max_aspect=cfg.max_aspect,
        )  # fmt: skip
        gap_min, gap_max, m_per_px = self._gap_tables(geometry, gray.shape[0])
        pairs, _ = pair_lamps(
            lamps, gap_min, gap_max, max_dy_frac=cfg.max_dy_frac,
            max_size_ratio=cfg.max_size_ratio, max_luma_ratio=cfg.max_luma_ratio,
        )  # fmt: skip
        left, right = lamps[pairs[:, 0]], lamps[pairs[:, 1]]
        cx = 0.5 * (left[:, 4] + right[:, 4]) + geometry[0]
        cy = 0.5 * (left[:, 5] + right[:, 5]) + geometry[1]
        gap = right[:, 4] - left[:, 4]
        rows = np.clip(cy.astype(np.int64) - geometry[1], 0, len(m_per_px) - 1)
        return np.stack([cx, cy, gap, gap * m_per_px[rows]], axis=1)

    def _gap_tables(
        self, geometry: tuple[int, int, int, int], rows: int
    ) -> tuple[NDArray, NDArray, NDArray]:
        """Per crop row: allowed spacing (min, max) px and metres per px (NaN: no plane)."""
        key = (*geometry, rows)
        tables = self._gaps.get(key)
        if tables is None:
            if len(self._gaps) >= _MAX_GAP_TABLES:  # ROIs that keep changing: start over
                self._gaps.clear()
            tables = self._gaps[key] = self._build_gap_tables(geometry, rows)
        return tables

    def _build_gap_tables(
        self, geometry: tuple[int, int, int, int], rows: int
    ) -> tuple[NDArray, NDArray, NDArray]:
        cfg = self.config
        x0, y0, w, h = geometry
        y = np.arange(rows, dtype=np.float64) + y0 + 0.5
        if self.plane is None:
            scale = 0.1 + 0.9 * np.clip(y / h, 0.0, 1.0)
            gap_max = cfg.max_width_frac * w * scale
            return np.full(rows, cfg.min_gap_px), gap_max, np.full(rows, np.nan)
        cx = w / 2.0
        ends = self.plane.to_world(
            np.concatenate([np.stack([np.full(rows, cx - 0.5), y], 1),
                            np.stack([np.full(rows, cx + 0.5), y], 1)])
        )  # fmt: skip
        m_per_px = np.linalg.norm(ends[:rows] - ends[rows:], axis=1)
        ok = np.isfinite(m_per_px) & (m_per_px > 0)
        m_per_px = np.where(ok, m_per_px, np.nan)
        gap_min = np.where(ok, np.maximum(cfg.min_width_m / m_per_px, cfg.min_gap_px), np.inf)
        gap_max = np.where(ok, cfg.max_width_m / m_per_px, 0.0)
        return gap_min, gap_max, m_per_px

    def _follow(self, state: _SourceState, pairs: NDArray) -> NDArray:
        """Pairs that continue a track seen long enough and moving; tracks updated in place."""
        cfg = self.config
        taken: set[int] = set()
        keep = np.zeros(len(pairs), bool)
        for p, (cx, cy, gap, _) in enumerate(pairs):
            best, best_d = -1, np.inf
            for t, track in enumerate(state.tracks):
                if t in taken or not 0.7 <= gap / track.gap <= 1.0 / 0.7:
                    continue
                d = float(np.hypot(cx - track.cx, cy - track.cy))
                if d <= cfg.max_step_frac * max(track.gap, gap) * (1 + track.missed) and d < best_d:
                    best, best_d = t, d
            if best < 0:
                state.tracks.append(_Track(cx, cy, gap, cx, cy))
                taken.add(len(state.tracks) - 1)
                continue
            track = state.tracks[best]
            taken.add(best)
            track.cx, track.cy, track.gap = cx, cy, gap
            track.hits += 1
            track.missed = 0
            moved = np.hypot(cx - track.first_cx, cy - track.first_cy)
            keep[p] = track.hits >= cfg.min_frames and moved >= cfg.min_motion_frac * gap
        for t, track in enumerate(state.tracks):
            if t not in taken:
                track.missed += 1
        state.tracks = [t for t in state.tracks if t.missed <= cfg.max_missed_frames]
        return pairs[keep]

    def _boxes(self, pairs: NDArray) -> PairBoxes:
        cfg = self.config
        if len(pairs) == 0:
            return PairBoxes.empty()
        cx, cy, gap, gap_m = pairs.T
        bw = gap * cfg.width_per_gap
        bh = bw * cfg.height_per_width
        bottom = cy + cfg.lamp_height_frac * bh
        xyxy = np.stack([cx - bw / 2, bottom - bh, cx + bw / 2, bottom], axis=1)
        hgv = np.nan_to_num(gap_m, nan=0.0) >= cfg.hgv_min_width_m
        return PairBoxes(
            xyxy.astype(np.float32), np.full(len(pairs), cfg.confidence, np.float32), hgv
        )
