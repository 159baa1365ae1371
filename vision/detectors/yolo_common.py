"""Shared machinery of the YOLO-family ONNX backends: preprocess -> infer -> decode -> grouped NMS.

The backends differ only in their input convention, output decoding and where class names come
from; each is one small file (``yolox.py``, ``ultralytics.py``) built on ``YoloOnnxDetector``.
Their shared settings are ``yolo_config.YoloOnnxConfig``.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import nms
from carbonedge.kernels.preprocess import LetterboxInfo
from carbonedge.runtime.base.errors import ModelError
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.coco import VEHICLE_CLASSES
from carbonedge.vision.detectors import onnx_session, roi
from carbonedge.vision.detectors.base import Detector
from carbonedge.vision.detectors.contrast import clahe_bgr
from carbonedge.vision.detectors.model_files import locate_model
from carbonedge.vision.detectors.roi import RoiBox
from carbonedge.vision.detectors.slices import merge_passes, slice_boxes
from carbonedge.vision.detectors.yolo_config import YoloOnnxConfig
from carbonedge.vision.detectors.zoom import ZoomConfig, cut_by_window, in_own_cell, part_of_whole
from carbonedge.vision.taxonomy import LABEL_TO_ROAD

logger = logging.getLogger(__name__)

Decoded = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32], NDArray[np.int32]]


# A box this much inside (intersection over its own area) a better box of its NMS group, from
# another slice or the whole-image pass, is the same road user seen cut: dropped.
_SLICE_IOS = 0.7


class YoloOnnxDetector(Detector):
    """ONNX Runtime detector; subclasses define class names, preprocessing and decoding."""

    #: A backend's decode + grouped NMS in one compiled call (``YoloxDecodeNms``,
    #: ``GflDecodeNms``), built once with the detector's settings; None: ``_decode`` then ``nms``.
    fused_decoder: ClassVar[type | None] = None
    _fused = None  # its instance (a backend with its own __init__, DEIMv2, has none)

    def __init__(self, config: YoloOnnxConfig) -> None:
        self.config = config
        self.model_path: Path = locate_model(config.model)
        self.session = onnx_session.open_session(self.model_path, config.session)
        self.input_name = self.session.get_inputs()[0].name
        self.input_hw = onnx_session.input_hw(self.session, self.model_path, config.input_hw)
        self.session_path = self.model_path  # the file the session runs (a resized variant?)
        if config.input_hw is not None and self.input_hw != tuple(config.input_hw):
            self._resize_model(tuple(config.input_hw))
        self.class_names = self._read_class_names()
        self.name = f"{config.type}:{self.model_path.name}"  # type: ignore[attr-defined]
        self.class_mask = self._class_mask(config.classes)
        self.group_of_class = self._nms_groups(config.nms_class_groups)
        self._fused = None if self.fused_decoder is None else self.fused_decoder(
            self.input_hw,
            len(self.class_names),
            score_threshold=config.score_threshold,
            iou_threshold=config.nms_iou,
            group_of_class=self.group_of_class,
            class_mask=self.class_mask,
            strides=config.strides,  # type: ignore[attr-defined]  # the fused backends have them
            max_det=config.max_detections,
        )  # fmt: skip
        self._buffers = threading.local()  # one input tensor per calling thread
        self._init_input_fit()

    # -- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _read_class_names(self) -> tuple[str, ...]:
        """Class names in output order."""

    @abstractmethod
    def _preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], LetterboxInfo]:
        """(1, 3, H, W) float32 tensor and the mapping back to image pixels."""

    def _decode(
        self, raw: NDArray[np.float32], info: LetterboxInfo, image_hw: tuple[int, int]
    ) -> Decoded:
        """Candidates above the score threshold: xyxy image px, score, class id, output row
        (a backend with a ``fused_decoder`` never needs it)."""
        raise NotImplementedError(f"{type(self).__name__} decodes with its fused_decoder")

    # -- common path ----------------------------------------------------------------------------
    def detect(
        self, frame: Frame, roi_xyxy: RoiBox | None = None, zoom_xyxy: Sequence[RoiBox] = ()
    ) -> Detections:
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"frame {frame.source_id}#{frame.index}: expected (H, W, 3) uint8 BGR, "
                f"got {image.shape} {image.dtype}"
            )
        if roi_xyxy is not None:
            _check_inside(roi_xyxy, frame)
            image = roi.crop(image, roi_xyxy)
        if self.config.contrast == "clahe":
            image = clahe_bgr(image)
        if tuple(self.config.slices) == (1, 1):
            sized = self._sized_for(frame.shape_hw, image.shape[:2]) if self._fit else self
            xyxy, score, class_id, row = sized._one_pass(image, frame)
        else:
            xyxy, score, class_id, row = self._sliced(image, frame)
        if roi_xyxy is not None:
            roi.to_frame_xyxy(xyxy, roi_xyxy)
        if zoom_xyxy and self.zoom is not None:  # a profile's detector may have zoom: off
            xyxy, score, class_id, row = self._zoomed(frame, (xyxy, score, class_id, row),
                                                      zoom_xyxy)  # fmt: skip
        return Detections(xyxy, score, class_id, source_row=row)

    def _one_pass(self, image: NDArray[np.uint8], frame: Frame) -> Decoded:
        """Boxes (image px) after NMS of one model run on ``image``."""
        tensor, info = self._preprocess(image)
        try:
            raw = self._infer(tensor, image.shape[:2])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(
                f"{self.model_path.name}: inference failed on frame {frame.source_id}#"
                f"{frame.index} ({type(exc).__name__}: {str(exc).strip()[:200]})"
            ) from None
        return self._decode_nms(raw, info, image.shape[:2])

    def _sliced(self, image: NDArray[np.uint8], frame: Frame) -> Decoded:
        """Every slice (and the whole image) run once, boxes merged across the passes."""
        rows, cols = self.config.slices
        boxes = slice_boxes(image.shape[:2], rows, cols, self.config.slice_overlap)
        if self.config.slice_full_image:
            boxes.insert(0, (0, 0, image.shape[1], image.shape[0]))
        parts = []
        for x0, y0, x1, y1 in boxes:
            xyxy, score, class_id, row = self._one_pass(image[y0:y1, x0:x1], frame)
            xyxy += np.array([x0, y0, x0, y0], np.float32)
            parts.append((xyxy, score, class_id, row))
        return self._merged(*(np.concatenate(p) for p in zip(*parts, strict=True)))

    def _zoomed(self, frame: Frame, whole: Decoded, windows: Sequence[RoiBox]) -> Decoded:
        """The whole-frame pass's boxes (frame px) merged with one model run per zoom window at
        the model's own input size: a box the window cuts, one another window sees nearer its
        middle, one the whole pass would see at ``zoom.below_px`` or taller (a window adds only
        small road users), or one that is a part of a larger whole-pass box
        (``zoom.part_of_whole``), is left out; the rest are merged with the
        whole pass's boxes like slices (the better score of one road user wins), each box
        tagged with its pass: one box inside another is dropped only across passes, never
        within the whole pass (its own NMS kept both; without windows it keeps both too)."""
        parts, window_of = [], []
        scale = self.model_px_per_frame_px(frame.shape_hw)  # frame px -> the whole pass's px
        for k, (x0, y0, x1, y1) in enumerate(windows):
            crop = frame.image[y0:y1, x0:x1]
            if self.config.contrast == "clahe":
                crop = clahe_bgr(crop)
            xyxy, score, class_id, row = self._one_pass(crop, frame)
            mine = ~cut_by_window(xyxy, (x0, y0, x1, y1), frame.shape_hw)  # window px
            xyxy += np.array([x0, y0, x0, y0], np.float32)
            mine &= in_own_cell(xyxy, k, windows)
            mine &= (xyxy[:, 3] - xyxy[:, 1]) * scale < self.config.zoom.below_px  # small ones
            parts.append((xyxy[mine], score[mine], class_id[mine], row[mine]))
            window_of.append(np.full(int(mine.sum()), k + 1, np.int32))
        xyxy, score, class_id, row = (np.concatenate(p) for p in zip(*parts, strict=True))
        window_h = max(y1 - y0 for _, y0, _, y1 in windows)
        part = part_of_whole(
            (xyxy, score, self.group_of_class[class_id]),
            (whole[0], whole[1], self.group_of_class[whole[2]]),
            window_h,
        )
        zoomed = (xyxy[~part], score[~part], class_id[~part], row[~part])
        pass_id = np.concatenate([np.zeros(len(whole[0]), np.int32),
                                  np.concatenate(window_of)[~part]])  # fmt: skip
        return self._merged(
            *(np.concatenate(p) for p in zip(whole, zoomed, strict=True)), pass_id=pass_id
        )

    def _merged(
        self,
        xyxy: NDArray[np.float32],
        score: NDArray[np.float32],
        class_id: NDArray[np.int32],
        row: NDArray[np.int32],
        pass_id: NDArray[np.int32] | None = None,
    ) -> Decoded:
        """The candidates of several passes over one image (image px) merged: grouped NMS, then
        a box mostly inside a better-scored one of its group dropped (``slices.merge_passes``)."""
        keep = merge_passes(
            xyxy,
            score,
            self.group_of_class[class_id],
            iou_threshold=self.config.nms_iou,
            ios_threshold=_SLICE_IOS,
            max_det=self.config.max_detections,
            pass_id=pass_id,
        )
        return xyxy[keep], score[keep], class_id[keep], row[keep]

    def _infer(self, tensor: NDArray[np.float32], image_hw: tuple[int, int]):
        """The model's raw output for one input tensor (a backend with several inputs or
        outputs overrides this); ``image_hw`` is the (cropped) image's size."""
        return self.session.run(None, {self.input_name: tensor})[0]

    def _decode_nms(
        self, raw: NDArray[np.float32], info: LetterboxInfo, image_hw: tuple[int, int]
    ) -> Decoded:
        """Decoded boxes after grouped NMS: the backend's ``fused_decoder`` (a backend with
        several outputs overrides this to hand them over), else ``_decode`` then ``nms``."""
        if self._fused is not None:
            return self._fused(raw, info, image_hw)
        xyxy, score, class_id, row = self._decode(raw, info, image_hw)
        keep = nms(
            xyxy,
            score,
            self.config.nms_iou,
            group_id=self.group_of_class[class_id],
            max_det=self.config.max_detections,
        )
        return xyxy[keep], score[keep], class_id[keep], row[keep]

    # -- input size and region of interest ------------------------------------------------------
    #: The preprocessing scales each axis to fill the input (no letterbox padding).
    stretches = False
    #: At most this many fitted sizes (sessions) per detector; more cameras share the base size.
    MAX_FITTED_SIZES = 8

    def _init_input_fit(self) -> None:
        """input_fit: one detector per fitted input size, made on first use (``_sized_for``)."""
        config = self.config
        self._fit = config.input_fit and config.input_hw is None and tuple(config.slices) == (1, 1)
        self._fitted: dict[tuple[int, int], YoloOnnxDetector] = {}
        self._fit_lock = threading.Lock()

    def input_fit_hw(self, frame_hw: tuple[int, int], image_hw: tuple[int, int]) -> tuple[int, int]:
        """The model input for an ``image_hw`` crop of a ``frame_hw`` frame (input_fit)."""
        return roi.fitted_input_hw(frame_hw, image_hw, self.input_hw, stretch=self.stretches)

    def _sized_for(self, frame_hw: tuple[int, int], image_hw: tuple[int, int]) -> YoloOnnxDetector:
        """This detector, or its copy running at the fitted input size (made once, warmed up;
        a model that cannot be resized, or one size too many, keeps this one)."""
        hw = self.input_fit_hw(frame_hw, image_hw)
        if hw == self.input_hw:
            return self
        sized = self._fitted.get(hw)
        if sized is not None:
            return sized
        with self._fit_lock:
            if hw not in self._fitted:
                self._fitted[hw] = self._make_sized(hw)
            return self._fitted[hw]

    def _make_sized(self, hw: tuple[int, int]) -> YoloOnnxDetector:
        if len(self._fitted) >= self.MAX_FITTED_SIZES:
            logger.warning("%s: %d input sizes already; %dx%d runs at %dx%d", self.name,
                           len(self._fitted), *hw, *self.input_hw)  # fmt: skip
            return self
        update = {"input_hw": hw, "input_fit": False, "roi": None, "contrast": "none"}
        try:
            sized = type(self)(self.config.model_copy(update=update))
            sized.warmup()
        except (ModelError, ValueError) as exc:
            logger.warning("%s: keeps its %dx%d input (input_fit: %s)", self.name,
                           *self.input_hw, exc)  # fmt: skip
            return self
        logger.info("%s: runs at %dx%d for %s", self.name, *hw, "its crop")
        return sized

    def _resize_model(self, input_hw: tuple[int, int]) -> None:
        """Swap the session for one on the model rewritten to ``input_hw`` (cached)."""
        from carbonedge.vision.detectors.model_variants import resized_model

        strides = tuple(getattr(self.config, "strides", (8, 16, 32)))
        self.session_path = resized_model(self.model_path, input_hw, strides)
        self.session = onnx_session.open_session(self.session_path, self.config.session)
        self.input_hw = onnx_session.input_hw(self.session, self.session_path)
        logger.info("%s runs at %dx%d: %s", self.model_path.name, *input_hw, self.session_path)

    @property
    def detect_fps(self) -> float | None:
        return self.config.detect_fps

    @property
    def roi(self) -> Literal["auto"] | RoiBox | None:
        return self.config.roi

    @property
    def zoom(self) -> ZoomConfig | None:
        return None if self.config.zoom.mode == "off" else self.config.zoom

    def model_px_per_frame_px(self, frame_hw: tuple[int, int]) -> float:
        """Model input px per frame px, vertically, in a whole-frame pass (how tall a road user
        of the frame looks to the model)."""
        sy, sx = self.input_hw[0] / frame_hw[0], self.input_hw[1] / frame_hw[1]
        return sy if self.stretches else min(sy, sx)

    def model_px_per_frame_px_xy(self, frame_hw: tuple[int, int]) -> tuple[float, float]:
        sy, sx = self.input_hw[0] / frame_hw[0], self.input_hw[1] / frame_hw[1]
        return (sx, sy) if self.stretches else (min(sy, sx),) * 2

    @property
    def roi_learn_vehicles(self) -> int | None:
        learn = self.config.roi == "auto" and self.config.roi_margin_px is None
        return self.config.roi_learn_vehicles if learn else None

    @property
    def roi_learned(self) -> str:
        return self.config.roi_learned

    def roi_box(
        self,
        frame_hw: tuple[int, int],
        regions_px: Sequence[NDArray] = (),
        margin_px: float | Sequence[float] | None = None,
    ) -> RoiBox | None:
        """The crop for a camera's frames of ``frame_hw`` (height, width) whose lines and zones
        are ``regions_px`` (each (K, 2) x, y px): the configured ``roi`` (``auto``: around the
        regions, grown by ``roi_margin_px``; a fixed box: clipped to the frame), grown towards
        the model input's aspect ratio; None for the whole frame (no ``roi``, ``auto`` with no
        regions, or a box that grew to the whole frame). ``margin_px`` (learned by the ROI
        stage) stands in for a ``roi_margin_px`` of None; with neither, ``auto`` is the whole
        frame (still learning). With ``input_fit`` the box is not grown: the model input is
        sized to it. ``ValueError`` when it lies outside the frame. Pure: the caller (the ROI
        stage) keeps it per camera and frame size."""
        if self.config.roi is None:
            return None
        if self.config.roi == "auto":
            margin = self.config.roi_margin_px if margin_px is None else margin_px
            if margin is None:
                return None
            box = roi.auto_roi(regions_px, frame_hw, margin)
        else:
            box = roi.clip_roi(self.config.roi, frame_hw)
        if box is None:
            return None
        if not self._fit:
            box = roi.fit_aspect(box, frame_hw, self.input_hw)
        return None if box == (0, 0, frame_hw[1], frame_hw[0]) else box

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

    def _class_mask(self, keep: Literal["road"] | tuple[str, ...] | None) -> NDArray[np.bool_]:
        mask = np.zeros(len(self.class_names), np.bool_)
        if keep == "road":
            keep = tuple(n for n in self.class_names if LABEL_TO_ROAD.get(n))
            if not keep:  # a model of other labels (a one-class "vehicle" model): all of them
                keep = None
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


def _check_inside(box: RoiBox, frame: Frame) -> None:
    """``ValueError`` naming the frame unless 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height."""
    h, w = frame.shape_hw
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(
            f"frame {frame.source_id}#{frame.index}: roi {list(box)} is not inside the "
            f"{w}x{h} frame"
        )
