"""NumPy reference of the GFL head decoder (PicoDet, NanoDet); no validation.

Vectorised over all anchors of all levels: best allowed class by ``argmax`` over masked scores,
threshold (in float32), then for every kept anchor a softmax over the bins of each side (float64),
its expectation times the stride from the cell centre, back through the letterbox, clipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels._ref_boxes import nms
from carbonedge.kernels.preprocess import LetterboxInfo

__all__ = ["decode_gfl", "decode_nms_gfl"]

DecodeResult = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32], NDArray[np.int32]]


def _centres(input_hw: tuple[int, int], strides: Sequence[int]) -> tuple[NDArray, NDArray]:
    """(A, 2) float64 cell centres in input px and (A,) float64 stride, levels in order."""
    centres, steps = [], []
    for s in strides:
        gh, gw = -(-input_hw[0] // s), -(-input_hw[1] // s)  # ceil: a partial cell counts
        gy, gx = np.mgrid[0:gh, 0:gw]
        centres.append((np.stack([gx.ravel(), gy.ravel()], axis=1) + 0.5) * s)
        steps.append(np.full(gh * gw, float(s)))
    return np.concatenate(centres), np.concatenate(steps)


def decode_gfl(
    cls_scores: Sequence[NDArray[np.float32]],
    box_dists: Sequence[NDArray[np.float32]],
    input_hw: tuple[int, int],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    *,
    score_threshold: float,
    class_mask: NDArray[np.bool_] | None = None,
    strides: tuple[int, ...] = (8, 16, 32, 64),
) -> DecodeResult:
    """NumPy reference: ``(xyxy, score, class_id, row)``."""
    scores = np.concatenate([np.asarray(c, np.float32).reshape(-1, np.shape(c)[-1])
                             for c in cls_scores])  # fmt: skip
    dists = np.concatenate([np.asarray(d, np.float64).reshape(-1, np.shape(d)[-1])
                            for d in box_dists])  # fmt: skip
    if class_mask is not None:
        scores = np.where(class_mask[None, :], scores, np.float32(-np.inf))
    best = np.argmax(scores, axis=1).astype(np.int32)
    score = np.take_along_axis(scores, best[:, None].astype(np.intp), axis=1)[:, 0]
    keep = score >= np.float32(score_threshold)
    rows = np.flatnonzero(keep).astype(np.int32)
    logits = dists[rows].reshape(len(rows), 4, dists.shape[1] // 4)
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    bins = np.arange(logits.shape[2], dtype=np.float64)
    distance = (p * bins).sum(axis=2) / p.sum(axis=2)  # (K, 4): left, top, right, bottom
    centre, step = _centres(input_hw, strides)
    distance *= step[rows, None]
    xyxy = np.concatenate([centre[rows] - distance[:, :2], centre[rows] + distance[:, 2:]], axis=1)
    offset = np.array([letterbox.pad_x_px, letterbox.pad_y_px] * 2)
    scale = np.array([letterbox.scale_x, letterbox.scale_y] * 2)
    h, w = image_hw
    xyxy = np.clip((xyxy - offset) / scale, 0, np.array([w, h, w, h], np.float64))
    return xyxy.astype(np.float32), score[rows], best[rows], rows


def decode_nms_gfl(
    cls_scores: Sequence[NDArray[np.float32]],
    box_dists: Sequence[NDArray[np.float32]],
    input_hw: tuple[int, int],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    *,
    score_threshold: float,
    iou_threshold: float,
    group_of_class: NDArray[np.integer] | None = None,
    class_mask: NDArray[np.bool_] | None = None,
    strides: tuple[int, ...] = (8, 16, 32, 64),
    max_det: int = 300,
) -> DecodeResult:
    """NumPy reference: decode every anchor, then grouped NMS."""
    xyxy, score, cls, rows = decode_gfl(
        cls_scores, box_dists, input_hw, letterbox, image_hw, score_threshold=score_threshold,
        class_mask=class_mask, strides=strides,
    )  # fmt: skip
    groups = None if group_of_class is None else np.asarray(group_of_class)[cls]
    keep = nms(xyxy, score, iou_threshold, group_id=groups, max_det=max_det)
    return xyxy[keep], score[keep], cls[keep], rows[keep]
