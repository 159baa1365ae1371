"""Zoom windows: the counting lines where road users are small, seen again at a higher zoom.

A COCO detector at 416 px finds a car 8-12 px tall in its input about half the time; the same car
three times larger almost always. Slices (``slices.py``) enlarge the whole picture at one model run
per slice; a camera's counts only need the pixels around its lines and zones. So each region
(line or zone) where the road users stand small gets windows of 1/``factor`` of the frame's
width and height, centred along it, each run through the model at its full input size (the
window's aspect is the frame's, so nothing is stretched more than in the whole-frame pass), and
their boxes are merged with the whole-frame pass's like slices (grouped NMS, then intersection
over the smaller box, ``slices.merge_passes``: of one road user seen twice the better score
wins; a small far car scores higher zoomed; two boxes of the same pass are never merged).
Three kinds of zoomed box are left out first: one touching a window's inner edge (a road user the
window cuts; SAHI does the same), one whose centre is nearer another window's centre (each road
user comes from one window, the one that sees it nearest its middle: ``in_own_cell``), and one that
is a part of a large road user the whole pass boxed (mostly inside a whole-pass box of twice its
area and half a window tall: a bus's windscreen seen as a car must not replace the bus,
``part_of_whole``).

Which regions: ``zoom: {mode: auto}`` (the default) zooms every region of a new camera until
``learn_tracks`` tracks were seen at it (``learn_zoomed: false``: none while learning), then
keeps zooming only where their median box height in the model's input (frame px times the
whole-frame pass's scale) is under ``below_px``; a region nobody has crossed yet stays as it
started. ``mode: on`` zooms every region, ``off`` none.
The zoom stage (``runtime/stages/zoom.py``) keeps that per camera; the detector stays
stateless and takes the windows with each frame (``Detector.detect(frame, roi, zoom_xyxy)``).
Cost: one model run per window on the frames the detector runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from carbonedge.kernels.geometry import intersection_over_area
from carbonedge.runtime.base.model import StrictModel

__all__ = [
    "ZoomConfig",
    "cut_by_window",
    "in_own_cell",
    "part_of_whole",
    "region_windows",
    "zoom_windows",
]

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 frame px, x1/y1 exclusive


class ZoomConfig(StrictModel):
    """``zoom:`` on an ONNX detector: extra model runs on windows around small-road-user lines."""

    mode: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: zoom the lines and zones where road users stand under below_px in "
        "the model input (every one until learn_tracks tracks were seen there); on: every "
        "line and zone; off: none",
    )
    factor: float = Field(
        3.0, ge=1.5, le=8.0,
        description="a window is 1/factor of the frame's width and height, run at the model's "
        "full input: road users there look factor times larger than in the whole-frame pass",
    )  # fmt: skip
    below_px: float = Field(
        32.0,
        gt=0,
        le=1000,
        description="auto: a line or zone stays zoomed while the median height of the tracks "
        "seen at it is under this many px of the model input",
    )
    learn_tracks: int = Field(
        8, ge=1, le=1000, description="auto: tracks seen at a line or zone before it is decided"
    )
    learn_zoomed: bool = Field(
        True,
        description="auto: zoom every line and zone while it is learning (found small road "
        "users from the start, at one model run per window); False: the whole-frame pass "
        "alone until it is decided",
    )
    max_windows: int = Field(
        4, ge=1, le=16, description="windows per camera at most (one model run each per frame)"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        """``zoom: off`` / ``on`` / ``auto`` (YAML's bare off/on arrive as booleans)."""
        if isinstance(data, bool):
            return {"mode": "on" if data else "off"}
        if isinstance(data, str):
            return {"mode": data.lower()}
        return data


def region_windows(
    region_px: NDArray, frame_hw: tuple[int, int], factor: float, overlap: float = 0.2
) -> list[Window]:
    """Windows of 1/``factor`` of the frame covering ``region_px`` ((K, 2) x, y px: a line's
    two ends, a zone's outline), centred at even steps along it so that neighbours overlap by
    at least ``overlap`` of a window, each moved inside the frame."""
    h, w = frame_hw
    ww, wh = max(1, round(w / factor)), max(1, round(h / factor))
    pts = np.asarray(region_px, np.float64).reshape(-1, 2)
    span_x, span_y = (float(v) for v in np.ptp(pts, axis=0))
    step = 1.0 - overlap
    if len(pts) >= 3:  # a zone: a grid over its bounding box
        nx = max(1, math.ceil(span_x / (ww * step)))
        ny = max(1, math.ceil(span_y / (wh * step)))
        x0, y0 = pts.min(axis=0)
        centres = [(x0 + (i + 0.5) * span_x / nx, y0 + (j + 0.5) * span_y / ny)
                   for j in range(ny) for i in range(nx)]  # fmt: skip
    else:  # a line: even steps along its length
        n = max(1, math.ceil(max(span_x / (ww * step), span_y / (wh * step))))
        a, b = pts[0], pts[-1]
        centres = [tuple(a + (b - a) * (i + 0.5) / n) for i in range(n)]
    out = []
    for cx, cy in centres:
        x0 = int(round(min(max(0.0, cx - ww / 2), w - ww)))
        y0 = int(round(min(max(0.0, cy - wh / 2), h - wh)))
        out.append((x0, y0, x0 + ww, y0 + wh))
    return out


def zoom_windows(
    regions_px: Sequence[NDArray], frame_hw: tuple[int, int], factor: float, max_windows: int
) -> list[Window]:
    """The windows of every region in ``regions_px``; a window lying mostly (70 %) inside one
    already kept is left out, and at most ``max_windows`` are kept (the first regions' first)."""
    kept: list[Window] = []
    for region in regions_px:
        for win in region_windows(region, frame_hw, factor):
            if len(kept) >= max_windows:
                return kept
            if all(_inside_share(win, other) < 0.7 for other in kept):
                kept.append(win)
    return kept


def _inside_share(a: Window, b: Window) -> float:
    """Share of ``a``'s area inside ``b``."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1, (a[2] - a[0]) * (a[3] - a[1]))


def cut_by_window(
    xyxy: NDArray[np.float32], window: Window, frame_hw: tuple[int, int], edge_px: float = 2.0
) -> NDArray[np.bool_]:
    """(N,) True where a box (window px) touches an edge of ``window`` that is not the frame's:
    a road user the window cuts (the whole-frame pass sees it whole)."""
    x0, y0, x1, y1 = window
    h, w = frame_hw
    cut = np.zeros(len(xyxy), np.bool_)
    if x0 > 0:
        cut |= xyxy[:, 0] <= edge_px
    if y0 > 0:
        cut |= xyxy[:, 1] <= edge_px
    if x1 < w:
        cut |= xyxy[:, 2] >= (x1 - x0) - edge_px
    if y1 < h:
        cut |= xyxy[:, 3] >= (y1 - y0) - edge_px
    return cut


def in_own_cell(xyxy: NDArray[np.float32], k: int, windows: Sequence[Window]) -> NDArray[np.bool_]:
    """(N,) True where a box (frame px) of window ``k`` has its centre nearer to window ``k``'s
    centre than to any other window's (the first on a tie): each road user is taken from the
    one window that sees it nearest its middle. Overlapping windows would otherwise box it two
    or three times, each a little differently, and the merge would pick a different one from
    frame to frame; and a detector sees worse near its input's borders."""
    if len(windows) < 2 or len(xyxy) == 0:
        return np.ones(len(xyxy), np.bool_)
    centres = np.array([((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in windows])
    box_centres = np.stack([xyxy[:, 0] + xyxy[:, 2], xyxy[:, 1] + xyxy[:, 3]], axis=1) / 2
    d2 = ((box_centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d2, axis=1) == k


#: A zoomed box with at least ``PART_INSIDE`` of its area inside a whole-pass box of its NMS
#: group that is at least ``1 / PART_AREA`` times larger and scored at least ``PART_SCORE`` of
#: its score is a part of that road user.
PART_INSIDE = 0.7
PART_AREA = 0.5
PART_SCORE = 0.5


def part_of_whole(
    zoomed: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32]],
    whole: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32]],
    window_h_px: float,
) -> NDArray[np.bool_]:
    """(N,) True for the zoomed boxes (frame px) that are a part of a large road user the
    whole-frame pass boxed (a bus's windscreen or a lorry's cab seen as a car in a window): at
    least ``PART_INSIDE`` of the box lies inside a whole-pass box of its NMS group at least
    twice its area, at least half a window (``window_h_px``) tall (a road user too large for
    the window to see whole) and scored at least ``PART_SCORE`` of the zoomed box's score.
    Those must not replace the large box, even where they score higher. ``zoomed`` and
    ``whole``: (xyxy frame px, score, NMS group) of each pass. Not parts: boxes inside a smaller
    whole-pass box (far vehicles boxed together, which the zoomed boxes may split) or a
    weak one (the road-wide boxes a low score threshold lets through)."""
    zoomed_xyxy, zoomed_score, zoomed_group = zoomed
    whole_xyxy, whole_score, whole_group = whole
    if len(zoomed_xyxy) == 0 or len(whole_xyxy) == 0:
        return np.zeros(len(zoomed_xyxy), np.bool_)
    inside = intersection_over_area(zoomed_xyxy, whole_xyxy)

    def area(xyxy: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.prod(np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None), axis=1).astype(np.float64)

    larger = area(zoomed_xyxy)[:, None] <= PART_AREA * area(whole_xyxy)[None, :]
    same = zoomed_group[:, None] == whole_group[None, :]
    large = (whole_xyxy[:, 3] - whole_xyxy[:, 1] >= 0.5 * window_h_px)[None, :]
    sure = whole_score[None, :] >= PART_SCORE * zoomed_score[:, None]
    return ((inside >= PART_INSIDE) & larger & same & large & sure).any(axis=1)
