"""Box kernels: pairwise IoU and greedy non-maximum suppression (pybind11 C++, GIL released).

Boxes are (x1, y1, x2, y2) pixel corners. Widths and heights are clamped at zero, so a degenerate
box has zero area; IoU = intersection / union, and 0 when the union is 0. Coordinates must be
finite. ``nms`` groups boxes by an optional integer ``group_id``: boxes only suppress boxes of
the same group, so class ids give class-aware NMS and any other grouping (for example, every
vehicle class in one group) works the same way.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["box_iou", "nms"]

_register("box_iou", "pybind11 C++", "_native")
_register("nms", "pybind11 C++", "_native")


def _as_boxes(name: str, value: NDArray) -> NDArray[np.float32]:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
    if arr.size == 0 and arr.ndim <= 2:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def box_iou(a_xyxy: NDArray, b_xyxy: NDArray) -> NDArray[np.float32]:
    """IoU of every box in ``a_xyxy`` with every box in ``b_xyxy``.

    Args:
        a_xyxy: (N, 4) real-valued boxes (coerced to float32).
        b_xyxy: (M, 4) real-valued boxes (coerced to float32).

    Returns:
        (N, M) float32 IoU matrix in [0, 1].

    Raises:
        ValueError: wrong dtype or shape.
    """
    a = _as_boxes("a_xyxy", a_xyxy)
    b = _as_boxes("b_xyxy", b_xyxy)
    return _require("_native").box_iou(a, b)


def check_nms_settings(iou_threshold: float, max_det: int) -> None:
    """``iou_threshold`` in [0, 1] and ``max_det`` a positive integer, or ``ValueError``."""
    if not isinstance(iou_threshold, numbers.Real) or not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be a number in [0, 1], got {iou_threshold!r}")
    if isinstance(max_det, bool) or not isinstance(max_det, (int, np.integer)) or max_det < 1:
        raise ValueError(f"max_det must be a positive integer, got {max_det!r}")


def as_int32_groups(name: str, groups: NDArray, n: int) -> NDArray[np.int32]:
    """``groups`` as a contiguous (n,) int32 array, or ``ValueError`` naming ``name``."""
    g = np.asarray(groups)
    if g.dtype.kind not in "iu" or g.shape != (n,):
        raise ValueError(
            f"{name} must be an integer array of shape ({n},), got {g.dtype} {g.shape}"
        )
    if g.size and (g.min() < np.iinfo(np.int32).min or g.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name} values must fit in int32")
    return np.ascontiguousarray(g, dtype=np.int32)


def _check_nms_args(
    xyxy: NDArray, scores: NDArray, iou_threshold: float, group_id: NDArray | None, max_det: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32] | None]:
    boxes = _as_boxes("xyxy", xyxy)
    n = boxes.shape[0]
    s = np.asarray(scores)
    if s.dtype.kind not in "fiu" or s.shape != (n,):
        raise ValueError(
            f"scores must be a real-valued array of shape ({n},), got {s.dtype} {s.shape}"
        )
    check_nms_settings(iou_threshold, max_det)
    groups = None if group_id is None else as_int32_groups("group_id", group_id, n)
    return boxes, np.ascontiguousarray(s, dtype=np.float32), groups


def nms(
    xyxy: NDArray,
    scores: NDArray,
    iou_threshold: float,
    *,
    group_id: NDArray[np.int32] | None = None,
    max_det: int = 300,
) -> NDArray[np.int64]:
    """Greedy non-maximum suppression, optionally within groups.

    Boxes are visited by descending score (ties: lower index first). A box is kept unless its IoU
    with an already kept box of the same group is greater than ``iou_threshold``. Boxes with a NaN
    score are never kept. Stops after ``max_det`` kept boxes.

    Args:
        xyxy: (N, 4) real-valued boxes (coerced to float32).
        scores: (N,) real-valued scores (coerced to float32).
        iou_threshold: in [0, 1].
        group_id: (N,) integer group of each box (class ids for class-aware NMS); None puts every
            box in one group (class-agnostic).
        max_det: positive maximum number of kept boxes.

    Returns:
        (K,) int64 indices into ``xyxy`` of the kept boxes, by descending score.

    Raises:
        ValueError: wrong dtype or shape, threshold outside [0, 1], max_det < 1.
    """
    boxes, s, groups = _check_nms_args(xyxy, scores, iou_threshold, group_id, max_det)
    return _require("_native").nms(boxes, s, float(iou_threshold), groups, int(max_det))
