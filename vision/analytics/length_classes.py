"""Vehicle classes from length in metres, for detectors that see "a vehicle" but not its kind.

The weight-free motion detector finds moving blobs; with a ground-plane calibration their size in
metres separates motorcycles, cars, vans and buses/trucks, so the weight-free path still feeds the
emission estimate by class.

A box's bottom edge is where the vehicle meets the road; its top edge is the far edge of the roof,
which is *above* the road, so a plain ground projection of the box mixes length and height. The
camera (focal length, orientation, mounting height) is recovered from the homography
(:func:`~carbonedge.calibration.ground_plane.camera_from_homography`), and each class is tested as a
hypothesis: with that class's typical roof height, the ray through the top edge meets the roof
plane at the far end, which gives the length the box implies for the class. The class whose
implied length falls inside its own length range wins (the nearest range when none or several
do, measured in relative terms).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.calibration.ground_plane import GroundPlane, camera_from_homography
from carbonedge.runtime.base.types import Detections

__all__ = ["LENGTH_CLASSES", "LengthClassConfig", "LengthClassifier"]

LENGTH_CLASSES = ("motorcycle", "car", "van", "bus_or_truck")


class LengthClassConfig(BaseModel):
    """Length ranges (metres) and typical roof heights (metres) of the four classes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_length_m: tuple[float, float, float] = Field(
        (3.0, 5.0, 7.5), description="upper length of motorcycle, car, van; longer: bus/truck"
    )
    height_m: tuple[float, float, float, float] = (1.4, 1.5, 2.3, 3.3)
    max_bus_length_m: float = 20.0


class LengthClassifier:
    """Sets ``class_id`` (index into ``LENGTH_CLASSES``) from each box's implied length."""

    class_names = LENGTH_CLASSES

    def __init__(
        self,
        ground_plane: GroundPlane,
        image_size_px: tuple[int, int],
        config: LengthClassConfig | None = None,
    ) -> None:
        self.config = config or LengthClassConfig()
        self.ground_plane = ground_plane
        f, rot, centre = camera_from_homography(ground_plane.world_to_image, image_size_px)
        w, h = image_size_px
        self._k_inv = np.linalg.inv(np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1.0]]))
        self._rot_t = rot.T  # camera -> world directions
        self.camera_centre_m = centre
        lo = (1.0, *self.config.max_length_m)
        hi = (*self.config.max_length_m, self.config.max_bus_length_m)
        self._lo, self._hi = np.asarray(lo), np.asarray(hi)
        self._heights = np.asarray(self.config.height_m)

    def implied_lengths_m(self, xyxy: NDArray) -> NDArray[np.float64]:
        """(N, 4) boxes -> (N, 4) length in metres each class's roof height implies."""
        b = np.asarray(xyxy, np.float64).reshape(-1, 4)
        cx = (b[:, 0] + b[:, 2]) * 0.5
        near = self.ground_plane.to_world(np.stack([cx, b[:, 3]], axis=1))  # (N, 2) on the road
        pix = np.stack([cx, b[:, 1], np.ones(len(b))], axis=1)
        ray = pix @ (self._rot_t @ self._k_inv).T  # (N, 3) world directions through the top edge
        c = self.camera_centre_m
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (self._heights[None, :] - c[2]) / ray[:, 2:3]  # (N, 4) ray parameter at roof
            far_x = c[0] + s * ray[:, 0:1]
            far_y = c[1] + s * ray[:, 1:2]
        lengths = np.hypot(far_x - near[:, 0:1], far_y - near[:, 1:2])
        lengths[~(s > 0)] = np.nan  # the ray never reaches that roof height: impossible class
        return lengths

    def classify(self, detections: Detections) -> Detections:
        """A copy of ``detections`` with ``class_id`` set to the best length class."""
        out = detections[np.arange(len(detections))]
        if len(out) == 0:
            return out
        lengths = self.implied_lengths_m(out.xyxy)
        # relative distance outside each class's range (0 inside it)
        below = np.maximum(self._lo[None, :] - lengths, 0.0) / self._lo[None, :]
        above = np.maximum(lengths - self._hi[None, :], 0.0) / self._hi[None, :]
        miss = np.nan_to_num(below + above, nan=np.inf)
        # several ranges fit: prefer the one whose centre is closest (relative)
        centre = (self._lo + self._hi) * 0.5
        closeness = np.abs(lengths - centre[None, :]) / centre[None, :]
        score = miss * 1e3 + np.nan_to_num(closeness, nan=np.inf)
        out.class_id = np.argmin(score, axis=1).astype(np.int32)
        return out
