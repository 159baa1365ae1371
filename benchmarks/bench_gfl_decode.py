"""``decode_gfl`` (the PicoDet / NanoDet GFL head decoder) and the fused ``decode_nms_gfl`` (decode
and grouped NMS in one call, what the PicoDet detector runs) against their NumPy references.

Synthetic per-level outputs with a detector's statistics (class scores below 0.05 except about 60
confident anchors, each lit in a few neighbouring cells as a real head does) at PicoDet-S 416's
sizes: strides 8/16/32/64, 2704 + 676 + 169 + 49 cells, 80 classes, 4 x 8 box bins. With a
vehicle class mask too, as the counting pipeline runs it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import LetterboxInfo, decode_gfl, decode_nms_gfl, gfl_grid_cells, nms
from carbonedge.kernels import _ref_gfl as ref

_INPUT_HW = (416, 416)
_STRIDES = (8, 16, 32, 64)
_IMAGE_HW = (720, 1280)
_VEHICLES = np.zeros(80, np.bool_)
_VEHICLES[[2, 3, 5, 7]] = True  # car, motorcycle, bus, truck
_GROUPS = np.zeros(80, np.int32)  # every class in one NMS group, as the road classes are


def _picodet_raw(seed: int = 0) -> tuple[list[NDArray[np.float32]], list[NDArray[np.float32]]]:
    """Per-level (1, A_l, 80) scores and (1, A_l, 32) box logits."""
    rng = np.random.default_rng(seed)
    cells = gfl_grid_cells(_INPUT_HW, _STRIDES)
    scores = [rng.uniform(0, 0.05, (1, n, 80)).astype(np.float32) for n in cells]
    dists = [rng.normal(0.0, 2.0, (1, n, 32)).astype(np.float32) for n in cells]
    for _ in range(60):  # an object: one class lit in 1-4 neighbouring cells of one level
        level = rng.integers(0, len(cells))
        a = rng.integers(0, cells[level] - 4)
        scores[level][0, a : a + rng.integers(1, 5), rng.integers(0, 80)] = rng.uniform(0.3, 0.95)
    return scores, dists


def run(quick: bool) -> list[Row]:
    scores, dists = _picodet_raw()
    info = LetterboxInfo(416 / 1280, 416 / 720, 0.0, 0.0)  # PicoDet: plain resize
    masks = {"80 classes": None} if quick else {"80 classes": None, "vehicles": _VEHICLES}
    rows = []
    for mask_name, mask in masks.items():
        kw = {"score_threshold": 0.4, "class_mask": mask, "strides": _STRIDES}
        rows.append(
            compare(
                "decode_gfl",
                f"PicoDet 416: 3598 x (80 + 32), {mask_name}",
                lambda kw=kw: decode_gfl(scores, dists, _INPUT_HW, info, _IMAGE_HW, **kw),
                lambda kw=kw: ref.decode_gfl(scores, dists, _INPUT_HW, info, _IMAGE_HW, **kw),
                reference_name="numpy",
            )
        )
    rows += _fused_rows(scores, dists, info, quick)
    return rows


def _fused_rows(scores, dists, info: LetterboxInfo, quick: bool) -> list[Row]:
    """decode_nms_gfl vs the NumPy reference and (full run) the two compiled kernels in turn.

    In this hot loop the fused call is about as fast as the two kernels (its NMS is Numba's,
    theirs C++). What it saves is the Python between them (checks, group lookup, indexing),
    which costs 3-5x more in the pipeline, where the model run before it has evicted the caches:
    ``bench_nonmodel --compare`` measured 1.12 -> 0.99 ms non-model time per frame at 320x240."""
    kw = {"score_threshold": 0.1, "class_mask": _VEHICLES, "strides": _STRIDES}
    nms_kw = {"iou_threshold": 0.6, "group_of_class": _GROUPS, "max_det": 300}
    case = "PicoDet 416, vehicles, grouped NMS"

    def ours():
        return decode_nms_gfl(scores, dists, _INPUT_HW, info, _IMAGE_HW, **kw, **nms_kw)

    def unfused():
        xyxy, score, cls, row = decode_gfl(scores, dists, _INPUT_HW, info, _IMAGE_HW, **kw)
        keep = nms(xyxy, score, 0.6, group_id=_GROUPS[cls], max_det=300)
        return xyxy[keep], score[keep], cls[keep], row[keep]

    rows = [
        compare(
            "decode_nms_gfl",
            case,
            ours,
            lambda: ref.decode_nms_gfl(scores, dists, _INPUT_HW, info, _IMAGE_HW, **kw, **nms_kw),
            reference_name="numpy",
        )
    ]
    if not quick:
        rows.append(compare("decode_nms_gfl", case, ours, unfused,
                            reference_name="decode_gfl + nms (compiled)"))  # fmt: skip
    return rows
