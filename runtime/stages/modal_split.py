"""Stage "modal_split": the interval's road users by travel mode (walk, cycle, motorcycle, car,
bus) and each mode's share; owns ``modal_split``.

The low-carbon travel measure a city puts next to its traffic emissions. It counts road users
seen in the scene (the ``traffic`` section the analytics stage closed just before: one per
track), not passengers: a bus is one road user. Goods vehicles (``hgv``) are freight, not trips,
and are left out. Built only for a camera whose counts use road-v1."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.sections import merge_by_key, register_section
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.section_schema import section_schema
from carbonedge.runtime.stages.traffic import uses_road_classes

MODE_OF_CLASS: dict[str, str] = {
    "pedestrian": "walk", "bicycle": "cycle", "motorcycle": "motorcycle", "car": "car",
    "van": "car", "bus": "bus",
}  # fmt: skip
MODES: tuple[str, ...] = ("walk", "cycle", "motorcycle", "car", "bus")


def modal_split(traffic: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    users = dict.fromkeys(MODES, 0)
    for name, row in traffic.items():
        mode = MODE_OF_CLASS.get(name)
        if mode is not None:
            users[mode] += int(row["vehicles"])
    total = sum(users.values())
    if total == 0:
        return None
    return {"road_users": users, "share": {m: round(n / total, 4) for m, n in users.items()}}


def merge_modal_split(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    users = merge_by_key(a["road_users"], b["road_users"], lambda x, y: x + y)
    total = sum(users.values())
    return {"road_users": users, "share": {m: round(n / total, 4) for m, n in users.items()}}


register_section(
    "modal_split",
    schema=section_schema("modal_split"),
    owner="modal_split",
    merge=merge_modal_split,
)  # fmt: skip


@register_stage
class ModalSplitStage(Stage):
    name = "modal_split"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)
    sections = ("modal_split",)

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> ModalSplitStage | None:
        return cls() if uses_road_classes(camera, context.services["detector"]) else None

    def process(self, packet: Packet) -> Packet:
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any] | None:
        split = modal_split(self.context.closing.get("traffic") or {})
        return None if split is None else {"modal_split": split}
