"""The settings shared by the YOLO-family ONNX backends (``yolo_common.YoloOnnxDetector``): the
model, classes, thresholds, NMS, input size, the crop (``roi``), the detection rate
(``detect_fps``), slices, zoom windows, contrast and the ONNX Runtime session."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from carbonedge.vision.detectors import onnx_session, roi
from carbonedge.vision.detectors.base import DetectorConfig
from carbonedge.vision.detectors.zoom import ZoomConfig

__all__ = ["YoloOnnxConfig"]

_SidePx = Annotated[int, Field(ge=32, le=4096)]
_MarginPx = Annotated[float, Field(ge=0, le=4096)]
_SliceCount = Annotated[int, Field(ge=1, le=8)]


class YoloOnnxConfig(DetectorConfig):
    """Settings common to the ONNX YOLO-family backends."""

    model: str = Field(min_length=1, description="file name (searched) or path of the .onnx file")
    classes: Literal["road"] | tuple[str, ...] | None = Field(
        "road",
        description="class names to keep: 'road' (every label of the model that is a road user "
        "in road-v1: person, bicycle, car, motorcycle, bus, train, truck for COCO; all labels of "
        "a model with none of them), a list (names missing from the model are an error) or None "
        "(all)",
    )
    score_threshold: float = Field(
        0.3,
        gt=0,
        le=1,
        description="detections below this confidence are dropped",
    )
    nms_iou: float = Field(
        0.45,
        gt=0,
        le=1,
        description="boxes overlapping more than this IoU are merged by non-maximum suppression",
    )
    nms_class_groups: tuple[tuple[str, ...], ...] | None = Field(
        None,
        description="classes suppressed together by NMS; None: all vehicle classes form one group, "
        "every other class is suppressed on its own",
    )
    max_detections: int = Field(
        300,
        ge=1,
        le=10000,
        description="detections kept per frame at most",
    )
    input_hw: tuple[_SidePx, _SidePx] | None = Field(
        None,
        description="(height, width) px of the model input, multiples of 32: needed for a model "
        "with a dynamic input size; for a fixed-size model another size runs a rewritten copy "
        "(made once, cached: vision/detectors/model_variants.py)",
    )
    roi: Literal["auto"] | tuple[int, int, int, int] | None = Field(
        "auto",
        description="detect only inside this region: 'auto' (the source's lines and zones plus "
        "roi_margin_px; the whole frame for a camera with neither) or [x0, y0, x1, y1] "
        "full-frame px; None: always the whole frame",
    )
    roi_margin_px: (
        Annotated[float, Field(ge=0, le=4096)]
        | tuple[_MarginPx, _MarginPx, _MarginPx, _MarginPx]
        | None
    ) = Field(
        None,
        description="margin around lines/zones for roi 'auto': px, or [left, top, right, "
        "bottom]; None: learned per camera: the whole frame until roi_learn_vehicles vehicles "
        "were seen at the lines, then margins from their box sizes (logged, in /healthz)",
    )
    roi_learn_vehicles: int = Field(
        8,
        ge=1,
        le=1000,
        description="vehicles (tracks) seen at the lines before the roi crop is learned",
    )
    roi_learned: Literal["propose", "apply"] = Field(
        "propose",
        description="a learned roi crop: 'propose' (logged and shown in /healthz with the "
        "roi_margin_px that pins it; detection stays whole-frame) or 'apply' (detect inside it "
        "from then on)",
    )
    detect_fps: float | None = Field(
        25.0,
        gt=0,
        le=1000,
        description="a camera's frames per second that go through the detector, the tracker and "
        "the traffic analytics at most: every k-th frame, k = source fps // detect_fps (a 30 fps "
        "camera at 12: every 2nd; a 60 fps one at the default 25: every 2nd, a 30 fps one: "
        "every frame); the frames between skip them, timestamps keep speeds and idle times "
        "right (runtime/stride.py); None: every frame",
    )
    input_fit: bool = Field(
        True,
        description="size the model input to the detector's image (the roi crop, or the whole "
        "frame without letterbox padding) at the scale the whole frame gets in the model's own "
        "input, rounded up to 32 px; off when input_hw or slices are set. A model that cannot be "
        "resized keeps its size (logged once)",
    )
    slices: tuple[_SliceCount, _SliceCount] = Field(
        (1, 1),
        description="(rows, cols) overlapping slices of the detector's image (the frame, or the "
        "roi crop), each run through the model at full input size, for small and far road "
        "users (SAHI-style; vision/detectors/slices.py); (1, 1): one pass. Costs one model run "
        "per slice",
    )
    slice_overlap: float = Field(
        0.2, ge=0, lt=1, description="overlap of neighbouring slices, fraction of a slice's side"
    )
    slice_full_image: bool = Field(
        True,
        description="with slices, also run the whole image once (vehicles larger than a slice, or "
        "cut by a slice border)",
    )
    zoom: ZoomConfig = Field(
        default_factory=ZoomConfig,
        description="windows around the lines and zones where road users stand small, run "
        "through the model at a higher zoom and merged with the whole-frame pass "
        "(vision/detectors/zoom.py); 'off', 'on' or 'auto' (the default) as a shorthand",
    )
    contrast: Literal["none", "clahe"] = Field(
        "none",
        description="local contrast normalisation of the detector's image before the model: "
        "'clahe' (contrast-limited adaptive histogram equalisation of the lightness, for glare, "
        "haze and dusk; vision/detectors/contrast.py) or 'none'",
    )
    session: onnx_session.SessionConfig = Field(
        onnx_session.SessionConfig(),
        description="ONNX Runtime session options",
    )

    @field_validator("input_hw")
    @classmethod
    def _input_hw_multiple_of_32(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and (value[0] % 32 or value[1] % 32):
            raise ValueError(
                f"input_hw (height, width) must be multiples of 32 px (the largest stride), "
                f"got {list(value)}; e.g. {[max(32, round(v / 32) * 32) for v in value]}"
            )
        return value

    @field_validator("roi")
    @classmethod
    def _roi_box(cls, value):
        return value if value is None or value == "auto" else roi.check_roi_box(value)
