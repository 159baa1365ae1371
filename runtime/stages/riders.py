"""Stage "riders": a tracked pedestrian moving at vehicle speed (or squat and faster than a walk,
or along the vehicles' flow where they drive) is a rider, counted as a two-wheeler
(``vision/riders.py``; thresholds in ``road_classes``).

Runs after ``track``: it needs track ids and times. Built only for a camera whose counts use
road-v1 (``road_classes: {rider_speed_heights_per_s: null}`` turns it off)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.traffic import uses_road_classes

logger = logging.getLogger(__name__)


@register_stage
class RidersStage(Stage):
    name = "riders"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> RidersStage | None:
        if not uses_road_classes(camera, context.services["detector"]):
            return None
        if camera.road_classes.rider_speed_heights_per_s is None:
            return None
        return cls(camera.road_classes)

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.vision.riders import RiderSpeeds
        from carbonedge.vision.taxonomy import ROAD_V1

        self.riders = RiderSpeeds(
            pedestrian=ROAD_V1.index("pedestrian"),
            rider=ROAD_V1.index(self.config.rider_class),
            vehicles=tuple(ROAD_V1.index(n) for n in ("car", "van", "bus", "hgv", "motorcycle")),
            speed_heights_per_s=self.config.rider_speed_heights_per_s,
            squat_speed_heights_per_s=self.config.rider_squat_speed_heights_per_s,
            squat_max_aspect=self.config.rider_squat_max_aspect,
            flow_speed_heights_per_s=self.config.rider_flow_speed_heights_per_s,
        )  # fmt: skip

    def process(self, packet: Packet) -> Packet:
        packet.detections = self.riders(
            packet.detections, packet.frame.t_mono_s, packet.frame.image.shape[:2]
        )
        return packet

    def forget(self, track_ids: Sequence[int]) -> list[Any]:
        if logger.isEnabledFor(logging.DEBUG):
            for tid in track_ids:
                seen = self.riders.measures(int(tid))
                if seen is not None:
                    logger.debug(
                        "pedestrian track %d: %.2f heights/s at most, h/w %.2f", tid, *seen
                    )
        self.riders.forget(track_ids)
        return []
