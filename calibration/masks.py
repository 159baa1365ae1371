"""A source's exclusion masks, sky mask and per-column bearing, from its calibration record or YAML.

Exclusion masks are polygons (pixels) where a camera's detections mean nothing: a row of parked
cars, a billboard, a chimney. ``SourceMasks`` gathers one source's exclusion polygons, its sky
polygon (forest cameras) and its azimuth calibration; the site builds it with ``of_record`` (a
record's non-empty masks replace the site YAML's ``exclusion_masks``, as its lines and zones do).
``ExclusionFilter`` drops the traffic detections whose anchor lies in a mask before tracking; the
fire monitor's scene takes the sky, the exclusions and the bearing (``vision/fire/scene.py``).

Polygons refer to the image they were drawn on (the record's ``image_size_px``; YAML polygons are in
frame pixels) and are scaled to the frame size when it differs. A mask is rasterised once per frame
size (``cv2.fillPoly`` with sub-pixel vertices) into an (H, W) bool image, so testing N anchors is
one NumPy fancy-index lookup, with no Python loop per box.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field, FiniteFloat

from carbonedge.calibration.errors import CalibrationInputError
from carbonedge.calibration.intrinsics import Azimuth, Intrinsics
from carbonedge.runtime.base.types import Anchor, Detections

logger = logging.getLogger(__name__)

__all__ = ["ExclusionFilter", "MaskPolygon", "SourceMasks", "counting_anchor", "rasterize"]

MaskPolygon = Annotated[list[tuple[FiniteFloat, FiniteFloat]], Field(min_length=3)]
"""A polygon in pixels, as the site YAML and the calibration record give it: [[x, y], ...]."""

Polygon = Sequence[Sequence[float]]
_SHIFT = 4  # fillPoly fractional bits: vertices to 1/16 px


def rasterize(
    polygons: Sequence[Polygon],
    shape_hw: tuple[int, int],
    drawn_size_px: tuple[int, int] | None = None,
    *,
    what: str = "mask",
) -> NDArray[np.bool_]:
    """(H, W) bool image, True on the pixels any of ``polygons`` covers (OpenCV's ``fillPoly``:
    boundary pixels included, so a mask errs by at most one pixel toward masking).

    ``drawn_size_px`` (width, height) is the image the polygons were drawn on; they are scaled to
    ``shape_hw`` when it differs (None: already frame pixels). ``what`` names the field in errors.
    """
    h, w = shape_hw
    out = np.zeros((h, w), np.uint8)
    sx, sy = (1.0, 1.0) if drawn_size_px is None else (w / drawn_size_px[0], h / drawn_size_px[1])
    scaled = []
    for i, polygon in enumerate(polygons):
        pts = _check_polygon(polygon, f"{what}[{i}]")
        # pixel (c, r) covers [c, c+1): its centre is (c + 0.5, r + 0.5); fillPoly fills by centres
        # at integer coordinates, hence the half-pixel shift
        fixed = np.round((pts * (sx, sy) - 0.5) * (1 << _SHIFT)).astype(np.int32)
        scaled.append(fixed.reshape(-1, 1, 2))
    if scaled:
        cv2.fillPoly(out, scaled, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return out.astype(np.bool_)


def _check_polygon(polygon: Polygon, what: str) -> NDArray[np.float64]:
    """(V, 2) float64 vertices; ``CalibrationInputError`` naming ``what`` unless a polygon."""
    try:
        pts = np.asarray(polygon, np.float64)
    except (TypeError, ValueError):
        raise CalibrationInputError(f"{what}: not a list of [x, y] vertices") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise CalibrationInputError(
            f"{what}: a polygon needs at least 3 [x, y] vertices (got shape {pts.shape})"
        )
    if not np.isfinite(pts).all():
        raise CalibrationInputError(f"{what}: vertices must be finite numbers")
    return pts


def lookup(mask: NDArray[np.bool_], points_xy: NDArray) -> NDArray[np.bool_]:
    """(N,) bool: whether each (N, 2) pixel point lies on a True pixel of the (H, W) ``mask``.

    A point outside the frame takes the nearest edge pixel (a box ending on the border has its
    bottom-centre at y = H)."""
    h, w = mask.shape
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    cols = np.clip(np.floor(pts[:, 0]), 0, w - 1).astype(np.intp)
    rows = np.clip(np.floor(pts[:, 1]), 0, h - 1).astype(np.intp)
    return mask[rows, cols]


def counting_anchor(lines: Sequence[Any], zones: Sequence[Any]) -> Anchor:
    """The anchor the source counts with: the one all its lines and zones share, else
    bottom-centre."""
    anchors = {item.anchor for item in (*lines, *zones)}
    return anchors.pop() if len(anchors) == 1 else "bottom_center"


@dataclass(frozen=True)
class SourceMasks:
    """One source's calibrated masks and bearing (see the module docstring).

    Attributes:
        exclusion_px: polygons where detections are ignored.
        exclusion_size_px: (width, height) they were drawn on; None: frame pixels.
        sky_px: the sky region of a forest camera (replaces the automatic horizon), or None.
        azimuth / intrinsics: bearing per column (undistorted first when intrinsics are known).
        image_size_px: (width, height) of the record's image (sky, azimuth); None: frame pixels.
        origin: where the masks come from, for logs ("road@v3", "site config").
    """

    exclusion_px: tuple[Polygon, ...] = ()
    exclusion_size_px: tuple[int, int] | None = None
    sky_px: Polygon | None = None
    azimuth: Azimuth | None = None
    intrinsics: Intrinsics | None = None
    image_size_px: tuple[int, int] | None = None
    origin: str = "site config"

    def __post_init__(self) -> None:  # a bad polygon fails when the source starts, not per frame
        for i, polygon in enumerate(self.exclusion_px):
            _check_polygon(polygon, f"{self.origin}: exclusion_masks_px[{i}]")
        if self.sky_px is not None:
            _check_polygon(self.sky_px, f"{self.origin}: sky_mask_px")

    @classmethod
    def of_record(cls, record: Any, exclusion_masks_px: Sequence[Polygon] = ()) -> SourceMasks:
        """The masks in force: the record's (a ``CalibrationRecord`` or None) where it has them,
        else the site YAML's ``exclusion_masks_px``; sky and azimuth come only from the record."""
        if record is None:
            return cls(tuple(exclusion_masks_px))
        size = tuple(record.image_size_px) if record.image_size_px else None
        intrinsics = Intrinsics.from_dict(record.intrinsics) if record.intrinsics else None
        if size is None and intrinsics is not None:
            size = tuple(intrinsics.image_size_px)
        own = tuple(record.exclusion_masks_px)
        return cls(
            exclusion_px=own or tuple(exclusion_masks_px),
            exclusion_size_px=size if own else None,
            sky_px=record.sky_mask_px,
            azimuth=Azimuth.from_dict(record.azimuth) if record.azimuth else None,
            intrinsics=intrinsics,
            image_size_px=size,  # type: ignore[arg-type]
            origin=record.record_id,
        )

    @property
    def empty(self) -> bool:
        return not self.exclusion_px and self.sky_px is None and self.azimuth is None

    def exclusion(self, shape_hw: tuple[int, int]) -> NDArray[np.bool_] | None:
        """(H, W) bool, True in an exclusion mask; None without masks."""
        if not self.exclusion_px:
            return None
        what = f"{self.origin}: exclusion_masks_px"
        return rasterize(self.exclusion_px, shape_hw, self.exclusion_size_px, what=what)

    def sky(self, shape_hw: tuple[int, int]) -> NDArray[np.bool_] | None:
        """(H, W) bool, True in the technician's sky polygon; None without one."""
        if self.sky_px is None:
            return None
        what = f"{self.origin}: sky_mask_px"
        return rasterize([self.sky_px], shape_hw, self.image_size_px, what=what)

    def bearing_deg(self, x_px: float, y_px: float, shape_hw: tuple[int, int]) -> float | None:
        """Compass bearing in [0, 360) of frame pixel (x, y) from the azimuth calibration (per
        column, through the lens model when intrinsics are known); None without one."""
        if self.azimuth is None:
            return None
        h, w = shape_hw
        if self.image_size_px is not None:
            x_px, y_px = x_px * self.image_size_px[0] / w, y_px * self.image_size_px[1] / h
        if self.intrinsics is not None:
            x_px = float(self.intrinsics.undistort_px(np.array([[x_px, y_px]]))[0, 0])
        return float(self.azimuth.azimuth_deg(x_px))


class ExclusionFilter:
    """Drops detections whose anchor lies in a source's exclusion masks (before tracking).

    The mask raster is rebuilt only when the frame size changes; ``dropped`` counts the
    detections removed so far."""

    def __init__(self, masks: SourceMasks, anchor: Anchor = "bottom_center") -> None:
        self.masks = masks
        self.anchor: Anchor = anchor
        self.dropped = 0
        self._shape_hw: tuple[int, int] | None = None
        self._mask: NDArray[np.bool_] | None = None

    def mask(self, shape_hw: tuple[int, int]) -> NDArray[np.bool_] | None:
        if shape_hw != self._shape_hw:
            self._mask = self.masks.exclusion(shape_hw)
            self._shape_hw = shape_hw
            if self._mask is not None:
                logger.info(
                    "exclusion masks of %s: %d polygons, %.1f %% of the %dx%d frame",
                    self.masks.origin, len(self.masks.exclusion_px), 100 * self._mask.mean(),
                    shape_hw[1], shape_hw[0],
                )  # fmt: skip
        return self._mask

    def keep(self, detections: Detections, shape_hw: tuple[int, int]) -> Detections:
        """``detections`` without the rows whose anchor is masked (all columns sliced together)."""
        mask = self.mask(shape_hw)
        if mask is None or len(detections) == 0:
            return detections
        masked = lookup(mask, detections.anchors_xy(self.anchor))
        n = int(masked.sum())
        if n == 0:
            return detections
        self.dropped += n
        return detections[~masked]
