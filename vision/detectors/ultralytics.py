"""Ultralytics YOLOv8 / YOLO11 ONNX exports (``yolo export format=onnx``).

Input ``images`` [1, 3, H, W], RGB / 255, letterboxed to the centre with pad 114. Output ``output0``
[1, 4 + nc, A] = (cx, cy, w, h, class scores) in input pixels, no objectness, no NMS inside. Class
names come from the model's metadata (``names``), as Ultralytics writes them.
"""

from __future__ import annotations

import ast
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.kernels import decode_yolo_v8, letterbox_chw
from carbonedge.kernels.preprocess import LetterboxInfo
from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.detectors.base import register_detector
from carbonedge.vision.detectors.yolo_common import Decoded, YoloOnnxDetector
from carbonedge.vision.detectors.yolo_config import YoloOnnxConfig


class UltralyticsConfig(YoloOnnxConfig):
    type: Literal["ultralytics"] = "ultralytics"
    classes: tuple[str, ...] | None = Field(
        None, description="class names to keep (default: every class in the model's metadata)"
    )


def parse_names(text: str) -> tuple[str, ...]:
    """Ultralytics' ``names`` metadata: a Python dict literal ``{0: 'person', 1: 'bicycle'}``."""
    value = ast.literal_eval(text)
    if isinstance(value, dict):
        keys = sorted(int(k) for k in value)
        if keys != list(range(len(keys))):
            raise ValueError("class indices are not 0..n-1")
        return tuple(str(value[k] if k in value else value[str(k)]) for k in keys)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    raise ValueError(f"expected a dict or list, got {type(value).__name__}")


@register_detector("ultralytics", UltralyticsConfig)
class UltralyticsDetector(YoloOnnxDetector):
    config: UltralyticsConfig

    def _read_class_names(self) -> tuple[str, ...]:
        meta = self.session.get_modelmeta().custom_metadata_map
        if "names" not in meta:
            raise ModelError(
                f"{self.model_path}: no 'names' in the ONNX metadata; export the model with "
                "ultralytics (yolo export format=onnx), which writes it"
            )
        try:
            names = parse_names(meta["names"])
        except (ValueError, SyntaxError) as exc:
            raise ModelError(
                f"{self.model_path}: cannot parse the 'names' metadata ({exc})"
            ) from None
        shape = self.session.get_outputs()[0].shape
        if len(shape) != 3 or shape[1] != 4 + len(names):
            raise ModelError(
                f"{self.model_path}: expected output [1, 4 + {len(names)} classes, A] for an "
                f"Ultralytics YOLOv8/YOLO11 export, got {shape}"
            )
        return names

    def _preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], LetterboxInfo]:
        return letterbox_chw(
            image,
            self.input_hw,
            mode="letterbox",
            align="center",
            pad_value=114.0,
            swap_rb=True,
            std=(255.0, 255.0, 255.0),
            out=self._input_buffer(),
        )

    def _decode(
        self, raw: NDArray[np.float32], info: LetterboxInfo, image_hw: tuple[int, int]
    ) -> Decoded:
        return decode_yolo_v8(
            raw,
            info,
            image_hw,
            score_threshold=self.config.score_threshold,
            class_mask=self.class_mask,
        )
