"""NumPy references of the YOLO decoders and of the fused YOLOX decode + NMS (no validation).

Vectorised over all anchors: best allowed class by ``argmax`` over masked scores, threshold
(in float32), box maths in float32, map back through the letterbox and clip to the image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels._ref_boxes import nms
from carbonedge.kernels.preprocess import LetterboxInfo

__all__ = ["decode_nms_yolox", "decode_yolox", "decode_yolo_v8"]

DecodeResult = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32], NDArray[np.int32]]


def _best(cls_scores: NDArray[np.float32], class_mask: NDArray[np.bool_] | None):
    """(A,) best allowed class and its score; -inf score where no class is allowed."""
    if class_mask is not None:
        cls_scores = np.where(class_mask[None, :], cls_scores, np.float32(-np.inf))
    best = np.argmax(cls_scores, axis=1).astype(np.int32)
    return best, np.take_along_axis(cls_scores, best[:, None].astype(np.intp), axis=1)[:, 0]


def _finish(
    cxcywh: NDArray[np.float32],
    score: NDArray[np.float32],
    cls: NDArray[np.int32],
    keep: NDArray[np.bool_],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
) -> DecodeResult:
    rows = np.flatnonzero(keep).astype(np.int32)
    c = cxcywh[keep]
    xyxy = np.concatenate([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], axis=1)
    xyxy = letterbox.to_input_xyxy(xyxy.reshape(-1, 4))
    h, w = image_hw
    xyxy = np.clip(xyxy, 0, np.array([w, h, w, h], np.float32)).astype(np.float32)
    return xyxy, score[keep].astype(np.float32), cls[keep], rows


def _grid(input_hw: tuple[int, int], strides: tuple[int, ...]):
    """(A, 2) float32 cell xy and (A, 1) float32 stride for every anchor, in output order."""
    grids, steps = [], []
    for s in strides:
        gh, gw = input_hw[0] // s, input_hw[1] // s
        gy, gx = np.mgrid[0:gh, 0:gw]
        grids.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        steps.append(np.full((gh * gw, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode_yolox(
    raw: NDArray[np.float32],
    input_hw: tuple[int, int],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    *,
    score_threshold: float,
    class_mask: NDArray[np.bool_] | None = None,
    strides: tuple[int, ...] = (8, 16, 32),
) -> DecodeResult:
    """NumPy reference: ``(xyxy, score, class_id, row)``."""
    o = np.asarray(raw, dtype=np.float32).reshape(-1, np.shape(raw)[-1])
    best, cls_score = _best(o[:, 5:], class_mask)
    score = o[:, 4] * cls_score
    keep = score >= np.float32(score_threshold)
    grid, step = _grid(input_hw, strides)
    cxcywh = np.concatenate([(o[:, :2] + grid) * step, np.exp(o[:, 2:4]) * step], axis=1)
    return _finish(cxcywh, score, best, keep, letterbox, image_hw)


def decode_yolo_v8(
    raw: NDArray[np.float32],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    *,
    score_threshold: float,
    class_mask: NDArray[np.bool_] | None = None,
) -> DecodeResult:
    """NumPy reference: ``(xyxy, score, class_id, row)``."""
    o = np.asarray(raw, dtype=np.float32)
    o = o.reshape(o.shape[-2], o.shape[-1]).T
    best, score = _best(o[:, 4:], class_mask)
    keep = score >= np.float32(score_threshold)
    return _finish(o[:, :4], score, best, keep, letterbox, image_hw)


def decode_nms_yolox(
    raw: NDArray[np.float32],
    input_hw: tuple[int, int],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    *,
    score_threshold: float,
    iou_threshold: float,
    group_of_class: NDArray[np.int32] | None = None,
    class_mask: NDArray[np.bool_] | None = None,
    strides: tuple[int, ...] = (8, 16, 32),
    max_det: int = 300,
    class_score_bound: float | None = 1.0,
) -> DecodeResult:
    """NumPy reference: decode every anchor, then grouped NMS (``class_score_bound`` unused)."""
    xyxy, score, cls, rows = decode_yolox(
        raw, input_hw, letterbox, image_hw, score_threshold=score_threshold,
        class_mask=class_mask, strides=strides,
    )  # fmt: skip
    groups = None if group_of_class is None else np.asarray(group_of_class)[cls]
    keep = nms(xyxy, score, iou_threshold, group_id=groups, max_det=max_det)
    return xyxy[keep], score[keep], cls[keep], rows[keep]
