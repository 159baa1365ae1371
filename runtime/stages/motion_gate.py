"""Stage "motion_gate": let the detector skip frames in which nothing moved.

On a skipped frame the detector stage reuses its last detections, so tracks, idle times and
queues go on; the detector still runs at least every ``keepalive_s``. Off for a detector that
must see every frame (a background model)."""

from __future__ import annotations

from typing import Any

import numpy as np

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet


@register_stage
class MotionGateStage(Stage):
    name = "motion_gate"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    def __init__(self, camera: Any) -> None:
        from carbonedge.runtime.motion_gate import MotionGate

        config = camera.gating
        regions: list = []
        if config.regions == "lines_and_zones":
            regions = [np.array([line.start_px, line.end_px]) for line in camera.lines]
            regions += [np.array(zone.polygon_px) for zone in camera.zones]
        self.gate = MotionGate(config, regions)
        self._primed = False  # the first frame always runs the detector

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> MotionGateStage | None:
        gating = camera.gating
        detector = context.services["detector"]
        if gating is None or not gating.enabled or detector.needs_every_frame:
            return None
        return cls(camera)

    def process(self, packet: Packet) -> Packet:
        run = self.gate.should_run(packet.frame.image, packet.frame.t_mono_s)
        packet.run_detector = run or not self._primed
        self._primed = True
        return packet
