"""PP-PicoDet backend (PaddleDetection, 2021 release, GFL head): ``picodet_s_416_coco.onnx``.

Input ``image`` [1, 3, 416, 416]: the whole frame (or ROI crop) resized without keeping the
aspect ratio (bilinear), RGB, ``(x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]``.
Outputs, PaddleDetection's export without post-processing: for each stride (8, 16, 32, 64) the
class probabilities [1, A_l, 80] (sigmoid applied, no objectness), then for each stride the box
distributions [1, A_l, 4 * 8] (left, top, right, bottom logits over 8 bins); decoded by
:func:`carbonedge.kernels.decode_gfl` from the cell centres, then grouped NMS.

Default ``score_threshold`` 0.1, the tracker's ``low_score``: what starts a track is the tracker's
``high_score``/``new_track_score`` (0.4/0.45) and each road class's ``min_score``, so the boxes
under them only keep existing tracks going (ByteTrack's second association, its point) and give
a new track its past (backfill, ``vision/tracking/backfill.py``). At MODELS.md's 0.35-0.4 they
never reached the tracker. Measured on the daylight truth clips (development figures, README
"Low-score boxes and backfill"): far, small and half-hidden vehicles score 0.1-0.4 for most of
their way to the line. Seen on the CDnet highway clip (every 5th frame, 340 frames, after NMS):
clearly visible cars score 0.7-0.9 in several neighbouring cells each (NMS keeps one box), far
cars 0.3-0.5; like DEIMv2 it puts a large ``train`` (now and then ``bus``) box over the road at
0.35-0.51 (``train`` needs 0.65 in road-v1, ``vision/taxonomy.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.kernels import GflDecodeNms, gfl_grid_cells
from carbonedge.kernels.preprocess import Letterbox, LetterboxInfo
from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.coco import COCO80
from carbonedge.vision.detectors.base import register_detector
from carbonedge.vision.detectors.yolo_common import Decoded, YoloOnnxDetector
from carbonedge.vision.detectors.yolo_config import YoloOnnxConfig

# ImageNet mean and std of R, G, B in pixel units (the tensor's channel order after the swap).
_MEAN_RGB = (123.675, 116.28, 103.53)
_STD_RGB = (58.395, 57.12, 57.375)


class PicodetConfig(YoloOnnxConfig):
    type: Literal["picodet"] = "picodet"
    model: str = Field(
        "picodet_s_416_coco.onnx",
        description="ONNX model file (name in the model folder, or a path)",
    )
    score_threshold: float = Field(
        0.1,
        gt=0,
        le=1,
        description="detections below this confidence are dropped; 0.1, the tracker's "
        "low_score: boxes under its high_score only continue tracks and backfill new ones",
    )
    strides: tuple[Annotated[int, Field(ge=1, le=1024)], ...] = Field(
        (8, 16, 32, 64), min_length=1, description="px per cell of each output level, in order"
    )


@register_detector("picodet", PicodetConfig)
class PicodetDetector(YoloOnnxDetector):
    config: PicodetConfig

    stretches = True  # the image is stretched to the input (per-axis scales)
    fused_decoder = GflDecodeNms

    def __init__(self, config: PicodetConfig) -> None:
        super().__init__(config)
        self._letterbox = Letterbox(
            self.input_hw, mode="stretch", swap_rb=True, mean=_MEAN_RGB, std=_STD_RGB
        )

    def _read_class_names(self) -> tuple[str, ...]:
        """COCO-80, after checking the outputs: per stride scores, then per stride boxes."""
        outputs = self.session.get_outputs()
        levels = len(self.config.strides)
        try:
            cells = gfl_grid_cells(self.input_hw, self.config.strides)
        except ValueError as exc:
            raise ModelError(f"{self.model_path}: {exc}") from None
        shapes = [o.shape for o in outputs]
        ok = len(shapes) == 2 * levels and all(len(s) == 3 for s in shapes)
        if ok:
            for level, n in enumerate(cells):
                score_shape, box_shape = shapes[level], shapes[levels + level]
                bins4 = box_shape[2]  # 4 sides x bins (8 for PicoDet)
                ok &= score_shape[2] == len(COCO80) and isinstance(bins4, int) and bins4 % 4 == 0
                ok &= all(not isinstance(s[1], int) or s[1] == n for s in (score_shape, box_shape))
        if not ok:
            h, w = self.input_hw
            expected = [[1, n, len(COCO80)] for n in cells] + [[1, n, "4*bins"] for n in cells]
            raise ModelError(
                f"{self.model_path}: expected a PicoDet export without post-processing for a "
                f"{h}x{w} input, strides {list(self.config.strides)}: {2 * levels} outputs "
                f"{expected} (class scores per stride, then box bins per stride); got "
                f"{len(shapes)} outputs {[list(s) for s in shapes]}"
            )
        return COCO80

    def _preprocess(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], LetterboxInfo]:
        return self._letterbox(image, out=self._input_buffer())

    def _infer(self, tensor: NDArray[np.float32], image_hw: tuple[int, int]):
        return self.session.run(None, {self.input_name: tensor})  # every level's outputs

    def warmup(self) -> None:
        """One dummy inference, decoded: the GFL kernel compiles (or loads its cache) now."""
        h, w = self.input_hw
        try:
            raw = self.session.run(None, {self.input_name: np.zeros((1, 3, h, w), np.float32)})
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(
                f"{self.model_path}: the first (warm-up) inference failed ({type(exc).__name__}: "
                f"{str(exc).strip()[:200]})"
            ) from None
        self._decode_nms(raw, LetterboxInfo(1.0, 1.0, 0.0, 0.0), (h, w))

    def _decode_nms(self, raw, info: LetterboxInfo, image_hw: tuple[int, int]) -> Decoded:
        """Decode and grouped NMS in one compiled call (:class:`GflDecodeNms`): the score
        outputs of every level, then the box distributions."""
        levels = len(self.config.strides)
        try:
            return self._fused(raw[:levels], raw[levels:], info, image_hw)  # type: ignore[misc]
        except ValueError as exc:  # shapes the declared outputs did not announce
            raise ModelError(f"{self.model_path.name}: unexpected outputs ({exc})") from None
