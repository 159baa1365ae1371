"""Shared machinery of the YOLO-family ONNX backends: preprocess -> infer -> decode -> grouped NMS.

The backends differ only in their input convention, output decoding and where class names come
from; each is one small file (``yolox.py``, ``ultralytics.py``) built on ``YoloOnnxDetector``.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from pathlib import Path
from typing import Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.kernels import nms
from carbonedge.kernels.preprocess import LetterboxInfo
from carbonedge.runtime.errors import ModelError
from carbonedge.runtime.types import Detections, Frame
from carbonedge.vision.coco import VEHICLE_CLASSES
from carbonedge.vision.detectors import onnx_session
from carbonedge.vision.detectors.base import Detector, DetectorConfig
from carbonedge.vision.detectors.model_files import locate_model

logger = logging.getLogger(__name__)

Decoded = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32], NDArray[np.int32]]


_SidePx = Annotated[int, Field(ge=32, le=4096)]


class YoloOnnxConfig(DetectorConfig):
    """Settings common to the ONNX YOLO-family backends."""

    model: str = Field(min_length=1, description="file name (searched) or path of the .onnx file")
    classes: tuple[str, ...] | None = Field(
        ("car", "bus", "truck", "motorcycle"),
        description="class names to keep (None: all); names missing from the model are an error",
    )
    score_threshold: float = Field(0.3, gt=0, le=1)
    nms_iou: float = Field(0.45, gt=0, le=1)
    nms_class_groups: tuple[tuple[str, ...], ...] | None = Field(
        None,
        description="classes suppressed together by NMS; None: all vehicle classes form one group, "
        "every other class is suppressed on its own",
    )
    max_detections: int = Field(300, ge=1, le=10000)
    input_hw: tuple[_SidePx, _SidePx] | None = Field(
        None, description="(height, width) px, only for models with a dynamic input size"
    )
    session: onnx_session.SessionConfig = onnx_session.SessionConfig()


class YoloOnnxDetector(Detector):
    """ONNX Runtime detector; subclasses define class names, preprocessing and decoding."""

    def __init__(self, config: YoloOnnxConfig) -> None:
        self.config = config
        self.model_path: Path = locate_model(config.model)
        self.session = onnx_session.open_session(self.model_path, config.session)
        self.input_name = self.session.get_inputs()[0].name
        self.input_hw = onnx_session.input_hw(self.session, self.model_path, config.input_hw)
        self.class_names = self._read_class_names()
        self.name = f"{config.type}:{self.model_path.name}"  # type: ignore[attr-defined]
        self.class_mask = self._class_mask(config.classes)
        self.group_of_class = self._nms_groups(config.nms_class_groups)
        self._buffers = threading.local()  # one input tensor per calling thread

    # -- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _read_class_names(self) -> tuple[str, ...]:
        """Class names in output order."""

    @abstractmethod
    def _preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], LetterboxInfo]:
        """(1, 3, H, W) float32 tensor and the mapping back to image pixels."""

    @abstractmethod
    def _decode(
        self, raw: NDArray[np.float32], info: LetterboxInfo, image_hw: tuple[int, int]
    ) -> Decoded:
        """Candidates above the score threshold: xyxy image px, score, class id, output row."""

    # -- common path ----------------------------------------------------------------------------
    def detect(self, frame: Frame) -> Detections:
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"frame {frame.source_id}#{frame.index}: expected (H, W, 3) uint8 BGR, "
                f"got {image.shape} {image.dtype}"
            )
        tensor, info = self._preprocess(image)
        try:
            raw = self.session.run(None, {self.input_name: tensor})[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(
                f"{self.model_path.name}: inference failed on frame {frame.source_id}#"
                f"{frame.index} ({type(exc).__name__}: {str(exc).strip()[:200]})"
            ) from None
        xyxy, score, class_id, row = self._decode(raw, info, frame.shape_hw)
        keep = nms(
            xyxy,
            score,
            self.config.nms_iou,
            group_id=self.group_of_class[class_id],
            max_det=self.config.max_detections,
        )
        return Detections(xyxy[keep], score[keep], class_id[keep], source_row=row[keep])

    def _input_buffer(self) -> NDArray[np.float32]:
        """A reused (1, 3, H, W) float32 input tensor owned by the calling thread.

        ``detect`` may be called from several threads at once (onnxruntime sessions allow
        concurrent ``run``); each thread fills its own buffer.
        """
        buffer = getattr(self._buffers, "tensor", None)
        if buffer is None:
            buffer = self._buffers.tensor = np.empty((1, 3, *self.input_hw), np.float32)
        return buffer

    def warmup(self) -> None:
        onnx_session.warmup(self.session, self.input_hw, self.model_path)

    def _class_mask(self, keep: tuple[str, ...] | None) -> NDArray[np.bool_]:
        mask = np.zeros(len(self.class_names), np.bool_)
        if keep is None:
            mask[:] = True
            return mask
        unknown = [name for name in keep if name not in self.class_names]
        if unknown:
            raise ModelError(
                f"{self.model_path}: classes {unknown} are not among the model's classes "
                f"({', '.join(self.class_names[:12])}{'...' if len(self.class_names) > 12 else ''})"
            )
        for name in keep:
            mask[self.class_names.index(name)] = True
        return mask

    def _nms_groups(self, groups: tuple[tuple[str, ...], ...] | None) -> NDArray[np.int32]:
        nc = len(self.class_names)
        group_of_class = np.arange(nc, dtype=np.int32) + nc  # default: every class on its own
        if groups is None:
            groups = (tuple(n for n in VEHICLE_CLASSES if n in self.class_names),)
        for g, names in enumerate(groups):
            for name in names:
                if name not in self.class_names:
                    raise ModelError(
                        f"{self.model_path}: nms_class_groups names unknown class {name!r}"
                    )
                group_of_class[self.class_names.index(name)] = g
        return group_of_class
