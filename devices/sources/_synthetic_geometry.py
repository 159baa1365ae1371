"""Camera and ground-truth geometry of the synthetic road scene (private to ``synthetic``).

A pinhole camera ``CAMERA_HEIGHT_M`` above the centre of a straight road looks along it, pitched
23 degrees down. World coordinates on the ground plane: ``X`` metres across the road (right > 0),
``Y`` metres along it from the camera's foot, ``Z`` up. Vehicles are boxes moving at constant speed
along ``Y``; image rows depend on ``Y`` and ``Z`` only (the camera has no roll).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["CAMERA_HEIGHT_M", "LANE_WIDTH_M", "SceneGroundTruth", "SyntheticVehicle"]

LANE_WIDTH_M = 3.5
CAMERA_HEIGHT_M = 12.0
_PITCH_RAD = math.radians(23.0)
_FOCAL_PER_HEIGHT = 1.95  # focal length in px per image height px (about 50 deg vertical FOV)
_GAP_M = 2.0  # minimum ground gap between the image extents of two vehicles in one lane


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
        return project(np.asarray(self.projection_world_to_image), corners_m(vehicle, t_s))

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


def camera_matrix(width_px: int, height_px: int) -> NDArray[np.float64]:
    """(3, 4) float64 projection (X, Y, Z, 1) metres -> homogeneous image px of the road camera."""
    f = _FOCAL_PER_HEIGHT * height_px
    k = np.array([[f, 0, width_px / 2], [0, f, height_px / 2], [0, 0, 1]])
    s, c = math.sin(_PITCH_RAD), math.cos(_PITCH_RAD)
    r = np.array([[1.0, 0, 0], [0, -s, -c], [0, c, -s]])  # rows: camera x (right), y (down), z
    t = -r @ np.array([0.0, 0.0, CAMERA_HEIGHT_M])
    return k @ np.hstack([r, t[:, None]])


def project(p: NDArray[np.float64], points_m: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 3) float64 world points in metres -> (N, 2) float64 image px through the (3, 4) ``p``."""
    q = np.hstack([points_m, np.ones((len(points_m), 1))]) @ p.T
    return q[:, :2] / q[:, 2:3]


def corners_m(v: SyntheticVehicle, t_s: float) -> NDArray[np.float64]:
    """(8, 3) float64 corners in metres: bottom then top, each near-left, near-right, far-right,
    far-left."""
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


def keeps_clear(lead: SyntheticVehicle, follow: SyntheticVehicle) -> bool:
    """Whether ``follow`` never comes within ``_GAP_M`` of ``lead`` (same lane) in the image.

    Checked at both ends of the common time span (the overlap is linear in time).
    """
    t0, t1 = follow.spawn_s, min(lead.exit_s, follow.exit_s)
    worst_m = max(_lane_overlap_m(lead, follow, t0), _lane_overlap_m(lead, follow, t1))
    return t1 <= t0 or worst_m <= 0
