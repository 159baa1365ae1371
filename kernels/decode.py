"""Detector output decoders: one pass over anchors, best class, threshold, back to image pixels.

Both decoders return the same four columns, ready for :func:`carbonedge.kernels.nms` and
``Detections``: ``xyxy`` (K, 4) float32 image px clipped to ``[0, W] x [0, H]``, ``score`` (K,)
float32, ``class_id`` (K,) int32 and ``row`` (K,) int32, the anchor index in ``raw`` (carried
into ``Detections.source_row``). A candidate is kept when its score is ``>= score_threshold``
(compared in float32); its class is the best allowed class (ties: lower class id). Rows come
out in anchor order. The Numba backend compiles on the first call (or loads its cache).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require
from carbonedge.kernels.boxes import as_int32_groups, check_nms_settings
from carbonedge.kernels.preprocess import LetterboxInfo

__all__ = ["YoloxDecodeNms", "decode_nms_yolox", "decode_yolox", "decode_yolo_v8"]

_register("decode_yolox", "numba", "_decode_nb")
_register("decode_nms_yolox", "numba", "_decode_nb")
_register("decode_yolo_v8", "numba", "_decode_nb")

DecodeResult = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32], NDArray[np.int32]]


def _empty() -> DecodeResult:
    return (
        np.empty((0, 4), np.float32),
        np.empty(0, np.float32),
        np.empty(0, np.int32),
        np.empty(0, np.int32),
    )


def _raw_2d(raw: NDArray) -> NDArray[np.float32]:
    if not isinstance(raw, np.ndarray) or raw.dtype.kind != "f":
        got = getattr(raw, "dtype", type(raw).__name__)
        raise ValueError(f"raw must be a floating-point array, got {got}")
    if raw.ndim == 3 and raw.shape[0] == 1:
        raw = raw[0]
    if raw.ndim != 2:
        raise ValueError(f"raw must be 2-D or have a leading batch of 1, got shape {raw.shape}")
    out = np.ascontiguousarray(raw, dtype=np.float32)
    return out if out.flags.writeable else out.copy()  # read-only arrays would need a 2nd compile


def _hw(name: str, value: tuple[int, int]) -> tuple[int, int]:
    try:
        ok = len(value) == 2 and all(int(v) == v and v >= 1 for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be two positive integers (h, w), got {value!r}")
    return int(value[0]), int(value[1])


def _geometry(letterbox: LetterboxInfo, image_hw: tuple[int, int]) -> NDArray[np.float64]:
    """[scale_x, scale_y, pad_x, pad_y, image_w, image_h] float64, validated."""
    if not isinstance(letterbox, LetterboxInfo):
        raise ValueError(f"letterbox must be a LetterboxInfo, got {type(letterbox).__name__}")
    if not (letterbox.scale_x > 0 and letterbox.scale_y > 0):
        raise ValueError(f"letterbox scales must be positive, got {letterbox}")
    img_h, img_w = _hw("image_hw", image_hw)
    return np.array(
        [
            letterbox.scale_x,
            letterbox.scale_y,
            letterbox.pad_x_px,
            letterbox.pad_y_px,
            img_w,
            img_h,
        ],
        dtype=np.float64,
    )


def _threshold_classes(
    nc: int, score_threshold: float, class_mask: NDArray[np.bool_] | None
) -> tuple[float, NDArray[np.int64]]:
    """Float32-rounded threshold and the sorted allowed class ids."""
    if not isinstance(score_threshold, numbers.Real) or not math.isfinite(score_threshold):
        raise ValueError(f"score_threshold must be a finite number, got {score_threshold!r}")
    if class_mask is None:
        return float(np.float32(score_threshold)), np.arange(nc, dtype=np.int64)
    mask = np.asarray(class_mask)
    if mask.dtype != np.bool_ or mask.shape != (nc,):
        raise ValueError(
            f"class_mask must be a bool array of shape ({nc},), got {mask.dtype} {mask.shape}"
        )
    return float(np.float32(score_threshold)), np.flatnonzero(mask).astype(np.int64)


def _common(
    nc: int,
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    score_threshold: float,
    class_mask: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.float64], float, NDArray[np.int64]]:
    """Geometry vector, float32-rounded threshold and the sorted allowed class ids."""
    geom = _geometry(letterbox, image_hw)
    return (geom, *_threshold_classes(nc, score_threshold, class_mask))


def yolox_anchor_count(input_hw: tuple[int, int], strides: tuple[int, ...]) -> int:
    """Rows of a YOLOX output for ``input_hw``; ValueError unless every stride divides it."""
    if len(strides) == 0 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in strides):
        raise ValueError(f"strides must be positive integers, got {strides!r}")
    in_h, in_w = input_hw
    if any(in_h % s or in_w % s for s in strides):
        raise ValueError(
            f"input_hw {input_hw} must be divisible by every stride in {tuple(strides)}"
        )
    return sum((in_h // s) * (in_w // s) for s in strides)


def _yolox_data(
    raw: NDArray, input_hw: tuple[int, int], strides: tuple[int, ...]
) -> tuple[NDArray[np.float32], tuple[int, int]]:
    """Validated (A, 5+nc) float32 YOLOX output and input size."""
    data = _raw_2d(raw)
    if data.shape[1] < 6:
        raise ValueError(
            f"raw must have 5 + nc >= 6 columns (YOLOX layout), got shape {data.shape}"
        )
    in_hw = _hw("input_hw", input_hw)
    expected = yolox_anchor_count(in_hw, tuple(strides))
    if data.shape[0] != expected:
        raise ValueError(
            f"raw has {data.shape[0]} anchors but input_hw {in_hw} with strides "
            f"{tuple(strides)} gives {expected}"
        )
    return data, in_hw


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
    """Decode YOLOX output (anchor-free, objectness and class scores already sigmoid).

    Anchor order: for each stride ``s`` in turn, a row-major grid of ``(h/s) x (w/s)`` cells
    (y outer, x inner). ``xy = (o[:2] + grid_xy) * s``, ``wh = exp(o[2:4]) * s`` in input px;
    ``score = obj * cls[best allowed class]``.

    Args:
        raw: (A, 5+nc) or (1, A, 5+nc) float: dx, dy, log w, log h, obj, nc class scores.
        input_hw: network input size (h, w) in px; divisible by every stride.
        letterbox: geometry from :func:`carbonedge.kernels.letterbox_chw`.
        image_hw: original image size (H, W) in px, used for clipping.
        score_threshold: keep ``score >= score_threshold``.
        class_mask: optional (nc,) bool, allowed classes.
        strides: feature-map strides in px, in output order.

    Returns:
        ``(xyxy, score, class_id, row)``: (K, 4) float32 image px, (K,) float32, (K,) int32,
        (K,) int32 anchor index.

    Raises:
        ValueError: wrong dtype/shape, anchor count not matching ``input_hw``/``strides``, bad
            sizes, threshold or mask.
    """
    data, in_hw = _yolox_data(raw, input_hw, strides)
    nc = data.shape[1] - 5
    geom, thr, classes = _common(nc, letterbox, image_hw, score_threshold, class_mask)
    if classes.size == 0:
        return _empty()
    backend = _require("_decode_nb")
    steps = np.asarray(strides, dtype=np.int64)
    return backend.decode_yolox_nb(data, in_hw[0], in_hw[1], steps, geom, thr, classes)


def decode_yolo_v8(
    raw: NDArray[np.float32],
    letterbox: LetterboxInfo,
    image_hw: tuple[int, int],
    *,
    score_threshold: float,
    class_mask: NDArray[np.bool_] | None = None,
) -> DecodeResult:
    """Decode Ultralytics YOLOv8/YOLO11 output (no objectness): score = best allowed class score.

    Args:
        raw: (4+nc, A) or (1, 4+nc, A) float: cx, cy, w, h in input px, then nc class scores.
        letterbox: geometry from :func:`carbonedge.kernels.letterbox_chw`.
        image_hw: original image size (H, W) in px, used for clipping.
        score_threshold: keep ``score >= score_threshold``.
        class_mask: optional (nc,) bool, allowed classes.

    Returns:
        ``(xyxy, score, class_id, row)`` as :func:`decode_yolox`.

    Raises:
        ValueError: wrong dtype/shape, bad sizes, threshold or mask.
    """
    data = _raw_2d(raw)
    if data.shape[0] < 5:
        raise ValueError(f"raw must have 4 + nc >= 5 rows (YOLOv8 layout), got shape {data.shape}")
    nc = data.shape[0] - 4
    geom, thr, classes = _common(nc, letterbox, image_hw, score_threshold, class_mask)
    if classes.size == 0:
        return _empty()
    return _require("_decode_nb").decode_yolo_v8_nb(data, geom, thr, classes)


def _nms_args(
    nc: int, iou_threshold: float, group_of_class: NDArray | None, max_det: int, bound: float | None
) -> tuple[NDArray[np.int32], float, int, float]:
    """Validated NMS settings: (nc,) int32 groups, float32-rounded IoU, max_det, class bound."""
    check_nms_settings(iou_threshold, max_det)
    groups = (
        np.zeros(nc, np.int32)
        if group_of_class is None
        else as_int32_groups("group_of_class", group_of_class, nc)
    )
    if bound is None:
        bound = -1.0  # the backend computes the exact bound from the data
    elif not isinstance(bound, numbers.Real) or not 0.0 <= float(bound) < math.inf:
        raise ValueError(f"class_score_bound must be a finite number >= 0 or None, got {bound!r}")
    return groups, float(np.float32(iou_threshold)), int(max_det), float(bound)


class YoloxDecodeNms:
    """:func:`decode_nms_yolox` with its settings validated once: a detector builds one per model
    and calls it on every output (only ``raw``, ``letterbox`` and ``image_hw`` are checked then).

    Args:
        input_hw: network input size (h, w) px; divisible by every stride.
        nc: number of classes in the output (``raw`` has 5 + nc columns).
        score_threshold, iou_threshold, group_of_class, class_mask, strides, max_det,
            class_score_bound: as :func:`decode_nms_yolox`.
    """

    def __init__(
        self,
        input_hw: tuple[int, int],
        nc: int,
        *,
        score_threshold: float,
        iou_threshold: float,
        group_of_class: NDArray[np.integer] | None = None,
        class_mask: NDArray[np.bool_] | None = None,
        strides: tuple[int, ...] = (8, 16, 32),
        max_det: int = 300,
        class_score_bound: float | None = 1.0,
    ) -> None:
        if isinstance(nc, bool) or not isinstance(nc, (int, np.integer)) or nc < 1:
            raise ValueError(f"nc must be a positive integer, got {nc!r}")
        self.input_hw = _hw("input_hw", input_hw)
        self.anchors = yolox_anchor_count(self.input_hw, tuple(strides))
        self.strides_t = tuple(int(v) for v in strides)
        self._strides = np.asarray(strides, dtype=np.int64)
        self._shape = (self.anchors, 5 + int(nc))
        self._thr, self._classes = _threshold_classes(int(nc), score_threshold, class_mask)
        self._groups, self._iou, self._max_det, self._bound = _nms_args(
            int(nc), iou_threshold, group_of_class, max_det, class_score_bound
        )

    def _data(self, raw: NDArray) -> NDArray[np.float32]:
        """(A, 5+nc) float32 C-contiguous view of ``raw``; a copy only when it must be."""
        if (
            type(raw) is np.ndarray
            and raw.dtype == np.float32
            and raw.shape[-2:] == self._shape
            and (raw.ndim == 2 or (raw.ndim == 3 and raw.shape[0] == 1))
            and raw.flags.c_contiguous
            and raw.flags.writeable
        ):
            return raw.reshape(self._shape)  # the common case: onnxruntime's output as it is
        data = _raw_2d(raw)
        if data.shape[1] != self._shape[1]:
            raise ValueError(
                f"raw must have 5 + nc = {self._shape[1]} columns (YOLOX layout), got shape "
                f"{data.shape}"
            )
        if data.shape[0] != self.anchors:
            raise ValueError(
                f"raw has {data.shape[0]} anchors but input_hw {self.input_hw} with strides "
                f"{self.strides_t} gives {self.anchors}"
            )
        return data

    def __call__(
        self, raw: NDArray[np.float32], letterbox: LetterboxInfo, image_hw: tuple[int, int]
    ) -> DecodeResult:
        """``(xyxy, score, class_id, row)`` of the kept boxes, as :func:`decode_nms_yolox`."""
        data = self._data(raw)
        geom = _geometry(letterbox, image_hw)
        if self._classes.size == 0:
            return _empty()
        return _require("_decode_nb").decode_nms_yolox_nb(
            data, self.input_hw[0], self.input_hw[1], self._strides, geom, self._thr,
            self._classes, self._bound, self._groups, self._iou, self._max_det,
        )  # fmt: skip


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
    """YOLOX decode, score and grouped greedy NMS in one compiled pass: the detector's output.

    Same result as :func:`decode_yolox` followed by :func:`carbonedge.kernels.nms` with
    ``group_id = group_of_class[class_id]``, without the intermediate arrays: only anchors whose
    objectness can reach the threshold (``obj * class_score_bound >= score_threshold``) have
    their class scores read. YOLOX exports apply the sigmoid, so class scores are <= 1 (the
    default bound); ``class_score_bound=None`` computes the exact bound from ``raw`` (one more
    pass over it) for outputs without a sigmoid. Per-frame callers: :class:`YoloxDecodeNms`.

    Args:
        raw, input_hw, letterbox, image_hw, score_threshold, class_mask, strides: as
            :func:`decode_yolox`.
        iou_threshold: in [0, 1]; a candidate is dropped when its IoU with a kept box of the
            same group is greater.
        group_of_class: (nc,) integer NMS group of each class; None: one group (class-agnostic).
        max_det: positive maximum number of kept boxes.
        class_score_bound: upper bound of every allowed class score, or None (computed).

    Returns:
        ``(xyxy, score, class_id, row)`` of the kept boxes by descending score (ties: lower
        anchor first): (K, 4) float32 image px, (K,) float32, (K,) int32, (K,) int32 anchor.

    Raises:
        ValueError: as :func:`decode_yolox`, plus bad IoU threshold, groups, max_det or bound.
    """
    data, in_hw = _yolox_data(raw, input_hw, strides)
    _geometry(letterbox, image_hw)  # the same order of checks as decode_yolox
    plan = YoloxDecodeNms(
        in_hw, data.shape[1] - 5, score_threshold=score_threshold, iou_threshold=iou_threshold,
        group_of_class=group_of_class, class_mask=class_mask, strides=strides, max_det=max_det,
        class_score_bound=class_score_bound,
    )  # fmt: skip
    return plan(data, letterbox, image_hw)
