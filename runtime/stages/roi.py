"""Stage "roi": the part of the frame the shared detector looks at, on ``packet.roi_xyxy``.

The detector's config says what it wants (``roi: auto``: around the camera's lines and zones,
grown by ``roi_margin_px``; or a fixed [x0, y0, x1, y1] px box) and ``Detector.roi_box`` turns
that and this camera's lines and zones into the final box (grown to the model input's aspect
ratio). This stage keeps the box of the camera's current frame size, so the detector itself keeps
no per-camera state and one instance serves every camera. Built only when the detector has a
``roi`` and the camera counts traffic (no detect stage otherwise).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Frame, Packet
from carbonedge.runtime.stages.traffic import regions_px

if TYPE_CHECKING:  # importing the detectors package loads onnxruntime
    from numpy.typing import NDArray

    from carbonedge.vision.detectors.roi import RoiBox

logger = logging.getLogger(__name__)

__all__ = ["RoiStage"]


@register_stage
class RoiStage(Stage):
    """Sets ``packet.roi_xyxy`` (None: the whole frame) for the detect stage."""

    name = "roi"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, detector: Any, regions: list[NDArray]) -> None:
        """``detector``: the shared detector (its ``roi`` and ``roi_box``); ``regions``: the
        camera's lines and zones, each (K, 2) x, y px."""
        self.detector = detector
        self.regions = regions
        self._box: tuple[tuple[int, int], RoiBox | None] | None = None  # (frame hw, its box)

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> RoiStage | None:
        detector = context.services["detector"]
        if getattr(detector, "roi", None) is None:
            return None
        return cls(detector, regions_px(camera))

    def process(self, packet: Packet) -> Packet:
        frame = packet.frame
        if self._box is None or self._box[0] != frame.shape_hw:  # first frame, or a new size
            self._box = (frame.shape_hw, self._compute(frame))
        packet.roi_xyxy = self._box[1]
        return packet

    def _compute(self, frame: Frame) -> RoiBox | None:
        """The box for ``frame``'s size; ``ValueError`` naming the frame when it is outside."""
        where = f"frame {frame.source_id}#{frame.index}"
        if self.detector.roi == "auto" and not self.regions:
            logger.warning("%s: roi auto, but no lines or zones: whole frame", where)
        try:
            box = self.detector.roi_box(frame.shape_hw, self.regions)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        logger.info("%s: detecting inside %s", where, box or "the whole frame")
        return box
