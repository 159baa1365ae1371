"""DEIMv2 backend (Intellindust DEIMv2, DETR-style, NMS-free): ``deimv2_hgnetv2_femto_coco.onnx``.

Inputs: ``images`` [N, 3, 416, 416], the whole frame (or ROI crop) resized without keeping the
aspect ratio (bilinear), RGB / 255, no mean/std; ``orig_target_sizes`` [N, 2] int64, the
frame's ``[[width, height]]``. Outputs (post-processing inside the graph): ``labels`` [N, 300]
COCO-80 class ids, ``boxes`` [N, 300, 4] xyxy in frame px (not clipped), ``scores`` [N, 300].

The 300 rows are the best (query, class) pairs of 150 queries, so one query can come twice with
the same box and two classes (the same car as ``car 0.75`` and ``truck 0.42``): after the
threshold and the class mask a row whose box duplicates a higher-scoring kept row (IoU >= 0.95,
whatever the classes) is dropped, then the usual grouped NMS of the vehicle classes runs (the
queries also give a few near-identical boxes that are not exact duplicates).

Default ``score_threshold`` 0.5, the top of the 0.4-0.5 that MODELS.md gives. Seen on the CDnet
highway clip (320x240, every 5th frame, 340 frames, boxes drawn and looked at): clearly visible
cars score 0.6-0.9 with tight boxes, a box truck 0.37-0.6 from frame to frame (its rows as car
and as truck often share one box). The model also puts one large box over the whole road,
labelled ``train`` (a road class by default) or ``truck``, at up to 0.61: on 83 of the 340 frames
at 0.4, 54 at 0.45, 22 at 0.5 (1 at 0.6, which also loses a fifth of the car boxes, the small far
ones). Car rows above the threshold: 1257 at 0.4, 1212 at 0.45, 1147 at 0.5. The audit of the
clip counts 27 of 27 at 0.4, 0.45 and 0.5 alike (the road box's bottom edge stays at the frame's
bottom, so it never crosses a line there), hence 0.5: the fewest spurious boxes for the same
count. On the COCO street image the taxi, the van (truck), the SUV and two more cars score
0.58-0.87.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.kernels import nms
from carbonedge.kernels.preprocess import Letterbox, LetterboxInfo
from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.coco import COCO80
from carbonedge.vision.detectors import onnx_session
from carbonedge.vision.detectors.base import register_detector
from carbonedge.vision.detectors.model_files import locate_model
from carbonedge.vision.detectors.yolo_common import Decoded, YoloOnnxDetector
from carbonedge.vision.detectors.yolo_config import YoloOnnxConfig

logger = logging.getLogger(__name__)

#: Rows whose boxes overlap a higher-scoring kept row at least this much are the same query.
DUPLICATE_IOU = 0.95
# nms drops IoU > threshold; the float32 just below 0.95 makes that IoU >= 0.95 (nms is float32).
_DUPLICATE_NMS_IOU = float(np.nextafter(np.float32(DUPLICATE_IOU), np.float32(0.0)))
_OUTPUTS = ("labels", "boxes", "scores")


class Deimv2Config(YoloOnnxConfig):
    type: Literal["deimv2"] = "deimv2"
    model: str = Field(
        "deimv2_hgnetv2_femto_coco.onnx",
        description="ONNX model file (name in the model folder, or a path)",
    )
    score_threshold: float = Field(
        0.5, gt=0, le=1, description="0.5: below it the model boxes the whole road now and then"
    )


def _describe(args) -> str:
    return ", ".join(f"{a.name} {list(a.shape)} {a.type}" for a in args)


@register_detector("deimv2", Deimv2Config)
class Deimv2Detector(YoloOnnxDetector):
    """DEIMv2 ONNX export with its post-processor (two inputs, labels/boxes/scores outputs)."""

    config: Deimv2Config

    stretches = True  # the image is stretched to the input (per-axis scales)

    def __init__(self, config: Deimv2Config) -> None:
        # Not YoloOnnxDetector.__init__: that one expects a single image input.
        self.config = config
        self.model_path = locate_model(config.model)
        self.session = onnx_session.open_session(self.model_path, config.session)
        self.session_path = self.model_path
        self.input_name, self.size_name, self.input_hw = self._check_model()
        self.class_names = self._read_class_names()
        self.name = f"{config.type}:{self.model_path.name}"
        self.class_mask = self._class_mask(config.classes)
        self.group_of_class = self._nms_groups(config.nms_class_groups)
        self._init_input_fit()
        self._letterbox = Letterbox(self.input_hw, mode="stretch", swap_rb=True, std=(255.0,) * 3)
        self._buffers = threading.local()  # one input tensor per calling thread

    def _check_model(self) -> tuple[str, str, tuple[int, int]]:
        """(image input name, size input name, (h, w)), or ``ModelError`` naming the file."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        images = [i for i in inputs if len(i.shape) == 4 and i.type == "tensor(float)"]
        sizes = [i for i in inputs if len(i.shape) == 2 and i.type == "tensor(int64)"]
        if (
            len(inputs) != 2
            or len(images) != 1
            or len(sizes) != 1
            or images[0].shape[1] not in (3, "3")
            or not set(_OUTPUTS) <= {o.name for o in outputs}
        ):
            raise ModelError(
                f"{self.model_path}: expected a DEIMv2 export with its post-processor (inputs "
                "images [N, 3, H, W] float32 and orig_target_sizes [N, 2] int64; outputs labels, "
                f"boxes, scores), got inputs {_describe(inputs)}; outputs {_describe(outputs)}"
            )
        h, w = images[0].shape[2:]
        wanted = self.config.input_hw
        if isinstance(h, int) and isinstance(w, int):
            if wanted is not None and tuple(wanted) != (h, w):
                raise ModelError(
                    f"{self.model_path}: a DEIMv2 model runs only at its export size {h}x{w} "
                    f"(h x w), not input_hw {list(wanted)}; remove input_hw from the config"
                )
            return images[0].name, sizes[0].name, (h, w)
        if wanted is None:
            raise ModelError(
                f"{self.model_path}: the input size is dynamic ({images[0].shape}); set input_hw"
            )
        return images[0].name, sizes[0].name, (int(wanted[0]), int(wanted[1]))

    def _read_class_names(self) -> tuple[str, ...]:
        return COCO80

    def _preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], LetterboxInfo]:
        return self._letterbox(image, out=self._input_buffer())

    def _infer(self, tensor: NDArray[np.float32], image_hw: tuple[int, int]):
        """Boxes come back in the pixels of ``orig_target_sizes`` ([[width, height]])."""
        h, w = image_hw
        feed = {self.input_name: tensor, self.size_name: np.array([[w, h]], np.int64)}
        return self.session.run(list(_OUTPUTS), feed)

    def _decode(self, raw, info: LetterboxInfo, image_hw: tuple[int, int]) -> Decoded:
        """Rows above the threshold in the class mask, boxes clipped to the image, duplicates of
        a higher-scoring row dropped; ``raw`` is the model's (labels, boxes, scores)."""
        labels, boxes, scores = (np.asarray(a) for a in raw)
        n = scores.size
        if labels.size != n or boxes.size != 4 * n:
            raise ModelError(
                f"{self.model_path.name}: expected labels [1, Q], boxes [1, Q, 4] and scores "
                f"[1, Q], got {list(labels.shape)}, {list(boxes.shape)}, {list(scores.shape)}"
            )
        labels, boxes, scores = labels.reshape(n), boxes.reshape(n, 4), scores.reshape(n)
        # Step 1: threshold and class mask (a label outside the class list is never kept).
        known = (labels >= 0) & (labels < len(self.class_names))
        class_id = np.where(known, labels, 0).astype(np.int32)
        threshold = np.float32(self.config.score_threshold)
        keep = known & self.class_mask[class_id] & (scores >= threshold)
        keep &= np.isfinite(boxes).all(axis=1)
        row = np.flatnonzero(keep).astype(np.int32)
        # Step 2: boxes clipped to the image.
        h, w = image_hw
        xyxy = np.clip(boxes[row], 0, np.array([w, h, w, h], np.float32)).astype(np.float32)
        score = scores[row].astype(np.float32)
        # Step 3: one query under two classes: keep the higher-scoring row only.
        unique = nms(xyxy, score, _DUPLICATE_NMS_IOU, max_det=max(len(row), 1))
        return xyxy[unique], score[unique], class_id[row][unique], row[unique]

    def warmup(self) -> None:
        h, w = self.input_hw
        feed = {
            self.input_name: np.zeros((1, 3, h, w), np.float32),
            self.size_name: np.array([[w, h]], np.int64),
        }
        try:
            self.session.run(list(_OUTPUTS), feed)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(
                f"{self.model_path}: the first (warm-up) inference failed ({type(exc).__name__}: "
                f"{str(exc).strip()[:200]})"
            ) from None
