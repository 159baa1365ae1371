"""GFL head decoder (generalized focal loss: PP-PicoDet, NanoDet): per-level scores and box
distributions -> candidates in image pixels, ready for :func:`carbonedge.kernels.nms`.

A GFL head predicts, per cell of each level's grid, class probabilities (sigmoid applied, no
objectness) and for each side of the box (left, top, right, bottom) logits over ``bins``
distances 0..bins-1 in units of the stride. The distance of a side is the expectation of the
softmax over its bins; the box is ``(cx - l, cy - t, cx + r, cy + b) * stride`` around the cell
centre ``((x + 0.5) * s, (y + 0.5) * s)``. The output columns are those of the YOLO decoders
(:mod:`carbonedge.kernels.decode`): ``xyxy`` (K, 4) float32 image px clipped to ``[0, W] x
[0, H]``, ``score`` (K,) float32, ``class_id`` (K,) int32 and ``row`` (K,) int32, the anchor
index counted over the levels in order. A candidate is kept when its best allowed class score is
``>= score_threshold`` (compared in float32; ties: lower class id). Rows come out in anchor
order. The Numba backend compiles on the first call (or loads its cache).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require
from carbonedge.kernels.decode import (
    DecodeResult,
    _empty,
    _geometry,
    _hw,
    _nms_args,
    _threshold_classes,
)
from carbonedge.kernels.preprocess import LetterboxInfo

__all__ = ["GflDecodeNms", "decode_gfl", "decode_nms_gfl", "gfl_grid_cells"]

_register("decode_gfl", "numba", "_gfl_nb")
_register("decode_nms_gfl", "numba", "_gfl_nb")


def gfl_grid_cells(input_hw: tuple[int, int], strides: Sequence[int]) -> tuple[int, ...]:
    """Cells of each level's grid for ``input_hw``: ``ceil(h / s) * ceil(w / s)`` per stride (a
    stride that does not divide the input, such as PicoDet's 64 at 416 px, gives a partial cell).

    Raises:
        ValueError: bad ``input_hw`` or a stride that is not a positive integer.
    """
    h, w = _hw("input_hw", input_hw)
    if len(strides) == 0 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in strides
    ):
        raise ValueError(f"strides must be positive integers, got {tuple(strides)!r}")
    return tuple(-(-h // int(s)) * -(-w // int(s)) for s in strides)


def _level_2d(name: str, level: int, value: NDArray) -> NDArray[np.float32]:
    """``value`` as a writeable C-contiguous (A, C) float32 array, or ``ValueError``."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        got = getattr(value, "dtype", type(value).__name__)
        raise ValueError(f"{name}[{level}] must be a floating-point array, got {got}")
    if value.ndim == 3 and value.shape[0] == 1:
        value = value[0]
    if value.ndim != 2:
        raise ValueError(
            f"{name}[{level}] must be 2-D or have a leading batch of 1, got shape {value.shape}"
        )
    out = np.ascontiguousarray(value, dtype=np.float32)
    return out if out.flags.writeable else out.copy()  # read-only arrays would need a 2nd compile


def _levels(
    cls_scores: Sequence[NDArray], box_dists: Sequence[NDArray], cells: tuple[int, ...]
) -> tuple[tuple[NDArray[np.float32], ...], tuple[NDArray[np.float32], ...]]:
    """Validated per-level (A_l, nc) scores and (A_l, 4 * bins) distributions, float32."""
    if isinstance(cls_scores, np.ndarray) or isinstance(box_dists, np.ndarray):
        raise ValueError("cls_scores and box_dists must be sequences of arrays, one per level")
    if len(cls_scores) != len(cells) or len(box_dists) != len(cells):
        raise ValueError(
            f"expected {len(cells)} levels (one per stride), got {len(cls_scores)} score and "
            f"{len(box_dists)} box arrays"
        )
    scores = tuple(_level_2d("cls_scores", i, c) for i, c in enumerate(cls_scores))
    dists = tuple(_level_2d("box_dists", i, d) for i, d in enumerate(box_dists))
    nc, width = scores[0].shape[1], dists[0].shape[1]
    if width % 4 or width < 4:
        raise ValueError(f"box_dists must have 4 * bins columns, got {width}")
    for level, (sc, di, n) in enumerate(zip(scores, dists, cells, strict=True)):
        if sc.shape != (n, nc) or di.shape != (n, width):
            raise ValueError(
                f"level {level}: expected scores ({n}, {nc}) and box_dists ({n}, {width}) for "
                f"its grid, got {sc.shape} and {di.shape}"
            )
    return scores, dists


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
    """Decode a GFL head's per-level outputs (class scores already sigmoid).

    Args:
        cls_scores: one (A_l, nc) or (1, A_l, nc) float array per stride: class probabilities,
            rows the cells of a row-major grid (y outer, x inner) of ``ceil(h/s) x ceil(w/s)``.
        box_dists: one (A_l, 4 * bins) or (1, A_l, 4 * bins) float array per stride: logits of
            the bins of the left, top, right and bottom distances, in that order.
        input_hw: network input size (h, w) in px.
        letterbox: geometry from :func:`carbonedge.kernels.letterbox_chw`.
        image_hw: original image size (H, W) in px, used for clipping.
        score_threshold: keep ``score >= score_threshold``.
        class_mask: optional (nc,) bool, allowed classes.
        strides: feature-map strides in px, in level order.

    Returns:
        ``(xyxy, score, class_id, row)``: (K, 4) float32 image px, (K,) float32, (K,) int32,
        (K,) int32 anchor index over the levels.

    Raises:
        ValueError: wrong dtype/shape, level count or cells not matching ``input_hw``/``strides``,
            bad sizes, threshold or mask.
    """
    cells, steps, in_w = _grid(tuple(input_hw), tuple(strides))  # the same every frame: once
    scores, dists = _levels(cls_scores, box_dists, cells)
    geom = _geometry(letterbox, image_hw)
    thr, classes = _threshold_classes(scores[0].shape[1], score_threshold, class_mask)
    if classes.size == 0:
        return _empty()
    return _require("_gfl_nb").decode_gfl_nb(scores, dists, steps, in_w, geom, thr, classes)


@functools.lru_cache(maxsize=64)
def _grid(
    input_hw: tuple[int, int], strides: Sequence[int]
) -> tuple[tuple[int, ...], NDArray[np.int64], int]:
    """(cells per level, strides as int64, input width) for ``decode_gfl``; ``ValueError`` for
    a bad size or stride (not cached). The strides array is shared (the kernel only reads it;
    writeable, so the kernel's one compiled signature serves it)."""
    cells = gfl_grid_cells(input_hw, strides)
    steps = np.array(strides, dtype=np.int64)
    return cells, steps, _hw("input_hw", input_hw)[1]


class GflDecodeNms:
    """:func:`decode_nms_gfl` with its settings validated once: a detector builds one per model
    and input size and calls it on every output. The outputs' shapes and types are checked in
    full on the first call and whenever they differ from the last checked ones; onnxruntime's
    own (1, A_l, C) float32 arrays then go to the compiled kernel as they are.

    Args:
        input_hw: network input size (h, w) px.
        nc: number of classes in the score outputs.
        score_threshold, iou_threshold, group_of_class, class_mask, strides, max_det: as
            :func:`decode_nms_gfl`.
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
        strides: tuple[int, ...] = (8, 16, 32, 64),
        max_det: int = 300,
    ) -> None:
        if isinstance(nc, bool) or not isinstance(nc, (int, np.integer)) or nc < 1:
            raise ValueError(f"nc must be a positive integer, got {nc!r}")
        self.input_hw = _hw("input_hw", input_hw)
        self._cells, self._steps, self._in_w = _grid(self.input_hw, tuple(strides))
        self._thr, self._classes = _threshold_classes(int(nc), score_threshold, class_mask)
        self._groups, self._iou, self._max_det, _ = _nms_args(
            int(nc), iou_threshold, group_of_class, max_det, None
        )
        self._nc = int(nc)
        self._checked: tuple | None = None  # (shape, ...) of the last outputs checked in full

    def _levels(self, cls_scores: Sequence[NDArray], box_dists: Sequence[NDArray]):
        """Per-level 2-D float32 views: straight from arrays shaped as the last checked ones
        (fresh float32, C-contiguous and writeable, as onnxruntime returns them), else checked."""
        arrays = (*cls_scores, *box_dists)
        if self._checked is not None and len(arrays) == len(self._checked):
            for a, shape in zip(arrays, self._checked, strict=True):
                if (
                    type(a) is not np.ndarray
                    or a.shape != shape
                    or a.dtype != np.float32
                    or not a.flags.c_contiguous
                    or not a.flags.writeable
                ):
                    break
            else:
                levels = len(self._cells)
                flat = tuple(a.reshape(a.shape[-2:]) for a in arrays)
                return flat[:levels], flat[levels:]
        scores, dists = _levels(cls_scores, box_dists, self._cells)
        if scores[0].shape[1] != self._nc:
            raise ValueError(f"expected {self._nc} classes, got scores of {scores[0].shape[1]}")
        if all(isinstance(a, np.ndarray) for a in arrays):
            self._checked = tuple(a.shape for a in arrays)
        return scores, dists

    def __call__(
        self,
        cls_scores: Sequence[NDArray[np.float32]],
        box_dists: Sequence[NDArray[np.float32]],
        letterbox: LetterboxInfo,
        image_hw: tuple[int, int],
    ) -> DecodeResult:
        """``(xyxy, score, class_id, row)`` of the kept boxes, as :func:`decode_nms_gfl`."""
        scores, dists = self._levels(cls_scores, box_dists)
        geom = _geometry(letterbox, image_hw)
        if self._classes.size == 0:
            return _empty()
        return _require("_gfl_nb").decode_nms_gfl_nb(
            scores, dists, self._steps, self._in_w, geom, self._thr, self._classes,
            self._groups, self._iou, self._max_det,
        )  # fmt: skip


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
    """GFL decode and grouped greedy NMS in one compiled call: the detector's output.

    Same result as :func:`decode_gfl` followed by :func:`carbonedge.kernels.nms` with
    ``group_id = group_of_class[class_id]``, without the Python between them. Per-frame callers:
    :class:`GflDecodeNms`.

    Args:
        cls_scores, box_dists, input_hw, letterbox, image_hw, score_threshold, class_mask,
            strides: as :func:`decode_gfl`.
        iou_threshold: in [0, 1]; a candidate is dropped when its IoU with a kept box of the
            same group is greater.
        group_of_class: (nc,) integer NMS group of each class; None: one group (class-agnostic).
        max_det: positive maximum number of kept boxes.

    Returns:
        ``(xyxy, score, class_id, row)`` of the kept boxes by descending score (ties: lower
        anchor first): (K, 4) float32 image px, (K,) float32, (K,) int32, (K,) int32 anchor.

    Raises:
        ValueError: as :func:`decode_gfl`, plus a bad IoU threshold, groups or max_det.
    """
    cells, _, _ = _grid(tuple(input_hw), tuple(strides))
    scores, _ = _levels(cls_scores, box_dists, cells)
    plan = GflDecodeNms(
        input_hw, scores[0].shape[1], score_threshold=score_threshold,
        iou_threshold=iou_threshold, group_of_class=group_of_class, class_mask=class_mask,
        strides=strides, max_det=max_det,
    )  # fmt: skip
    return plan(cls_scores, box_dists, letterbox, image_hw)
