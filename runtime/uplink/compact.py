"""Keep the outbox within its size bound by merging the oldest unsent summaries pairwise.

Policy (documented in SCHEMA.md): when the queued bodies exceed ``outbox_max_mb``, the oldest half
of the summaries that were never handed to a sink are merged in pairs of neighbours from the same
source whose intervals touch (end of one == start of the next), while the merged interval stays
within ``compact_max_interval_s``. Each pass halves the count of the oldest summaries, so the
oldest data gets coarser first (1 min -> 2 -> 4 ...). Alarms, health and calibration messages are
never merged nor dropped. If nothing can be merged any more, the bound is exceeded, logged, and
everything is kept: the outbox never deletes data that was not acknowledged.

A summary body with a section this module cannot merge is left alone; every section has a merger
in ``SECTION_MERGERS`` (key -> function of the two sections, ``None`` when a side lacks it, and
the two bodies, for weights). Sums stay exact; means are re-weighted (by vehicles, or by frames for
zone occupancy and queues); peaks take the larger. Two figures become approximations, which is why
``compacted`` marks such a body: the 85th-percentile speed (the larger of the two) and an
emission interval (bounds added, as if the two intervals' errors were fully correlated, which is
conservative).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any, Callable

from carbonedge.runtime.base.events import stable_id
from carbonedge.runtime.uplink.outbox import Transaction, bump_counter

logger = logging.getLogger(__name__)

_BASE_KEYS = frozenset({
    "kind", "schema_version", "id", "device_id", "source_id", "seq", "interval_start",
    "interval_end", "frames", "frame_errors", "partial", "detector", "counts", "compacted",
    "calibration_id",
})  # fmt: skip

Section = dict[str, Any] | None
Body = dict[str, Any]


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(a))
    for line, dirs in b.items():
        for direction, classes in dirs.items():
            slot = out.setdefault(line, {}).setdefault(direction, {})
            for cls, n in classes.items():
                slot[cls] = slot.get(cls, 0) + n
    return out


def can_merge(a: dict[str, Any], b: dict[str, Any], max_interval_s: float) -> bool:
    """``b`` directly follows ``a`` on the same source and the merged span is small enough."""
    if (a["device_id"], a["source_id"], a["detector"]) != (b["device_id"], b["source_id"],
                                                           b["detector"]):  # fmt: skip
        return False
    if a["interval_end"] != b["interval_start"]:
        return False
    if a.get("calibration_id") != b.get("calibration_id"):
        return False  # counts on different lines/homographies are not one interval
    if (_t(b["interval_end"]) - _t(a["interval_start"])).total_seconds() > max_interval_s:
        return False
    extra = (set(a) | set(b)) - _BASE_KEYS
    return all(k in SECTION_MERGERS for k in extra)


def merge_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One summary body covering ``a`` then ``b`` (counts and frame totals added)."""
    ca = a.get("compacted") or {"intervals": 1, "first_seq": a["seq"], "last_seq": a["seq"]}
    cb = b.get("compacted") or {"intervals": 1, "first_seq": b["seq"], "last_seq": b["seq"]}
    merged = {
        **a,
        "id": stable_id("compacted_summary", a["id"], b["id"]),
        "interval_end": b["interval_end"],
        "frames": a["frames"] + b["frames"],
        "frame_errors": a["frame_errors"] + b["frame_errors"],
        "partial": bool(a["partial"] or b["partial"]),
        "counts": _add_counts(a["counts"], b["counts"]),
        "compacted": {
            "intervals": ca["intervals"] + cb["intervals"],
            "first_seq": ca["first_seq"],
            "last_seq": cb["last_seq"],
        },
    }
    for key in (set(a) | set(b)) - _BASE_KEYS:
        merged[key] = SECTION_MERGERS[key](a.get(key), b.get(key), a, b)
    return merged


def _weighted(x: float | None, wx: float, y: float | None, wy: float) -> float | None:
    if x is None or wx <= 0:
        return y
    if y is None or wy <= 0:
        return x
    return round((x * wx + y * wy) / (wx + wy), 2)


def _per_key(a: Section, b: Section, merge: Callable[[Any, Any], Any]) -> dict[str, Any]:
    """Merge two id -> entry maps; an id on one side only is kept as it is."""
    a, b = a or {}, b or {}
    return {k: merge(a[k], b[k]) if k in a and k in b else (a.get(k) or b.get(k))
            for k in sorted(set(a) | set(b))}  # fmt: skip


def _merge_line_speeds(a: Section, b: Section, _ba: Body, _bb: Body) -> dict[str, Any]:
    def merge(x: dict, y: dict) -> dict:
        out = {"vehicles": x["vehicles"] + y["vehicles"]}
        mean = _weighted(x.get("mean_kmh"), x["vehicles"], y.get("mean_kmh"), y["vehicles"])
        if mean is not None:
            out["mean_kmh"] = round(mean, 1)
            out["p85_kmh"] = max(v for v in (x.get("p85_kmh"), y.get("p85_kmh")) if v is not None)
        return out

    return _per_key(a, b, merge)


def _merge_traffic(a: Section, b: Section, _ba: Body, _bb: Body) -> dict[str, Any]:
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

    return _per_key(a, b, merge)


def _merge_zones(a: Section, b: Section, ba: Body, bb: Body) -> dict[str, Any]:
    fa, fb = ba["frames"], bb["frames"]

    def merge(x: dict, y: dict) -> dict:
        left = x["left"] + y["left"]
        return {
            "occupancy_mean": _weighted(x["occupancy_mean"], fa, y["occupancy_mean"], fb),
            "occupancy_max": max(x["occupancy_max"], y["occupancy_max"]),
            "queue_mean": _weighted(x["queue_mean"], fa, y["queue_mean"], fb),
            "queue_max": max(x["queue_max"], y["queue_max"]),
            "entered": x["entered"] + y["entered"],
            "left": left,
            "dwell_s_mean": _weighted(x["dwell_s_mean"], x["left"], y["dwell_s_mean"], y["left"]),
            "dwell_s_max": max(
                (v for v in (x["dwell_s_max"], y["dwell_s_max"]) if v is not None), default=None
            ),  # fmt: skip
            "idle_s_mean": _weighted(x["idle_s_mean"], x["left"], y["idle_s_mean"], y["left"]),
            "idle_vehicle_s": round(x["idle_vehicle_s"] + y["idle_vehicle_s"], 1),
        }

    return _per_key(a, b, merge)


def _merge_movements(a: Section, b: Section, _ba: Body, _bb: Body) -> dict[str, Any]:
    a = a or {"counts": {}, "incomplete": {}}
    b = b or {"counts": {}, "incomplete": {}}
    counts = _per_key(a["counts"], b["counts"],
                      lambda x, y: _per_key(x, y, lambda m, n: m + n))  # fmt: skip
    return {"counts": counts, "incomplete": _per_key(a["incomplete"], b["incomplete"],
                                                     lambda m, n: m + n)}  # fmt: skip


def _add_grams(x: Any, y: Any) -> Any:
    """Add [value, lo, hi] triples (and plain numbers) field by field."""
    if isinstance(x, list):
        return [float(f"{p + q:.4g}") for p, q in zip(x, y, strict=True)]
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return round(x + y, 4)
    if isinstance(x, dict):
        return _per_key(x, y, _add_grams)
    return x


def _merge_emissions(a: Section, b: Section, _ba: Body, _bb: Body) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    out = dict(a)
    for key in ("total", "by_class", "by_movement"):
        if key in a or key in b:
            out[key] = _per_key(a.get(key), b.get(key), _add_grams)
    if "idle" in a and "idle" in b:
        idle = {**a["idle"], "vehicle_s": round(a["idle"]["vehicle_s"] + b["idle"]["vehicle_s"], 1),
                "co2_g": _add_grams(a["idle"]["co2_g"], b["idle"]["co2_g"])}  # fmt: skip
        total_co2 = out["total"]["co2_g"][0]
        idle["co2_share"] = round(idle["co2_g"][0] / total_co2, 4) if total_co2 > 0 else None
        out["idle"] = idle
    for key in ("proxies", "defaults_used"):
        if key in a or key in b:
            out[key] = sorted(set(a.get(key, [])) | set(b.get(key, [])))
    return out


def _merge_fire(a: Section, b: Section, _ba: Body, _bb: Body) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    confidences = [c for c in (a["max_confidence"], b["max_confidence"]) if c is not None]
    return {
        "alarm_active": b["alarm_active"],
        "alarm_during_interval": a["alarm_during_interval"] or b["alarm_during_interval"],
        "alarms_started": a["alarms_started"] + b["alarms_started"],
        "alarm_events": a["alarm_events"] + b["alarm_events"],
        "classes": sorted(set(a["classes"]) | set(b["classes"])),
        "max_confidence": max(confidences) if confidences else None,
    }


def _merge_sensor(a: Section, b: Section, _ba: Body, _bb: Body) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    na, nb = a["readings"], b["readings"]

    def merge(x: dict, y: dict) -> dict:
        return {"mean": _weighted(x["mean"], na, y["mean"], nb), "min": min(x["min"], y["min"]),
                "max": max(x["max"], y["max"])}  # fmt: skip

    errors = {k: a["errors"].get(k, 0) + b["errors"].get(k, 0)
              for k in set(a["errors"]) | set(b["errors"])}  # fmt: skip
    calibrating = "calibrating" in (a["state"], b["state"])  # data C stays C when merged
    merged = {"type": a["type"], "readings": na + nb,
              "state": "calibrating" if calibrating else b["state"], "errors": errors,
              "values": _per_key(a["values"], b["values"], merge)}  # fmt: skip
    if a.get("correction") == b.get("correction") and a.get("correction") is not None:
        merged["correction"] = a["correction"]  # different corrections: raw is not recoverable
    return merged


SECTION_MERGERS: dict[str, Callable[[Section, Section, Body, Body], Any]] = {
    "fire": _merge_fire,
    "sensor": _merge_sensor,
    "line_speeds": _merge_line_speeds,
    "traffic": _merge_traffic,
    "zones": _merge_zones,
    "movements": _merge_movements,
    "emissions": _merge_emissions,
    # camera-moved check: the merged interval is valid only if both were (absent counts as valid)
    "calibration_valid": lambda a, b, _ba, _bb: a is not False and b is not False,
}


def _pairs(rows: list[tuple], max_interval_s: float) -> list[tuple[tuple, tuple]]:
    """Neighbouring rows of the same source that can be merged, oldest first."""
    by_source: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        body = row[3]
        by_source.setdefault((body["device_id"], body["source_id"]), []).append(row)
    pairs = []
    for seq_rows in by_source.values():
        i = 0
        while i + 1 < len(seq_rows):
            if can_merge(seq_rows[i][3], seq_rows[i + 1][3], max_interval_s):
                pairs.append((seq_rows[i], seq_rows[i + 1]))
                i += 2
            else:
                i += 1
    return pairs


def pending_bytes(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM outbox").fetchone()[0])


def enforce_bound(db: sqlite3.Connection, *, max_bytes: int, max_interval_s: float) -> int:
    """Merge old summaries until the outbox is within ``max_bytes``; return rows merged away."""
    merged_away = 0
    while pending_bytes(db) > max_bytes:
        raw = db.execute(
            "SELECT id, msg_id, merged_seqs, body, seq FROM outbox "
            "WHERE kind = 'interval_summary' AND sent_at IS NULL ORDER BY id"
        ).fetchall()
        oldest = [(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in raw[: max(2, len(raw) // 2)]]
        pairs = _pairs(oldest, max_interval_s)
        if not pairs:
            logger.error(
                "outbox over its bound (%d bytes > %d) and no summary left to merge; keeping "
                "everything (alarms and unmergeable summaries are never dropped)",
                pending_bytes(db), max_bytes,
            )  # fmt: skip
            break
        with Transaction(db):
            for first, second in pairs:
                body = merge_summaries(first[3], second[3])
                seqs = sorted(
                    set(json.loads(first[2] or "[]")) | set(json.loads(second[2] or "[]"))
                    | {second[4]}
                )  # fmt: skip
                db.execute("DELETE FROM outbox WHERE id = ?", (second[0],))
                db.execute(
                    "UPDATE outbox SET msg_id = ?, body = ?, merged_seqs = ? WHERE id = ?",
                    (body["id"], json.dumps(body, separators=(",", ":"), sort_keys=True),
                     json.dumps(seqs), first[0]),
                )  # fmt: skip
            bump_counter(db, "compacted", len(pairs))
        merged_away += len(pairs)
    if merged_away:
        logger.warning("outbox over %d bytes: merged %d old summaries", max_bytes, merged_away)
    return merged_away
