"""Stage "analytics": speeds, line crossings, zones and turning movements on the tracks; owns the
summary sections ``line_speeds``, ``traffic``, ``zones`` and ``movements``.

The analytics themselves are ``carbonedge.vision.analytics.scene.SceneAnalytics``; this stage
runs them on each tracked packet, finalises crossings as tracks end, and hands over the sections
(and the crossings made final at the interval's end) when an interval closes. The merge rules
below are what the outbox uses when it compacts old summaries: sums stay exact, means are
re-weighted (by vehicles, or by frames for zone occupancy and queues), peaks take the larger, the
85th-percentile speed becomes the larger of the two (an approximation, marked by ``compacted``).
"""

from __future__ import annotations

from typing import Any, Sequence

from carbonedge.runtime.base.sections import merge_by_key, register_section, weighted_mean
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.section_schema import section_schema
from carbonedge.runtime.stages.traffic import counted_class_names


def merge_line_speeds(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any]:
    def merge(x: dict, y: dict) -> dict:
        out = {"vehicles": x["vehicles"] + y["vehicles"]}
        mean = weighted_mean(x.get("mean_kmh"), x["vehicles"], y.get("mean_kmh"), y["vehicles"])
        if mean is not None:
            out["mean_kmh"] = round(mean, 1)
            out["p85_kmh"] = max(v for v in (x.get("p85_kmh"), y.get("p85_kmh")) if v is not None)
        return out

    return merge_by_key(a, b, merge)


def merge_traffic(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any]:
    def merge(x: dict, y: dict) -> dict:
        out = {k: round(x.get(k, 0) + y.get(k, 0), 4) for k in ("vehicles", "observed_s", "idle_s")}
        if "distance_km" in x or "distance_km" in y:
            dist_km = x.get("distance_km", 0.0) + y.get("distance_km", 0.0)
            out["distance_km"] = round(dist_km, 4)
            if out["observed_s"] > 0:
                out["mean_speed_kmh"] = round(dist_km * 3600 / out["observed_s"], 1)
            if out["observed_s"] - out["idle_s"] > 0:
                moving_s = out["observed_s"] - out["idle_s"]
                out["moving_speed_kmh"] = round(dist_km * 3600 / moving_s, 1)
        return out

    return merge_by_key(a, b, merge)


def merge_zones(a: Any, b: Any, ba: Any, bb: Any) -> dict[str, Any]:
    fa, fb = ba["frames"], bb["frames"]

    def merge(x: dict, y: dict) -> dict:
        left = x["left"] + y["left"]
        return {
            "occupancy_mean": weighted_mean(x["occupancy_mean"], fa, y["occupancy_mean"], fb),
            "occupancy_max": max(x["occupancy_max"], y["occupancy_max"]),
            "queue_mean": weighted_mean(x["queue_mean"], fa, y["queue_mean"], fb),
            "queue_max": max(x["queue_max"], y["queue_max"]),
            "entered": x["entered"] + y["entered"],
            "left": left,
            "dwell_s_mean": weighted_mean(
                x["dwell_s_mean"], x["left"], y["dwell_s_mean"], y["left"]
            ),
            "dwell_s_max": max(
                (v for v in (x["dwell_s_max"], y["dwell_s_max"]) if v is not None), default=None
            ),  # fmt: skip
            "idle_s_mean": weighted_mean(x["idle_s_mean"], x["left"], y["idle_s_mean"], y["left"]),
            "idle_vehicle_s": round(x["idle_vehicle_s"] + y["idle_vehicle_s"], 1),
        }

    return merge_by_key(a, b, merge)


def merge_movements(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any]:
    a = a or {"counts": {}, "incomplete": {}}
    b = b or {"counts": {}, "incomplete": {}}
    counts = merge_by_key(a["counts"], b["counts"],
                      lambda x, y: merge_by_key(x, y, lambda m, n: m + n))  # fmt: skip
    return {"counts": counts, "incomplete": merge_by_key(a["incomplete"], b["incomplete"],
                                                     lambda m, n: m + n)}  # fmt: skip


for _name, _merge in (("line_speeds", merge_line_speeds), ("traffic", merge_traffic),
                      ("zones", merge_zones), ("movements", merge_movements)):  # fmt: skip
    register_section(_name, schema=section_schema(_name), merge=_merge, owner="analytics")


@register_stage
class AnalyticsStage(Stage):
    name = "analytics"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)
    sections = ("line_speeds", "traffic", "zones", "movements")

    def __init__(self, camera: Any, class_names: Sequence[str]) -> None:
        self.camera = camera
        self.class_names = tuple(class_names)

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> AnalyticsStage | None:
        return cls(camera, counted_class_names(camera, context.services["detector"]))

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.vision.analytics.scene import SceneAnalytics

        camera = self.camera
        self.analytics = SceneAnalytics(
            device_id=context.device_id, source_id=context.camera_id,
            class_names=self.class_names, lines=camera.lines, zones=camera.zones,
            ground_plane=camera.ground_plane, speed=camera.speed,
        )  # fmt: skip
        self.analytics.kinematics.warmup()  # Numba step compiled or loaded before the first frame

    @property
    def line_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """line id -> direction -> class -> crossings since the start (live)."""
        return {c.config.id: c.counts for c in self.analytics.counters}

    def process(self, packet: Packet) -> Packet:
        packet.events.extend(
            self.analytics.update(packet.detections, packet.frame, packet.backfill_xyxy)
        )
        for counter in self.analytics.counters:
            packet.crossings_seen += [(counter.config.id, *seen) for seen in counter.pop_seen()]
            packet.crossings_dropped += [(counter.config.id, *d) for d in counter.pop_dropped()]
        return packet

    def forget(self, track_ids: Sequence[int]) -> list[Any]:
        return self.analytics.forget(track_ids)

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        closed = self.analytics.close_interval()
        self.context.emit_late(closed.events)
        return closed.sections()
