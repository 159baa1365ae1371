"""Stage "exclusion": drop detections anchored inside the camera's exclusion masks (parked cars,
billboards), one raster lookup per frame."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet


@register_stage
class ExclusionStage(Stage):
    name = "exclusion"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, camera: Any) -> None:
        from carbonedge.calibration.masks import ExclusionFilter, counting_anchor

        anchor = counting_anchor(camera.lines, camera.zones)
        self.filter = ExclusionFilter(camera.masks, anchor)

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> ExclusionStage | None:
        masks = camera.masks
        if masks is None or masks.empty or not masks.exclusion_px:
            return None
        return cls(camera)

    def process(self, packet: Packet) -> Packet:
        packet.detections = self.filter.keep(packet.detections, packet.frame.shape_hw)
        return packet
