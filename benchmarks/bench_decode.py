"""``decode_yolox``, ``decode_yolo_v8`` and the fused ``decode_nms_yolox`` against NumPy references.

Synthetic raw outputs with a detector's statistics (most objectness and class scores tiny, a few
confident anchors) at the real models' sizes: YOLOX-nano 416 (3549 x 85) and YOLOv8 640
(84 x 8400). With a vehicle class mask too, as the counting pipeline runs it. The fused YOLOX
decode + grouped NMS (what the detector runs) is also timed against the unfused compiled path
(``decode_yolox`` + ``nms``) and against the peer's tutorial postprocess (NumPy + cv2 NMS).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import LetterboxInfo, decode_nms_yolox, decode_yolo_v8, decode_yolox, nms
from carbonedge.kernels import reference as ref

_VEHICLES = np.zeros(80, np.bool_)
_VEHICLES[[2, 3, 5, 7]] = True  # car, motorcycle, bus, truck
_IMAGE_HW = (720, 1280)
_GROUPS = np.arange(80, dtype=np.int32) + 80
_GROUPS[[2, 3, 5, 7]] = 0  # the vehicle classes suppress each other (the detector's default)


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
    rows += _fused_rows(yolox_raw, yolox_info, quick)
    return rows


def _fused_rows(raw: NDArray[np.float32], info: LetterboxInfo, quick: bool) -> list[Row]:
    """decode_nms_yolox vs the NumPy reference, the unfused compiled path and the peer's way."""
    kw = {"score_threshold": 0.25, "class_mask": _VEHICLES}
    nms_kw = {"iou_threshold": 0.45, "group_of_class": _GROUPS, "max_det": 300}
    case = "3549x85, vehicles, grouped NMS"

    def ours():
        return decode_nms_yolox(raw, (416, 416), info, _IMAGE_HW, **kw, **nms_kw)

    def unfused():
        xyxy, score, cls, row = decode_yolox(raw, (416, 416), info, _IMAGE_HW, **kw)
        keep = nms(xyxy, score, 0.45, group_id=_GROUPS[cls], max_det=300)
        return xyxy[keep], score[keep], cls[keep], row[keep]

    rows = [
        compare(
            "decode_nms_yolox",
            case,
            ours,
            lambda: ref.decode_nms_yolox(raw, (416, 416), info, _IMAGE_HW, **kw, **nms_kw),
            reference_name="numpy",
        )
    ]
    if quick:
        return rows
    rows.append(compare("decode_nms_yolox", case, ours, unfused,
                        reference_name="decode_yolox + nms (compiled)"))  # fmt: skip
    peer = _peer_postprocess(raw, info)
    rows.append(compare("decode_nms_yolox", case, ours, peer,
                        reference_name="YOLOX demo decode + cv2.dnn.NMSBoxes"))  # fmt: skip
    return rows


def _peer_postprocess(raw: NDArray[np.float32], info: LetterboxInfo):
    """The end-to-end benchmark's peer postprocess on the same output, as a zero-arg callable."""
    from carbonedge.benchmarks.bench_e2e import COCO_VEHICLE_IDS, peer_postprocess, yolox_grids

    grids, strides = yolox_grids((416, 416))
    vehicles = np.asarray(COCO_VEHICLE_IDS)
    return lambda: peer_postprocess(raw[0], info.scale_x, grids, strides, vehicles, 0.25)
