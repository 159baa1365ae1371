"""Stage "detect": the shared detector on this camera's frame (or its ROI).

The detector plugin is shared by every camera and keeps no per-camera state (but for a
background model, which needs every frame); this stage keeps the camera's last detections, which
it reuses when the motion gate let the frame skip the detector (not while the camera's light
profile runs a detector that needs every frame: ``runtime/light_profiles.py``)."""

from __future__ import annotations

import time
from typing import Any

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Detections, Packet


@register_stage
class DetectStage(Stage):
    name = "detect"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self._last: Detections | None = None

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> DetectStage | None:
        return cls(context.services["detector"])

    def process(self, packet: Packet) -> Packet:
        every_frame = getattr(self.detector, "needs_every_frame_now", False)  # a light profile
        if not packet.run_detector and self._last is not None and not every_frame:
            self.context.count("gated_frames")
            packet.detections = self._last
            return packet
        t0 = time.perf_counter()
        if packet.zoom_xyxy:  # only for a detector with ``zoom`` (the zoom stage)
            detections = self.detector.detect(
                packet.frame, roi_xyxy=packet.roi_xyxy, zoom_xyxy=packet.zoom_xyxy
            )
        elif packet.roi_xyxy is not None:
            detections = self.detector.detect(packet.frame, roi_xyxy=packet.roi_xyxy)
        else:
            detections = self.detector.detect(packet.frame)
        dt_s = time.perf_counter() - t0
        self.context.observe("carbonedge_inference_seconds", dt_s)
        self.context.count("inference_s", dt_s)
        self.context.count("detector_calls")
        packet.detections = self._last = detections
        return packet

    def close(self) -> None:
        self.detector.forget(self.context.camera_id)  # a background model's per-source state
