"""Stage "camera_moved": compare the view with its calibration snapshot; owns
``calibration_valid``."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.sections import register_section
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.section_schema import section_schema

register_section(
    "calibration_valid", schema=section_schema("calibration_valid"), owner="camera_moved",
    # the merged interval is valid only if both were (absent counts as valid)
    merge=lambda a, b, _ba, _bb: a is not False and b is not False,
)  # fmt: skip


@register_stage
class CameraMovedStage(Stage):
    """Events when the view leaves (or returns to) its calibration snapshot.

    The check itself (``runtime.camera_moved_stage.CameraMovedStage``) is built once per camera
    by the site (``services["camera_moved"]``), so it outlives restarts and ``/healthz`` reads it.
    """

    name = "camera_moved"
    sections = ("calibration_valid",)

    def __init__(self, check: Any) -> None:
        self.check = check

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> CameraMovedStage | None:
        check = context.services.get("camera_moved")
        return cls(check) if check is not None else None

    def process(self, packet: Packet) -> Packet:
        moved = self.check.update(packet.frame)
        if moved:
            self.context.emit_now(moved)
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        return {"calibration_valid": self.check.close_interval()}
