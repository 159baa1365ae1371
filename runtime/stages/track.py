"""Stage "track": ByteTrack ids on the detections; ended tracks go on the packet
(``ended_track_ids``) for every stage's ``forget``."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet


@register_stage
class TrackStage(Stage):
    name = "track"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> TrackStage | None:
        return cls(camera.tracker)

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.vision.tracking.bytetrack import ByteTrack

        self.tracker = ByteTrack(self.config, fps=context.fps)
        self.tracker.warmup()

    def process(self, packet: Packet) -> Packet:
        packet.detections = self.tracker.update(packet.detections)
        packet.ended_track_ids = list(self.tracker.pop_removed())
        return packet

    def end_all(self) -> list[int]:
        """End of the source: every live track ends."""
        self.tracker.reset()
        return list(self.tracker.pop_removed())
