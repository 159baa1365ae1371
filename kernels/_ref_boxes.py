"""NumPy references of ``box_iou`` and ``nms`` (same signatures, no validation).

``nms`` is the classic vectorised greedy loop: take the best remaining box, drop the remaining
boxes of its group that overlap it by more than the threshold, repeat.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["box_iou", "nms"]


def _area(xyxy: NDArray[np.float32]) -> NDArray[np.float32]:
    wh = np.maximum(xyxy[:, 2:4] - xyxy[:, 0:2], np.float32(0.0))
    return wh[:, 0] * wh[:, 1]


def _iou_one_to_many(
    box: NDArray[np.float32],
    area: np.float32,
    others: NDArray[np.float32],
    others_area: NDArray[np.float32],
) -> NDArray[np.float32]:
    iw = np.maximum(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0)
    ih = np.maximum(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0)
    inter = (iw * ih).astype(np.float32)
    union = (area + others_area) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, np.float32(0.0)).astype(np.float32)


def box_iou(a_xyxy: NDArray, b_xyxy: NDArray) -> NDArray[np.float32]:
    """(N, M) float32 IoU of (N, 4) and (M, 4) boxes."""
    a = np.asarray(a_xyxy, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, 0:2], b[None, :, 0:2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    wh = np.maximum(rb - lt, np.float32(0.0))
    inter = wh[..., 0] * wh[..., 1]
    union = (_area(a)[:, None] + _area(b)[None, :]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, np.float32(0.0)).astype(np.float32)


def nms(
    xyxy: NDArray,
    scores: NDArray,
    iou_threshold: float,
    *,
    group_id: NDArray[np.int32] | None = None,
    max_det: int = 300,
) -> NDArray[np.int64]:
    """(K,) int64 kept indices by descending score (ties: lower index first)."""
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32)
    groups = np.zeros(len(s), np.int64) if group_id is None else np.asarray(group_id, np.int64)
    areas = _area(boxes)
    order = np.argsort(-s, kind="stable")
    order = order[~np.isnan(s[order])]
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iou = _iou_one_to_many(boxes[i], areas[i], boxes[rest], areas[rest])
        order = rest[~((iou > np.float32(iou_threshold)) & (groups[rest] == groups[i]))]
    return np.asarray(keep, dtype=np.int64)
