"""Stage "loops": virtual loops on the camera's lines count small road users the tracker missed.

One ``VirtualLoop`` per line (``vision/counting/loops.py``): the line's pixels against the
empty road, every frame the vehicle stages see. A road user that crossed where the line counter
saw no track cross, and that stands under ``loops.below_px`` in the model input (too small for
the detector), is a crossing of class ``loops.class_name`` with a negative tracker id (no track
behind it). Runs after "analytics", whose line counters hand over the crossings they saw
(``packet.crossings_seen``).
Built for a camera with lines unless ``loops: {mode: off}``.
"""

from __future__ import annotations

import logging
from typing import Any

from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet

logger = logging.getLogger(__name__)

__all__ = ["LoopsStage"]


@register_stage
class LoopsStage(Stage):
    name = "loops"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, camera: Any, detector: Any) -> None:
        self.lines = list(camera.lines)
        self.config = camera.loops
        self.detector = detector
        self._loops: list[Any] = []
        self._frame_hw: tuple[int, int] | None = None
        self._serial = 0
        self._scale = 1.0

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> LoopsStage | None:
        config = getattr(camera, "loops", None)
        if config is None or config.mode == "off" or not camera.lines:
            return None
        return cls(camera, context.services["detector"])

    def process(self, packet: Packet) -> Packet:
        from carbonedge.vision.counting.loops import VirtualLoop

        frame = packet.frame
        if self._frame_hw != frame.shape_hw:  # the first frame, or the camera's size changed
            self._frame_hw = frame.shape_hw
            self._loops = [VirtualLoop(line, frame.shape_hw, self.config) for line in self.lines]
            self._scale = float(self.detector.model_px_per_frame_px(frame.shape_hw))
            logger.info("camera %s: virtual loops on lines %s count road users under %.0f px "
                        "wide in the model input (%.1f px in the frame) that no track crossed",
                        self.context.camera_id, [line.id for line in self.lines],
                        self.config.below_px, self.config.below_px / self._scale)  # fmt: skip
        claims: dict[str, list] = {}
        for line_id, *seen in packet.crossings_seen:
            claims.setdefault(line_id, []).append(seen)
        for loop in self._loops:
            decided = loop.update(frame.image, frame.index, frame.t_wall_s, self._scale,
                                  claims.get(loop.line.id, ()))  # fmt: skip
            packet.events.extend(self._events(loop, decided))
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        for loop in self._loops:
            self.context.emit_late(self._events(loop, loop.flush(self._scale)))
        return {}

    def _events(self, loop: Any, decided: list[tuple[str, int, float]]) -> list[LineCrossed]:
        out = []
        for direction, frame, t_s in decided:
            self._serial += 1
            out.append(LineCrossed(
                device_id=self.context.device_id, source_id=self.context.camera_id,
                line_id=loop.line.id, tracker_id=-self._serial, direction=direction,
                class_name=self.config.class_name, frame_index=frame, t_wall_s=t_s,
            ))  # fmt: skip
        return out
