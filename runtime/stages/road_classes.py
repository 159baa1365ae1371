"""Stage "road_classes": the detector's labels mapped into the road taxonomy (road-v1), riders
folded into their two-wheelers, per-class minimum scores and sizes (a class whose minimum is
below the tracker's new-track score has its scores stretched onto it, so it can start tracks);
owns ``taxonomy``."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.sections import register_section
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.section_schema import section_schema
from carbonedge.runtime.stages.traffic import uses_road_classes

register_section(
    "taxonomy",
    schema=section_schema("taxonomy"),
    owner="road_classes",
    merge=lambda a, b, _ba, _bb: a or b,
)  # fmt: skip


@register_stage
class RoadClassesStage(Stage):
    name = "road_classes"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)
    sections = ("taxonomy",)

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> RoadClassesStage | None:
        detector = context.services["detector"]
        if not uses_road_classes(camera, detector):
            return None
        from carbonedge.vision.taxonomy import RoadClasses

        start = getattr(getattr(camera, "tracker", None), "new_track_score", None)
        return cls(
            RoadClasses(camera.road_classes, tuple(detector.class_names), track_start_score=start)
        )

    def process(self, packet: Packet) -> Packet:
        packet.detections = self.mapper(packet.detections)
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        return {"taxonomy": self.mapper.taxonomy}
