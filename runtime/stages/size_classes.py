"""Stage "size_classes": a track's height in the scene's own car heights settles light against
heavy (a car-sized ``truck`` is a car or van, a lorry-sized ``car`` an hgv) and classes
unclassed motion tracks (``vision/size_classes.py``; thresholds in ``road_classes``).

Runs after ``track`` and ``riders``: it needs track ids. Built only for a camera whose counts use
road-v1 (``road_classes: {size_classes: false}`` turns it off)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.traffic import counted_class_names, uses_road_classes

logger = logging.getLogger(__name__)


@register_stage
class SizeClassesStage(Stage):
    name = "size_classes"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, config: Any, class_names: tuple[str, ...]) -> None:
        self.config = config
        self.class_names = class_names

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> SizeClassesStage | None:
        detector = context.services["detector"]
        if not uses_road_classes(camera, detector) or not camera.road_classes.size_classes:
            return None
        return cls(camera.road_classes, counted_class_names(camera, detector))

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.vision.size_classes import SizeClasses

        self.sizes = SizeClasses(
            self.class_names,
            light_max=self.config.light_max_car_heights,
            heavy_min=self.config.heavy_min_car_heights,
        )

    def process(self, packet: Packet) -> Packet:
        if packet.roi_xyxy is not None:
            bounds = tuple(float(v) for v in packet.roi_xyxy)
        else:
            h, w = packet.frame.image.shape[:2]
            bounds = (0.0, 0.0, float(w), float(h))
        packet.detections = self.sizes(packet.detections, packet.frame.t_mono_s, bounds)
        return packet

    def forget(self, track_ids: Sequence[int]) -> list[Any]:
        if logger.isEnabledFor(logging.DEBUG):
            for tid in track_ids:
                size = self.sizes.measures(int(tid))
                if size is not None:
                    logger.debug("track %d: %.2f car heights", tid, size)
        self.sizes.forget(track_ids)
        return []
