"""Sliced detection (SAHI-style): small and far road users seen at more pixels per input cell.

A 416 px model input looking at a whole 640 px frame sees a car 12 px long as 8 px: below what a
COCO detector finds. Cutting the detector's image (the frame, or the ROI crop around the lines)
into ``rows x cols`` overlapping slices and running the model on each enlarges everything by about
the slice count per side; running the whole image too (``slice_full_image``) keeps the vehicles
that are larger than a slice or cut by its border. The candidates of every pass, in image pixels,
are then merged once: grouped NMS, then a box mostly inside a better-scored box of its group
(intersection over the smaller box >= ``ios_threshold``: one vehicle cut by a slice border, or
half of it seen again by the full pass) is dropped.

Cost: one model run per slice (plus the full pass); use it on the cameras that need it, or on the
ROI only (``roi: auto`` keeps the slices on the band the lines need).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import nms
from carbonedge.kernels.geometry import intersection_over_area

__all__ = ["merge_passes", "slice_boxes"]

SliceBox = tuple[int, int, int, int]  # x0, y0, x1, y1 image px, x1/y1 exclusive


def slice_boxes(image_hw: tuple[int, int], rows: int, cols: int, overlap: float) -> list[SliceBox]:
    """``rows x cols`` boxes covering an image of ``image_hw`` (height, width), neighbours
    overlapping by ``overlap`` of a slice's side; row-major, whole pixels, inside the image."""
    if rows < 1 or cols < 1 or not 0.0 <= overlap < 1.0:
        raise ValueError(f"slices need rows, cols >= 1 and 0 <= overlap < 1, got "
                         f"{rows}x{cols}, overlap {overlap}")  # fmt: skip
    h, w = image_hw

    def spans(size: int, n: int) -> list[tuple[int, int]]:
        # n spans of length L with step L * (1 - overlap) that cover [0, size)
        length = size / (n - (n - 1) * overlap)
        step = length * (1.0 - overlap)
        out = []
        for i in range(n):
            lo = int(round(i * step))
            hi = size if i == n - 1 else min(size, int(round(i * step + length)))
            out.append((lo, max(hi, lo + 1)))
        return out

    return [(x0, y0, x1, y1) for y0, y1 in spans(h, rows) for x0, x1 in spans(w, cols)]


def merge_passes(
    xyxy: NDArray[np.float32],
    score: NDArray[np.float32],
    group: NDArray[np.int32],
    *,
    iou_threshold: float,
    ios_threshold: float,
    max_det: int,
    pass_id: NDArray[np.int32] | None = None,
) -> NDArray[np.int64]:
    """Indices (best score first) kept from the candidates of several passes over one image.
    With ``pass_id`` ((N,) which pass each candidate comes from), a box is dropped for lying
    inside a better one only when the two come from different passes: two boxes of one pass
    were already told apart by that pass's NMS (a car inside a low-score box of the car and its
    shadow, or of a queue, are two candidates the tracker may need, as without the other passes)."""
    keep = nms(xyxy, score, iou_threshold, group_id=group, max_det=max(max_det, 1) * 4)
    if len(keep) < 2:
        return keep[:max_det]
    inside = intersection_over_area(xyxy[keep], xyxy[keep])
    ios = np.maximum(inside, inside.T)  # intersection over the smaller of each pair
    same = group[keep][:, None] == group[keep][None, :]
    if pass_id is not None:
        same &= pass_id[keep][:, None] != pass_id[keep][None, :]
    dropped = np.zeros(len(keep), np.bool_)
    for i in range(len(keep)):  # keep is in descending score order
        if dropped[i]:
            continue
        later = np.arange(len(keep)) > i
        dropped |= later & same[i] & (ios[i] >= ios_threshold)
    return keep[~dropped][:max_det]
