"""Stage "track": ByteTrack ids on the detections; ended tracks go on the packet
(``ended_track_ids``) for every stage's ``forget``; a track new on this frame brings the box it
was at before it was confirmed (``backfill_xyxy``, ``vision/tracking/backfill.py``)."""

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

        self.stride = context.stride  # the tracker steps once per strided frame
        step_fps = context.fps / self.stride
        self.tracker = ByteTrack(self.config, fps=step_fps)
        self.tracker.warmup()
        frames = round(self.config.backfill_s * step_fps)
        self.backfill = None
        if frames >= 1:
            from carbonedge.vision.tracking.backfill import Backfill

            self.backfill = Backfill(frames)

    def process(self, packet: Packet) -> Packet:
        detections = packet.detections
        packet.detections = self.tracker.update(detections)
        if self.backfill is not None:
            packet.backfill_xyxy = self.backfill.update(
                packet.frame.index // self.stride,  # the step's number (0, 1, 2 ... on a file)
                detections,
                packet.detections,
                self.tracker.taken_rows,
            )
        packet.ended_track_ids = list(self.tracker.pop_removed())
        if self.backfill is not None and packet.ended_track_ids:
            self.backfill.forget(packet.ended_track_ids)
        return packet

    def end_all(self) -> list[int]:
        """End of the source: every live track ends."""
        self.tracker.reset()
        if self.backfill is not None:
            self.backfill.reset()
        return list(self.tracker.pop_removed())
