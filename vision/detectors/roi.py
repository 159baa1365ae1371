"""Region of interest: run the detector only on the part of the frame that the analytics use.

A counting line or zone covers a band of the image; vehicles elsewhere are never counted. Cropping
to that band (plus a margin, so a vehicle is seen whole for a few frames before and after it
crosses) and letterboxing the crop into a smaller model input cuts the model time roughly in
proportion to the input area. Boxes come back in crop pixels and are shifted by the crop's corner,
so the rest of the pipeline only ever sees full-frame pixels.

Config (on the YOLO-family detectors): ``roi: auto`` (bounding box of the source's lines and
zones, grown by ``roi_margin_px``: one value or [left, top, right, bottom]) or
``roi: [x0, y0, x1, y1]`` in full-frame px. The box then grows towards the model input's aspect
ratio (``fit_aspect``) so the letterbox fills the input with picture rather than padding.

Who does what: the detector turns its config and a camera's lines/zones into the box
(``Detector.roi_box``, pure) and crops, runs and shifts in ``Detector.detect(frame, roi_xyxy)``;
the ROI stage (``runtime/stages/roi.py``) keeps the box per camera and frame size and hands it
to the detector on ``Packet.roi_xyxy``. The detector itself keeps no per-camera state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from carbonedge.vision.analytics.zones import points_in_polygon

RoiBox = tuple[int, int, int, int]  # x0, y0, x1, y1 px, x1/y1 exclusive


def check_roi_box(box: Sequence[float]) -> RoiBox:
    """``box`` as four ints with 0 <= x0 < x1 and 0 <= y0 < y1, or ``ValueError`` saying why."""
    if len(box) != 4:
        raise ValueError(f"roi must be 'auto' or [x0, y0, x1, y1] px, got {list(box)}")
    if any(float(v) != int(v) for v in box):
        raise ValueError(f"roi corners must be whole pixels, got {list(box)}")
    x0, y0, x1, y1 = (int(v) for v in box)
    if x0 < 0 or y0 < 0:
        raise ValueError(f"roi [x0, y0, x1, y1] must not start left of or above the frame: {box}")
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"roi [x0, y0, x1, y1] needs x1 > x0 and y1 > y0, got {list(box)}")
    return x0, y0, x1, y1


def auto_roi(
    regions_px: Sequence[NDArray],
    frame_hw: tuple[int, int],
    margin_px: float | Sequence[float],
) -> RoiBox | None:
    """Bounding box of every point of ``regions_px`` (each (K, 2) x, y px), grown by
    ``margin_px`` (one value, or left, top, right, bottom) and clipped to the frame; None when
    there are no regions (the whole frame matters).

    With the counters' default ``bottom_center`` anchor a vehicle's body lies above the point
    that crosses the line, so a larger top margin keeps it whole in the crop."""
    left, top, right, bottom = (
        (margin_px,) * 4 if isinstance(margin_px, (int, float)) else tuple(margin_px)
    )
    points = [np.asarray(r, np.float64).reshape(-1, 2) for r in regions_px if np.size(r)]
    if not points:
        return None
    xy = np.concatenate(points)
    h, w = frame_hw
    x0 = max(0, math.floor(xy[:, 0].min() - left))
    y0 = max(0, math.floor(xy[:, 1].min() - top))
    x1 = min(w, math.ceil(xy[:, 0].max() + right))
    y1 = min(h, math.ceil(xy[:, 1].max() + bottom))
    if x1 <= x0 or y1 <= y0:  # regions entirely outside the frame: a calibration mistake
        raise ValueError(
            f"the lines/zones lie outside the {w}x{h} frame (bounding box "
            f"{xy.min(axis=0).tolist()}-{xy.max(axis=0).tolist()} px)"
        )
    return (x0, y0, x1, y1)


def clip_roi(box: RoiBox, frame_hw: tuple[int, int]) -> RoiBox:
    """``box`` clipped to the frame; ``ValueError`` when nothing of it is inside."""
    h, w = frame_hw
    x0, y0, x1, y1 = box
    clipped = (min(x0, w), min(y0, h), min(x1, w), min(y1, h))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise ValueError(f"roi {list(box)} lies outside the {w}x{h} frame")
    return clipped


def fit_aspect(box: RoiBox, frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> RoiBox:
    """``box`` grown (never shrunk) about its centre towards the model input's aspect ratio, as
    far as the frame allows: the letterbox then fills the input with picture, not padding."""
    h, w = frame_hw
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    target = input_hw[1] / input_hw[0]  # width / height
    if bw / bh < target:  # too narrow: widen
        x0, x1 = _grow(x0, x1, min(w, math.ceil(bh * target)), w)
    elif bw / bh > target:  # too flat: heighten
        y0, y1 = _grow(y0, y1, min(h, math.ceil(bw / target)), h)
    return (x0, y0, x1, y1)


def _grow(lo: int, hi: int, size: int, limit: int) -> tuple[int, int]:
    """[lo, hi) grown to ``size`` about its centre, shifted back inside [0, limit)."""
    extra = size - (hi - lo)
    lo -= extra // 2
    hi += extra - extra // 2
    if lo < 0:
        hi, lo = hi - lo, 0
    if hi > limit:
        lo, hi = max(0, lo - (hi - limit)), limit
    return lo, hi


def crop(image: NDArray[np.uint8], box: RoiBox) -> NDArray[np.uint8]:
    """The (y1-y0, x1-x0, 3) view of ``image`` inside ``box`` (no copy)."""
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def to_frame_xyxy(xyxy_crop: NDArray[np.float32], box: RoiBox) -> NDArray[np.float32]:
    """(N, 4) float32 boxes in crop px shifted, in place, to full-frame px; returns them."""
    xyxy_crop += np.array([box[0], box[1], box[0], box[1]], np.float32)
    return xyxy_crop


def fitted_input_hw(
    frame_hw: tuple[int, int],
    image_hw: tuple[int, int],
    base_hw: tuple[int, int],
    multiple_px: int = 32,
    stretch: bool = False,
) -> tuple[int, int]:
    """(height, width) model input for an ``image_hw`` crop of a ``frame_hw`` frame: the crop
    at the scale the WHOLE frame gets in ``base_hw`` (the model's own input), rounded up to
    ``multiple_px``, never above ``base_hw``. The crop then keeps the whole frame's pixels per
    model pixel (the accuracy of a full-frame pass), and what the crop leaves out costs no model
    time. A letterboxing model (``stretch`` False: one scale, the smaller) also stops paying for
    the padding of a whole frame of another aspect (Ultralytics' "rectangular inference"); a
    stretching one (PicoDet, DEIMv2: each axis scaled to fill the input) keeps its per-axis
    scales, so its whole frame stays at ``base_hw``."""
    sy, sx = base_hw[0] / frame_hw[0], base_hw[1] / frame_hw[1]
    if not stretch:
        sy = sx = min(sy, sx)
    h, w = (
        min(base, max(multiple_px, math.ceil(side * scale / multiple_px) * multiple_px))
        for side, scale, base in zip(image_hw, (sy, sx), base_hw, strict=True)
    )
    return h, w


def near_regions(
    xyxy: NDArray[np.float32], regions_px: Sequence[NDArray], reach: float = 1.0
) -> NDArray[np.bool_]:
    """(N,) True where a box's bottom centre (the counters' anchor) lies within ``reach`` times
    its own height of a line or zone edge of ``regions_px`` (each (K, 2) x, y px; a line is its
    polyline, a zone its closed outline), or inside a zone: the boxes that show how big
    vehicles are where they are counted."""
    n = len(xyxy)
    hit = np.zeros(n, np.bool_)
    if n == 0:
        return hit
    anchor = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1).astype(np.float64)
    reach_px = reach * np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0).astype(np.float64)
    for region in regions_px:
        pts = np.asarray(region, np.float64).reshape(-1, 2)
        if len(pts) < 2:
            continue
        closed = len(pts) >= 3
        ends = np.roll(pts, -1, axis=0) if closed else pts[1:]
        starts = pts if closed else pts[:-1]
        d = np.full(n, np.inf)
        for a, b in zip(starts, ends, strict=True):
            ab = b - a
            t = np.clip(((anchor - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
            d = np.minimum(d, np.hypot(*(anchor - (a + t[:, None] * ab)).T))
        near = d <= reach_px
        if closed:  # inside a zone
            near |= points_in_polygon(anchor, pts)
        hit |= near
    return hit


#: Margins from the vehicles seen at the lines, in multiples of their median box size: above the
#: lines twice the height (the counters anchor a box at its bottom centre, so the body lies above
#: the line, and a bus or lorry stands about twice a car's height), below and to the sides one
#: height / width (a vehicle is seen whole for a few frames before its anchor reaches a line from
#: below or from the side). The ROI stage grows a side that later cuts a vehicle.
LEARNED_MARGIN_SIZES: tuple[float, float, float, float] = (1.0, 2.0, 1.0, 1.0)  # l, t, r, b
LEARNED_MARGIN_MIN_PX = 16.0


def margins_from_boxes(xyxy: NDArray[np.float32]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) px margins around lines and zones from the (N, 4) boxes of
    vehicles seen at them (``near_regions``): ``LEARNED_MARGIN_SIZES`` times the boxes' median
    width (sides) and height (top, bottom), at least ``LEARNED_MARGIN_MIN_PX``."""
    if len(xyxy) == 0:
        raise ValueError("no vehicle boxes at the lines to derive margins from")
    w50 = float(np.median(xyxy[:, 2] - xyxy[:, 0]))
    h50 = float(np.median(xyxy[:, 3] - xyxy[:, 1]))
    kl, kt, kr, kb = LEARNED_MARGIN_SIZES
    return tuple(  # type: ignore[return-value]
        round(max(LEARNED_MARGIN_MIN_PX, k * size), 1)
        for k, size in ((kl, w50), (kt, h50), (kr, w50), (kb, h50))
    )
