"""``decode_yolox`` and ``decode_yolo_v8`` against their vectorised NumPy references.

Synthetic raw outputs with a detector's statistics (most objectness and class scores tiny, a few
confident anchors) at the real models' sizes: YOLOX-nano 416 (3549 x 85) and YOLOv8 640
(84 x 8400). With a vehicle class mask too, as the counting pipeline runs it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import LetterboxInfo, decode_yolo_v8, decode_yolox
from carbonedge.kernels import reference as ref

_VEHICLES = np.zeros(80, np.bool_)
_VEHICLES[[2, 3, 5, 7]] = True  # car, motorcycle, bus, truck
_IMAGE_HW = (720, 1280)


def _confident(rng: np.random.Generator, a: int, n: int) -> tuple[NDArray, NDArray, NDArray]:
    """n random anchors of a, a random class each, and a confident score each."""
    return rng.choice(a, n, replace=False), rng.integers(0, 80, n), rng.uniform(0.3, 0.95, n)


def _yolox_raw(seed: int = 0) -> NDArray[np.float32]:
    """(1, 3549, 85): objectness and class scores below 0.05 except about 60 confident anchors."""
    rng = np.random.default_rng(seed)
    raw = np.empty((1, 3549, 85), np.float32)
    raw[0, :, :2] = rng.uniform(0, 1, (3549, 2))
    raw[0, :, 2:4] = rng.normal(1.0, 0.7, (3549, 2))
    raw[0, :, 4:] = rng.uniform(0, 0.05, (3549, 81))
    rows, cls, conf = _confident(rng, 3549, 60)
    raw[0, rows, 4] = conf
    raw[0, rows, 5 + cls] = conf
    return raw


def _v8_raw(seed: int = 0) -> NDArray[np.float32]:
    """(1, 84, 8400): class scores below 0.05 except about 100 confident anchors."""
    rng = np.random.default_rng(seed)
    raw = np.empty((1, 84, 8400), np.float32)
    raw[0, :2] = rng.uniform(0, 640, (2, 8400))
    raw[0, 2:4] = rng.uniform(4, 300, (2, 8400))
    raw[0, 4:] = rng.uniform(0, 0.05, (80, 8400))
    rows, cls, conf = _confident(rng, 8400, 100)
    raw[0, 4 + cls, rows] = conf
    return raw


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    yolox_raw, v8_raw = _yolox_raw(), _v8_raw()
    yolox_info = LetterboxInfo(416 / 1280, 234 / 720, 0.0, 0.0)
    v8_info = LetterboxInfo(0.5, 0.5, 0.0, 140.0)
    masks = {"80 classes": None} if quick else {"80 classes": None, "vehicles": _VEHICLES}
    for mask_name, mask in masks.items():
        kw = {"score_threshold": 0.25, "class_mask": mask}
        rows.append(
            compare(
                "decode_yolox",
                f"3549x85, {mask_name}",
                lambda kw=kw: decode_yolox(yolox_raw, (416, 416), yolox_info, _IMAGE_HW, **kw),
                lambda kw=kw: ref.decode_yolox(yolox_raw, (416, 416), yolox_info, _IMAGE_HW, **kw),
                reference_name="numpy",
            )
        )
        rows.append(
            compare(
                "decode_yolo_v8",
                f"84x8400, {mask_name}",
                lambda kw=kw: decode_yolo_v8(v8_raw, v8_info, _IMAGE_HW, **kw),
                lambda kw=kw: ref.decode_yolo_v8(v8_raw, v8_info, _IMAGE_HW, **kw),
                reference_name="numpy",
            )
        )
    return rows
