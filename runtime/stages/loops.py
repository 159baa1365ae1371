"""Stage "loops": virtual loops on the camera's lines count small road users the tracker missed.

One ``VirtualLoop`` per line (``vision/counting/loops.py``): the line's pixels against the
empty road, every frame the vehicle stages see. A road user that crossed where the line counter
saw no track cross, and that stands under ``loops.below_px`` in the model input (too small for
the detector), is a crossing with a negative tracker id (no track behind it). Its class is the
one most of the line's tracked crossings so far had (from ``CLASS_FROM`` of them: a loop on a
zebra crossing counts pedestrians, one on a carriageway cars), else ``loops.class_name``. Runs
after "analytics", whose line counters hand over the crossings they saw
(``packet.crossings_seen``), and later the ones they dropped (``packet.crossings_dropped``): a
blob such a crossing claimed counts after all.
Built for a camera with lines unless ``loops: {mode: off}``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet

logger = logging.getLogger(__name__)

__all__ = ["LoopsStage"]

#: A line's loop crossings take the class most of its tracked crossings had, from this many on.
CLASS_FROM = 5


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
        self._scales: list[float] = []  # per line: model px per frame px along it
        self._classes: dict[str, Counter[str]] = {line.id: Counter() for line in self.lines}

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
            sx, sy = self.detector.model_px_per_frame_px_xy(frame.shape_hw)
            self._scales = [_along(line, sx, sy) for line in self.lines]
            in_frame = ", ".join(f"{self.config.below_px / s:.1f}" for s in self._scales)
            logger.info("camera %s: virtual loops on lines %s count road users under %.0f px "
                        "wide in the model input (%s px in the frame) that no track crossed",
                        self.context.camera_id, [line.id for line in self.lines],
                        self.config.below_px, in_frame)  # fmt: skip
        claims: dict[str, list] = {}
        for line_id, *seen, class_name in packet.crossings_seen:
            claims.setdefault(line_id, []).append(seen)
            self._classes[line_id][class_name] += 1
        released: dict[str, list] = {}
        for line_id, *dropped in packet.crossings_dropped:
            released.setdefault(line_id, []).append(dropped)
        for loop, scale in zip(self._loops, self._scales, strict=True):
            decided = loop.update(frame.image, frame.index, frame.t_wall_s, scale,
                                  claims.get(loop.line.id, ()),
                                  released.get(loop.line.id, ()))  # fmt: skip
            packet.events.extend(self._events(loop, decided))
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        for loop, scale in zip(self._loops, self._scales, strict=True):
            self.context.emit_late(self._events(loop, loop.flush(scale)))
        return {}

    def class_of(self, line_id: str) -> str:
        """What a loop crossing on this line counts as: the class most of its tracked crossings
        had, once there are ``CLASS_FROM``, else ``loops.class_name``."""
        seen = self._classes[line_id]
        if seen.total() < CLASS_FROM:
            return self.config.class_name
        return seen.most_common(1)[0][0]

    def _events(self, loop: Any, decided: list[tuple[str, int, float]]) -> list[LineCrossed]:
        out = []
        for direction, frame, t_s in decided:
            self._serial += 1
            out.append(LineCrossed(
                device_id=self.context.device_id, source_id=self.context.camera_id,
                line_id=loop.line.id, tracker_id=-self._serial, direction=direction,
                class_name=self.class_of(loop.line.id), frame_index=frame, t_wall_s=t_s,
            ))  # fmt: skip
        return out


def _along(line: Any, sx: float, sy: float) -> float:
    """Model input px per frame px along ``line``, the model scaling x by ``sx`` and y by ``sy``."""
    dx, dy = line.end_px[0] - line.start_px[0], line.end_px[1] - line.start_px[1]
    return math.hypot(dx * sx, dy * sy) / math.hypot(dx, dy)
