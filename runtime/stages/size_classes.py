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
from carbonedge.vision.size_classes import SizeClasses

logger = logging.getLogger(__name__)


@register_stage
class SizeClassesStage(Stage):
    name = "size_classes"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    #: Cars shorter than this at a counting line: the technician gets a hint (``/healthz``,
    #: log). On the truth clips, lines with cars under 14 px at their far end matched 56 % of
    #: their vehicle crossings, lines with 14 px and taller 89 % (README, "Road taxonomy").
    SMALL_CAR_PX = 14.0

    def __init__(
        self, config: Any, class_names: tuple[str, ...], lines: Sequence[Any] = ()
    ) -> None:
        self.lines = tuple(lines)
        self._reported = False
        # made here, not in start(): /healthz may ask for the snapshot before the first frame
        self.sizes = SizeClasses(
            class_names,
            light_max=config.light_max_car_heights,
            heavy_min=config.heavy_min_car_heights,
        )

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> SizeClassesStage | None:
        detector = context.services["detector"]
        if not uses_road_classes(camera, detector) or not camera.road_classes.size_classes:
            return None
        return cls(camera.road_classes, counted_class_names(camera, detector), camera.lines)

    def process(self, packet: Packet) -> Packet:
        if packet.roi_xyxy is not None:
            bounds = tuple(float(v) for v in packet.roi_xyxy)
        else:
            h, w = packet.frame.image.shape[:2]
            bounds = (0.0, 0.0, float(w), float(h))
        packet.detections = self.sizes(packet.detections, packet.frame.t_mono_s, bounds)
        if not self._reported and self.sizes.scale.coef is not None:
            self._reported = True
            self._report(packet.frame.source_id)
        return packet

    def _report(self, camera_id: str) -> None:
        """Once the car scale is learned: each line's car heights (a warning where small)."""
        snap = self.snapshot()
        heights = snap["car_height_px"]
        if "hint" in snap:
            logger.warning("camera %s: car heights at the lines %s px; %s", camera_id, heights,
                           snap["hint"])  # fmt: skip
        else:
            logger.info("camera %s: car heights at the lines %s px", camera_id, heights)

    def snapshot(self) -> dict[str, Any]:
        """What ``/healthz`` shows: the scene's car scale, learning or learned, with each
        counting line's car height (px) at its two ends and a hint where cars are small."""
        scale = self.sizes.scale
        if scale.coef is None:
            return {"state": "learning", "cars_seen": scale.cars_seen,
                    "cars_needed": scale.min_tracks}  # fmt: skip
        heights = {  # 0: the line lies above where cars shrink to nothing (near the horizon)
            line.id: [round(max(0.0, scale.height_px(float(y))), 1)  # type: ignore[arg-type]
                      for y in (line.start_px[1], line.end_px[1])]
            for line in self.lines
        }  # fmt: skip
        out: dict[str, Any] = {"state": "learned", "car_height_px": heights}
        small = [lid for lid, ends in heights.items() if min(ends) < self.SMALL_CAR_PX]
        if small:
            out["hint"] = (
                f"cars are under {self.SMALL_CAR_PX:g} px tall at line(s) {', '.join(small)}: "
                "the detector misses many vehicles that small; zoom the camera in or count on "
                "a line nearer to it"
            )
        return out

    def forget(self, track_ids: Sequence[int]) -> list[Any]:
        if logger.isEnabledFor(logging.DEBUG):
            for tid in track_ids:
                size = self.sizes.measures(int(tid))
                if size is not None:
                    logger.debug("track %d: %.2f car heights", tid, size)
        self.sizes.forget(track_ids)
        return []
