"""Synthetic road scene: the embedded demo source, rendered with NumPy/OpenCV (needs no files).

A pinhole camera 12 m above the centre of a straight road looks along it, pitched 23 degrees down.
World coordinates on the ground plane: ``X`` metres across the road (right > 0), ``Y`` metres along
it from the camera's foot, ``Z`` up. Traffic keeps right: vehicles approaching the camera (moving
*down* the image) use the lanes at X < 0, vehicles moving away (*up*) the lanes at X > 0; lane 0 is
the one next to the centre line. Vehicles are boxes (top, camera-side face and the inner side face
shaded differently, a dark window band) with constant speeds; they enter from outside the image and
never overlap another vehicle of their lane in the image. The static background (grass texture,
asphalt, lane markings) is rendered once; each frame adds the vehicles, a slow global brightness
drift and Gaussian sensor noise. Frame ``i`` is at ``t = i / fps`` and is a pure function of
``(config, i)``: same seed, same pixels.

The ground truth (``SyntheticScene.ground_truth``) gives every vehicle, the camera geometry and the
times at which each vehicle's bottom-centre anchor (its camera-side ground edge, which is the bottom
of its image box) crosses the counting line.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime, timezone
from typing import Literal, NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.devices.sources._synthetic_geometry import (
    CAMERA_HEIGHT_M,
    LANE_WIDTH_M,
    SceneGroundTruth,
    SyntheticVehicle,
    camera_matrix,
    corners_m,
    keeps_clear,
    project,
)
from carbonedge.devices.sources.base import FrameSource, SourceConfig, register_source
from carbonedge.runtime.base.types import Frame

logger = logging.getLogger(__name__)

__all__ = ["SceneGroundTruth", "SyntheticScene", "SyntheticSceneConfig", "SyntheticVehicle"]

EPOCH_S = datetime(2026, 1, 1, 8, 0, 0, tzinfo=timezone.utc).timestamp()
_LINE_FRACTION = 0.6  # counting line at 60 % of the image height

# BGR colours whose grey level is far (>= 40) from the asphalt's (~85)
_WHITE, _SILVER, _YELLOW, _ORANGE = (232, 232, 232), (200, 196, 190), (30, 200, 240), (20, 140, 250)
_BLACK, _NAVY, _SKY, _RED = (30, 30, 30), (120, 40, 20), (230, 180, 120), (80, 80, 240)
# class -> (length m, width m, height m, share of traffic, speed range km/h, colours)
_CLASSES: dict[str, tuple[float, float, float, float, tuple[float, float], tuple]] = {
    "car": (
        4.5,
        1.8,
        1.5,
        0.55,
        (25.0, 70.0),
        (_WHITE, _SILVER, _BLACK, _NAVY, _SKY, _RED, _ORANGE),
    ),
    "van": (5.5, 2.0, 2.3, 0.14, (25.0, 65.0), (_WHITE, _SILVER, _SKY, _YELLOW)),
    "bus": (12.0, 2.5, 3.2, 0.07, (20.0, 50.0), (_YELLOW, _WHITE, _RED)),
    "truck": (10.0, 2.5, 3.5, 0.10, (20.0, 55.0), (_WHITE, _ORANGE, _SILVER)),
    "motorcycle": (2.0, 0.8, 1.4, 0.14, (25.0, 70.0), (_BLACK, _RED, _YELLOW)),
}
_CLASS_NAMES = list(_CLASSES)
_CLASS_SHARES = np.array([_CLASSES[n][3] for n in _CLASS_NAMES])
_CLASS_SHARES = _CLASS_SHARES / _CLASS_SHARES.sum()


class SyntheticSceneConfig(SourceConfig):
    """The embedded demo scene: size, length, traffic and seed."""

    type: Literal["synthetic"] = "synthetic"
    duration_s: float = Field(40.0, gt=0, le=3600, description="length of the generated scene")
    fps: float = Field(15.0, gt=0, le=120, description="frames per second of the generated scene")
    width_px: int = Field(640, ge=160, le=3840, description="frame width")
    height_px: int = Field(360, ge=120, le=2160, description="frame height")
    seed: int = Field(7, ge=0, description="same seed, same scene and pixels")
    vehicles_per_minute: float = Field(36.0, ge=0, le=240, description="all lanes together")
    lanes_per_direction: int = Field(2, ge=2, le=3, description="lanes in each direction")
    noise_sigma_levels: float = Field(2.0, ge=0, le=20, description="sensor noise std, grey levels")
    brightness_drift: float = Field(0.06, ge=0, le=0.5, description="relative amplitude")


def _draw_background(cfg: SyntheticSceneConfig, p: NDArray[np.float64]) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 static scene: textured grass, asphalt, lane markings."""
    w, h = cfg.width_px, cfg.height_px
    rng = np.random.default_rng([cfg.seed, 1])
    coarse = rng.normal(0, 1, (h // 24 + 2, w // 24 + 2))
    patches = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (h, w))
    img = np.empty((h, w, 3), np.float64)
    img[:] = (60, 125, 85)  # grass, BGR
    img += (patches * 12 + grain * 6)[..., None]
    half_road_m = cfg.lanes_per_direction * LANE_WIDTH_M
    road = np.zeros((h, w), np.uint8)
    _fill_ground(road, p, _strip_m(0.0, half_road_m + 1.0, -3.0, 400.0), 1)
    asphalt = 85.0 + grain * 4 + patches * 3
    img[road > 0] = np.repeat(asphalt[road > 0][:, None], 3, axis=1)
    out = np.clip(img, 0, 255).astype(np.uint8)
    for x_m in (-half_road_m, half_road_m, -0.15, 0.15):  # edges and the double centre line
        color = (40, 190, 215) if abs(x_m) < 1 else (220, 220, 220)
        _fill_ground(out, p, _strip_m(x_m, 0.08, -3.0, 400.0), color)
    for lane in range(1, cfg.lanes_per_direction):  # dashed lane separators: 3 m dash, 6 m gap
        for x_m in (-lane * LANE_WIDTH_M, lane * LANE_WIDTH_M):
            for y_m in np.arange(-3.0, 200.0, 9.0):
                _fill_ground(out, p, _strip_m(x_m, 0.07, y_m, y_m + 3.0), (220, 220, 220))
    return out


def _strip_m(
    x_m: float, half_width_m: float, y0_m: float, y1_m: float
) -> list[tuple[float, float]]:
    """Ground quad (X, Y) metres of a strip along the road centred on ``x_m``."""
    xl_m, xr_m = x_m - half_width_m, x_m + half_width_m
    return [(xl_m, y0_m), (xr_m, y0_m), (xr_m, y1_m), (xl_m, y1_m)]


def _fill_ground(
    img: NDArray[np.uint8], p: NDArray[np.float64], quad_m: list, color: object
) -> None:
    pts = project(p, np.c_[np.asarray(quad_m, np.float64), np.zeros(len(quad_m))])
    cv2.fillConvexPoly(img, np.round(pts * 16).astype(np.int32), color, cv2.LINE_AA, shift=4)


def _draw_vehicle(
    img: NDArray[np.uint8], p: NDArray[np.float64], v: SyntheticVehicle, t_s: float
) -> None:
    """Visible faces of the box: inner side, camera-side face with a window band, then the top."""
    c = project(p, corners_m(v, t_s))
    base = np.asarray(v.color_bgr, np.float64)

    def face(idx: list[int], shade: float) -> None:
        pts = np.round(c[idx] * 16).astype(np.int32)
        cv2.fillConvexPoly(img, pts, tuple(float(x) for x in base * shade), cv2.LINE_AA, shift=4)

    if v.x_center_m - v.width_m / 2 > 0:
        face([0, 3, 7, 4], 0.78)  # left face (X = xl) faces the camera
    elif v.x_center_m + v.width_m / 2 < 0:
        face([1, 2, 6, 5], 0.78)
    face([0, 1, 5, 4], 0.9)
    if v.class_name != "motorcycle":  # window band at 55-85 % of the height of the near face
        lo, hi = c[0] + 0.55 * (c[4] - c[0]), c[0] + 0.85 * (c[4] - c[0])
        lo_r, hi_r = c[1] + 0.55 * (c[5] - c[1]), c[1] + 0.85 * (c[5] - c[1])
        band = np.round(np.array([lo, lo_r, hi_r, hi]) * 16).astype(np.int32)
        cv2.fillConvexPoly(img, band, (45, 40, 35), cv2.LINE_AA, shift=4)
    face([4, 5, 6, 7], 1.0)


class _Kind(NamedTuple):
    """Class, size, speed and colour drawn for one vehicle."""

    class_name: str
    length_m: float
    width_m: float
    height_m: float
    speed_kmh: float
    color_bgr: tuple[int, int, int]


def _draw_kind(rng: np.random.Generator) -> _Kind:
    """A vehicle class by traffic share, its length (+-7 %), speed and colour."""
    name = _CLASS_NAMES[int(rng.choice(len(_CLASS_NAMES), p=_CLASS_SHARES))]
    length_m, width_m, height_m, _, (lo_kmh, hi_kmh), colors = _CLASSES[name]
    length_m *= float(rng.uniform(0.93, 1.07))
    speed_kmh = float(rng.uniform(lo_kmh, hi_kmh))
    color = colors[int(rng.integers(len(colors)))]
    return _Kind(name, length_m, width_m, height_m, speed_kmh, color)


def _place(
    rng: np.random.Generator,
    kind: _Kind,
    lane: int,
    direction: Literal["down", "up"],
    spawn_s: float,
    y_top_m: float,
    y_bottom_m: float,
) -> SyntheticVehicle:
    """The vehicle entering ``lane`` at ``spawn_s`` from beyond one image edge to the other.

    ``y_top_m`` / ``y_bottom_m``: ground Y seen at the top / bottom image row.
    """
    x_m = (lane + 0.5) * LANE_WIDTH_M * (-1 if direction == "down" else 1)
    x_m += float(rng.uniform(-0.3, 0.3))
    # leaves below the image when its roof's near edge is below the bottom row
    y_below_m = y_bottom_m * (CAMERA_HEIGHT_M - kind.height_m) / CAMERA_HEIGHT_M
    start_m, end_m = y_top_m + 0.5, y_below_m - kind.length_m - 0.5
    if direction == "up":
        start_m, end_m = end_m, start_m
    travel_s = abs(end_m - start_m) / (kind.speed_kmh / 3.6)
    return SyntheticVehicle(
        0,
        kind.class_name,
        lane,
        direction,
        round(kind.speed_kmh, 2),
        round(kind.length_m, 3),
        kind.width_m,
        spawn_s,
        kind.height_m,
        x_m,
        start_m,
        spawn_s + travel_s,
        kind.color_bgr,
    )


def _spawn_lane(
    cfg: SyntheticSceneConfig,
    lane: int,
    direction: Literal["down", "up"],
    y_top_m: float,
    y_bottom_m: float,
) -> list[SyntheticVehicle]:
    """Vehicles of one lane: Poisson arrivals, pushed later until they keep clear of the leader.

    Each lane has its own random stream, so a longer scene starts with the same vehicles.
    """
    rng = np.random.default_rng([cfg.seed, lane, 0 if direction == "down" else 1])
    rate_per_s = cfg.vehicles_per_minute / 60.0 / (2 * cfg.lanes_per_direction)
    out: list[SyntheticVehicle] = []
    t_s = 0.0
    while rate_per_s > 0:
        t_s += float(rng.exponential(1.0 / rate_per_s))
        kind = _draw_kind(rng)
        if t_s >= cfg.duration_s:
            break
        v = _place(rng, kind, lane, direction, t_s, y_top_m, y_bottom_m)
        while out and not keeps_clear(out[-1], v):
            v = replace(v, spawn_s=v.spawn_s + 0.05, exit_s=v.exit_s + 0.05)
        t_s = v.spawn_s
        if t_s < cfg.duration_s:
            out.append(v)
    return out


def _build_ground_truth(cfg: SyntheticSceneConfig, p: NDArray[np.float64]) -> SceneGroundTruth:
    hom = p[:, [0, 1, 3]]
    line_y_px = round(_LINE_FRACTION * cfg.height_px, 1)
    partial = SceneGroundTruth((), tuple(map(tuple, hom.tolist())), ((0.0, 0.0), (0.0, 0.0)))
    y_top_m, y_bottom_m = partial.ground_y_at_row_m(0.0), partial.ground_y_at_row_m(cfg.height_px)
    y_line_m = partial.ground_y_at_row_m(line_y_px)
    half_m = cfg.lanes_per_direction * LANE_WIDTH_M + 0.5
    xs = project(p, np.array([[-half_m, y_line_m, 0.0], [half_m, y_line_m, 0.0]]))[:, 0]
    line = (
        (round(max(float(xs[0]), 0.0), 1), float(line_y_px)),
        (round(min(float(xs[1]), float(cfg.width_px)), 1), float(line_y_px)),
    )
    vehicles: list[SyntheticVehicle] = []
    directions: tuple[Literal["down", "up"], ...] = ("down", "up")
    for direction in directions:
        for lane in range(cfg.lanes_per_direction):
            vehicles += _spawn_lane(cfg, lane, direction, y_top_m, y_bottom_m)
    vehicles.sort(key=lambda v: (v.spawn_s, v.direction, v.lane))
    numbered = tuple(replace(v, vehicle_id=i) for i, v in enumerate(vehicles))
    return SceneGroundTruth(
        numbered,
        partial.homography_world_to_image,
        line,
        tuple(map(tuple, p.tolist())),
        (cfg.width_px, cfg.height_px),
        cfg.duration_s,
        cfg.fps,
    )


@register_source("synthetic", SyntheticSceneConfig)
class SyntheticScene(FrameSource):
    """Renders the synthetic road scene frame by frame; ``ground_truth`` describes it."""

    def __init__(self, config: SyntheticSceneConfig) -> None:
        self.config = config
        self.source_id = config.id
        self.fps = config.fps
        self._p = camera_matrix(config.width_px, config.height_px)
        self.ground_truth = _build_ground_truth(config, self._p)
        self._background = _draw_background(config, self._p)
        self._index = 0
        logger.debug(
            "synthetic scene %s: %d vehicles, %d frames",
            config.id,
            len(self.ground_truth.vehicles),
            self.ground_truth.n_frames,
        )

    @property
    def frame_count(self) -> int:
        return self.ground_truth.n_frames

    def open(self) -> None:
        """Rewind to the first frame (nothing to open)."""
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= self.ground_truth.n_frames:
            return None
        frame = self.render(self._index)
        self._index += 1
        return frame

    def render(self, index: int) -> Frame:
        """Frame ``index`` (t = index / fps), independent of the reading position."""
        cfg, t_s = self.config, index / self.config.fps
        img = self._background.copy()
        visible = [v for v in self.ground_truth.vehicles if v.on_screen(t_s)]
        for v in sorted(visible, key=lambda v: -v.near_y_m(t_s)):  # far first: near ones occlude
            _draw_vehicle(img, self._p, v, t_s)
        gain = 1.0 + cfg.brightness_drift * math.sin(2 * math.pi * t_s / 45.0 + cfg.seed)
        rng = np.random.default_rng([cfg.seed, 2, index])
        noise = rng.standard_normal((cfg.height_px, cfg.width_px, 1), dtype=np.float32)
        out = img.astype(np.float32) * np.float32(gain) + noise * np.float32(cfg.noise_sigma_levels)
        image = np.clip(out, 0, 255).astype(np.uint8)
        return Frame(self.source_id, index, t_s, EPOCH_S + t_s, image, fps=cfg.fps)
