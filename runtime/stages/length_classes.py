"""Stage "length_classes": a one-class detector's boxes ("vehicle") classed by their length in
metres, where the camera has a ground plane."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.traffic import uses_length_classes


@register_stage
class LengthClassesStage(Stage):
    name = "length_classes"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, ground_plane: Any) -> None:
        self.ground_plane = ground_plane
        self.classifier: Any = None  # needs the frame size: built on the first frame

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> LengthClassesStage | None:
        detector = context.services["detector"]
        if not uses_length_classes(camera, detector):
            return None
        return cls(camera.ground_plane)

    def process(self, packet: Packet) -> Packet:
        if self.classifier is None:
            from carbonedge.vision.analytics.length_classes import LengthClassifier

            h, w = packet.frame.shape_hw
            self.classifier = LengthClassifier(self.ground_plane, (w, h))
        packet.detections = self.classifier.classify(packet.detections)
        return packet
