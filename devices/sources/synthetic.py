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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.devices.sources.base import FrameSource, SourceConfig, register_source
from carbonedge.runtime.types import Frame

logger = logging.getLogger(__name__)

__all__ = ["SceneGroundTruth", "SyntheticScene", "SyntheticSceneConfig", "SyntheticVehicle"]

EPOCH_S = datetime(2026, 1, 1, 8, 0, 0, tzinfo=timezone.utc).timestamp()
LANE_WIDTH_M = 3.5
CAMERA_HEIGHT_M = 12.0
_PITCH_RAD = math.radians(23.0)
_FOCAL_PER_HEIGHT = 1.95  # focal length in px per image height px (about 50 deg vertical FOV)
_LINE_FRACTION = 0.6  # counting line at 60 % of the image height
_GAP_M = 2.0  # minimum ground gap between the image extents of two vehicles in one lane

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


@dataclass(frozen=True)
class SyntheticVehicle:
    """One vehicle of the scene; its camera-side edge is at ``start_y_m`` at ``spawn_s``.

    ``lane`` counts from the centre line (0) outwards within the vehicle's direction.
    """

    vehicle_id: int
    class_name: str
    lane: int
    direction: Literal["down", "up"]
    speed_kmh: float
    length_m: float
    width_m: float
    spawn_s: float
    height_m: float = 1.5
    x_center_m: float = 0.0
    start_y_m: float = 0.0
    exit_s: float = 0.0  # from this time on the vehicle is entirely outside the image
    color_bgr: tuple[int, int, int] = (232, 232, 232)

    def near_y_m(self, t_s: float) -> float:
        """World Y of the camera-side (bottom-of-box) edge at time ``t_s``."""
        step_m = self.speed_kmh / 3.6 * (t_s - self.spawn_s)
        return self.start_y_m - step_m if self.direction == "down" else self.start_y_m + step_m

    def on_screen(self, t_s: float) -> bool:
        return self.spawn_s <= t_s < self.exit_s


@dataclass(frozen=True)
class SceneGroundTruth:
    """What the scene contains: vehicles, camera geometry and the counting line.

    Attributes:
        vehicles: every vehicle, ordered by spawn time (``vehicle_id`` = position).
        homography_world_to_image: 3x3, ground point (X m, Y m, 1) -> image px (homogeneous).
        counting_line_px: ((x_left, y), (x_right, y)), across the road at 60 % of the image height.
        projection_world_to_image: 3x4 camera matrix, (X, Y, Z, 1) metres -> image px.
        image_size_px: (width, height).
        duration_s, fps: the scene has ``n_frames`` frames at ``t = i / fps``.
    """

    vehicles: tuple[SyntheticVehicle, ...]
    homography_world_to_image: tuple[tuple[float, ...], ...]
    counting_line_px: tuple[tuple[float, float], tuple[float, float]]
    projection_world_to_image: tuple[tuple[float, ...], ...] = ()
    image_size_px: tuple[int, int] = (640, 360)
    duration_s: float = 40.0
    fps: float = 15.0

    @property
    def n_frames(self) -> int:
        return max(0, math.ceil(self.duration_s * self.fps - 1e-9))

    def ground_y_at_row_m(self, y_px: float) -> float:
        """World Y of the ground seen at image row ``y_px`` (rows are lines of constant Y)."""
        h = np.asarray(self.homography_world_to_image)
        # y_px * (h20 X + h21 Y + h22) = h10 X + h11 Y + h12 with h00..: X drops out (no roll)
        return float((h[1, 2] - y_px * h[2, 2]) / (y_px * h[2, 1] - h[1, 1]))

    def crossings(self, line_y_px: float | None = None) -> list[tuple[int, str, float]]:
        """(vehicle_id, direction, time_s) for each bottom-centre anchor crossing of the line.

        The line is the counting line (or the image row ``line_y_px``). A crossing counts when it
        happens at or before the last frame's time, so it can be seen in the rendered frames;
        sorted by time.
        """
        y_line_px = self.counting_line_px[0][1] if line_y_px is None else float(line_y_px)
        y_line_m = self.ground_y_at_row_m(y_line_px)
        t_last_s = (self.n_frames - 1) / self.fps
        out: list[tuple[int, str, float]] = []
        for v in self.vehicles:
            dy_m = v.start_y_m - y_line_m if v.direction == "down" else y_line_m - v.start_y_m
            t_s = v.spawn_s + dy_m / (v.speed_kmh / 3.6)
            if dy_m > 0 and t_s <= t_last_s:
                out.append((v.vehicle_id, v.direction, t_s))
        return sorted(out, key=lambda item: item[2])

    def corners_px(self, vehicle: SyntheticVehicle, t_s: float) -> NDArray[np.float64]:
        """(8, 2) image px of the vehicle's box corners at ``t_s`` (bottom four first)."""
        return _project(np.asarray(self.projection_world_to_image), _corners_m(vehicle, t_s))

    def box_px(self, vehicle: SyntheticVehicle, t_s: float) -> tuple[float, ...] | None:
        """Image box (x1, y1, x2, y2) clipped to the image, or None when not visible at ``t_s``."""
        if not vehicle.on_screen(t_s):
            return None
        pts = self.corners_px(vehicle, t_s)
        w, h = self.image_size_px
        x1, y1 = max(pts[:, 0].min(), 0.0), max(pts[:, 1].min(), 0.0)
        x2, y2 = min(pts[:, 0].max(), float(w)), min(pts[:, 1].max(), float(h))
        return (x1, y1, x2, y2) if x2 - x1 >= 1.0 and y2 - y1 >= 1.0 else None

    def boxes_at(self, t_s: float) -> list[tuple[int, tuple[float, ...]]]:
        """(vehicle_id, clipped image box) of every vehicle visible at ``t_s``."""
        boxes = ((v.vehicle_id, self.box_px(v, t_s)) for v in self.vehicles)
        return [(vid, box) for vid, box in boxes if box is not None]


class SyntheticSceneConfig(SourceConfig):
    """The embedded demo scene: size, length, traffic and seed."""

    type: Literal["synthetic"] = "synthetic"
    duration_s: float = Field(40.0, gt=0, le=3600)
    fps: float = Field(15.0, gt=0, le=120)
    width_px: int = Field(640, ge=160, le=3840)
    height_px: int = Field(360, ge=120, le=2160)
    seed: int = 7
    vehicles_per_minute: float = Field(36.0, ge=0, le=240, description="all lanes together")
    lanes_per_direction: int = Field(2, ge=2, le=3)
    noise_sigma: float = Field(2.0, ge=0, le=20, description="sensor noise, grey levels")
    brightness_drift: float = Field(0.06, ge=0, le=0.5, description="relative amplitude")


def _camera_matrix(width_px: int, height_px: int) -> NDArray[np.float64]:
    """3x4 projection (X, Y, Z, 1) -> image px of the road camera (see the module docstring)."""
    f = _FOCAL_PER_HEIGHT * height_px
    k = np.array([[f, 0, width_px / 2], [0, f, height_px / 2], [0, 0, 1]])
    s, c = math.sin(_PITCH_RAD), math.cos(_PITCH_RAD)
    r = np.array([[1.0, 0, 0], [0, -s, -c], [0, c, -s]])  # rows: camera x (right), y (down), z
    t = -r @ np.array([0.0, 0.0, CAMERA_HEIGHT_M])
    return k @ np.hstack([r, t[:, None]])


def _project(p: NDArray[np.float64], points_m: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 3) world points -> (N, 2) image px."""
    q = np.hstack([points_m, np.ones((len(points_m), 1))]) @ p.T
    return q[:, :2] / q[:, 2:3]


def _corners_m(v: SyntheticVehicle, t_s: float) -> NDArray[np.float64]:
    """(8, 3) corners: bottom then top, each (near-left, near-right, far-right, far-left)."""
    y0 = v.near_y_m(t_s)
    xl, xr, y1 = v.x_center_m - v.width_m / 2, v.x_center_m + v.width_m / 2, y0 + v.length_m
    ring = np.array([[xl, y0], [xr, y0], [xr, y1], [xl, y1]])
    return np.vstack([np.c_[ring, np.zeros(4)], np.c_[ring, np.full(4, v.height_m)]])


def _ground_equivalent_y_m(y_m: float, z_m: float) -> float:
    """Ground Y seen on the same image row as the point (Y, Z): the camera ray through it."""
    return y_m * CAMERA_HEIGHT_M / (CAMERA_HEIGHT_M - z_m)


def _lane_overlap_m(lead: SyntheticVehicle, follow: SyntheticVehicle, t_s: float) -> float:
    """> 0 when the two vehicles of one lane are closer than ``_GAP_M`` in the image at ``t_s``.

    Image rows depend on Y and Z only, so the nearer vehicle's roof far edge must stay below the
    farther vehicle's ground near edge, both measured as ground Y on the same image row.
    """
    near, far = (lead, follow) if lead.direction == "down" else (follow, lead)
    top_of_near = _ground_equivalent_y_m(near.near_y_m(t_s) + near.length_m, near.height_m)
    return top_of_near + _GAP_M - far.near_y_m(t_s)


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
    quad = [
        (-half_road_m - 1.0, -3.0),
        (half_road_m + 1.0, -3.0),
        (half_road_m + 1.0, 400.0),
        (-half_road_m - 1.0, 400.0),
    ]
    road = np.zeros((h, w), np.uint8)
    _fill_ground(road, p, quad, 1)
    asphalt = 85.0 + grain * 4 + patches * 3
    img[road > 0] = np.repeat(asphalt[road > 0][:, None], 3, axis=1)
    out = np.clip(img, 0, 255).astype(np.uint8)
    for x_m in (-half_road_m, half_road_m, -0.15, 0.15):  # edges and the double centre line
        color = (40, 190, 215) if abs(x_m) < 1 else (220, 220, 220)
        _fill_ground(
            out,
            p,
            [(x_m - 0.08, -3.0), (x_m + 0.08, -3.0), (x_m + 0.08, 400.0), (x_m - 0.08, 400.0)],
            color,
        )
    for lane in range(1, cfg.lanes_per_direction):  # dashed lane separators: 3 m dash, 6 m gap
        for x_m in (-lane * LANE_WIDTH_M, lane * LANE_WIDTH_M):
            for y_m in np.arange(-3.0, 200.0, 9.0):
                _fill_ground(
                    out,
                    p,
                    [
                        (x_m - 0.07, y_m),
                        (x_m + 0.07, y_m),
                        (x_m + 0.07, y_m + 3.0),
                        (x_m - 0.07, y_m + 3.0),
                    ],
                    (220, 220, 220),
                )
    return out


def _fill_ground(
    img: NDArray[np.uint8], p: NDArray[np.float64], quad_m: list, color: object
) -> None:
    pts = _project(p, np.c_[np.asarray(quad_m, np.float64), np.zeros(len(quad_m))])
    cv2.fillConvexPoly(img, np.round(pts * 16).astype(np.int32), color, cv2.LINE_AA, shift=4)


def _draw_vehicle(
    img: NDArray[np.uint8], p: NDArray[np.float64], v: SyntheticVehicle, t_s: float
) -> None:
    """Visible faces of the box: inner side, camera-side face with a window band, then the top."""
    c = _project(p, _corners_m(v, t_s))
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
    names = list(_CLASSES)
    shares = np.array([_CLASSES[n][3] for n in names])
    out: list[SyntheticVehicle] = []
    t_s = 0.0
    while rate_per_s > 0:
        t_s += float(rng.exponential(1.0 / rate_per_s))
        name = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        length_m, width_m, height_m, _, (lo, hi), colors = _CLASSES[name]
        length_m *= float(rng.uniform(0.93, 1.07))
        speed_kmh = float(rng.uniform(lo, hi))
        color = colors[int(rng.integers(len(colors)))]
        if t_s >= cfg.duration_s:
            break
        x_m = (lane + 0.5) * LANE_WIDTH_M * (-1 if direction == "down" else 1)
        x_m += float(rng.uniform(-0.3, 0.3))
        y_below_m = y_bottom_m * (CAMERA_HEIGHT_M - height_m) / CAMERA_HEIGHT_M - length_m - 0.5
        start_m, end_m = y_top_m + 0.5, y_below_m
        if direction == "up":
            start_m, end_m = end_m, start_m
        travel_s = abs(end_m - start_m) / (speed_kmh / 3.6)
        v = SyntheticVehicle(
            0,
            name,
            lane,
            direction,
            round(speed_kmh, 2),
            round(length_m, 3),
            width_m,
            t_s,
            height_m,
            x_m,
            start_m,
            t_s + travel_s,
            color,
        )
        while out and not _keeps_clear(out[-1], v):
            v = replace(v, spawn_s=v.spawn_s + 0.05, exit_s=v.exit_s + 0.05)
        t_s = v.spawn_s
        if t_s < cfg.duration_s:
            out.append(v)
    return out


def _keeps_clear(lead: SyntheticVehicle, follow: SyntheticVehicle) -> bool:
    """Gap constraint at both ends of the common time span (it is linear in time)."""
    t0, t1 = follow.spawn_s, min(lead.exit_s, follow.exit_s)
    worst_m = max(_lane_overlap_m(lead, follow, t0), _lane_overlap_m(lead, follow, t1))
    return t1 <= t0 or worst_m <= 0


def _build_ground_truth(cfg: SyntheticSceneConfig, p: NDArray[np.float64]) -> SceneGroundTruth:
    hom = p[:, [0, 1, 3]]
    line_y_px = round(_LINE_FRACTION * cfg.height_px, 1)
    partial = SceneGroundTruth((), tuple(map(tuple, hom.tolist())), ((0.0, 0.0), (0.0, 0.0)))
    y_top_m, y_bottom_m = partial.ground_y_at_row_m(0.0), partial.ground_y_at_row_m(cfg.height_px)
    y_line_m = partial.ground_y_at_row_m(line_y_px)
    half_m = cfg.lanes_per_direction * LANE_WIDTH_M + 0.5
    xs = _project(p, np.array([[-half_m, y_line_m, 0.0], [half_m, y_line_m, 0.0]]))[:, 0]
    line = (
        (round(max(float(xs[0]), 0.0), 1), float(line_y_px)),
        (round(min(float(xs[1]), float(cfg.width_px)), 1), float(line_y_px)),
    )
    vehicles: list[SyntheticVehicle] = []
    for direction in ("down", "up"):
        for lane in range(cfg.lanes_per_direction):
            vehicles += _spawn_lane(
                cfg,
                lane,
                direction,  # type: ignore[arg-type]
                y_top_m,
                y_bottom_m,
            )
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
        self._p = _camera_matrix(config.width_px, config.height_px)
        self.ground_truth = _build_ground_truth(config, self._p)
        self._background = _draw_background(config, self._p)
        self._index = 0
        logger.debug(
            "synthetic scene %s: %d vehicles, %d frames",
            config.id,
            len(self.ground_truth.vehicles),
            self.ground_truth.n_frames,
        )

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
        out = img.astype(np.float32) * np.float32(gain) + noise * np.float32(cfg.noise_sigma)
        image = np.clip(out, 0, 255).astype(np.uint8)
        return Frame(self.source_id, index, t_s, EPOCH_S + t_s, image, fps=cfg.fps)
