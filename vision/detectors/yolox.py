"""YOLOX backend (Megvii): the default vehicle model, ``yolox_nano_416.onnx``.

Input: BGR, 0-255, no mean/std, letterboxed to the top-left corner with pad 114. Output
(1, A, 5+nc) with (dx, dy, log w, log h, obj, classes) per grid cell over strides 8/16/32,
sigmoid already applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.kernels import YoloxDecodeNms
from carbonedge.kernels.decode import yolox_anchor_count
from carbonedge.kernels.preprocess import Letterbox, LetterboxInfo
from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.coco import COCO80
from carbonedge.vision.detectors.base import register_detector
from carbonedge.vision.detectors.yolo_common import YoloOnnxDetector
from carbonedge.vision.detectors.yolo_config import YoloOnnxConfig


class YoloxConfig(YoloOnnxConfig):
    type: Literal["yolox"] = "yolox"
    model: str = Field(
        "yolox_nano_416.onnx",
        description="ONNX model file (name in the model folder, or a path)",
    )
    class_names_file: Path | None = Field(None, description="one name per line; default COCO-80")
    strides: tuple[int, ...] = Field(
        (8, 16, 32),
        description="the model's output strides (pixels per grid cell)",
    )


@register_detector("yolox", YoloxConfig)
class YoloxDetector(YoloOnnxDetector):
    config: YoloxConfig

    #: decode, score and grouped NMS in one compiled pass (class scores are sigmoid, <= 1)
    fused_decoder = YoloxDecodeNms

    def _read_class_names(self) -> tuple[str, ...]:
        path = self.config.class_names_file
        names = COCO80
        if path is not None:
            try:
                names = tuple(
                    n.strip() for n in path.read_text(encoding="utf-8").splitlines() if n.strip()
                )
            except OSError as exc:
                raise ModelError(f"{path}: cannot read class names ({exc.strerror})") from None
        nc = self._output_classes()
        if nc != len(names):
            raise ModelError(
                f"{self.model_path}: the model outputs {nc} classes but {len(names)} class names "
                f"are configured; is this a YOLOX model? (expected output [1, A, 5 + classes])"
            )
        return names

    def _output_classes(self) -> int:
        shape = self.session.get_outputs()[0].shape
        h, w = self.input_hw
        try:
            anchors = yolox_anchor_count(self.input_hw, self.config.strides)
        except ValueError as exc:
            raise ModelError(f"{self.model_path}: {exc}") from None
        fixed_anchors = isinstance(shape[1], int) if len(shape) == 3 else False
        if (
            len(shape) != 3
            or (fixed_anchors and shape[1] != anchors)
            or not isinstance(shape[2], int)
            or shape[2] <= 5
        ):
            raise ModelError(
                f"{self.model_path}: expected a YOLOX output [1, {anchors}, 5 + classes] for a "
                f"{h}x{w} input, got {shape}; is this a YOLOX model?"
            )
        return shape[2] - 5

    def _preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], LetterboxInfo]:
        letterbox = getattr(self, "_letterbox", None)
        if letterbox is None:  # settings validated once, on the first frame
            letterbox = self._letterbox = Letterbox(
                self.input_hw, mode="letterbox", align="top_left", pad_value=114.0
            )
        buffer = self._input_buffer()
        # the padding depends only on the image size: written once per size into this buffer
        padded = getattr(self._buffers, "padded", None)  # (buffer, image hw) padded last
        pad_ready = padded is not None and padded[0] is buffer and padded[1] == image.shape[:2]
        result = letterbox(image, out=buffer, pad_ready=pad_ready)
        self._buffers.padded = (buffer, image.shape[:2])
        return result
