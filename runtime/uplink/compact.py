"""Keep the outbox within its size bound by merging the oldest unsent summaries pairwise.

Policy (documented in SCHEMA.md): when the queued bodies exceed ``outbox_max_mb``, the oldest half
of the summaries that were never handed to a sink are merged in pairs of neighbours from the same
source whose intervals touch (end of one == start of the next), while the merged interval stays
within ``compact_max_interval_s``. Each pass halves the count of the oldest summaries, so the
oldest data gets coarser first (1 min -> 2 -> 4 ...). Alarms, health and calibration messages are
never merged nor dropped. If nothing can be merged any more, the bound is exceeded, logged, and
everything is kept: the outbox never deletes data that was not acknowledged.

A summary body with a section nobody registered is left alone; every section's merge rule is
registered by the stage that owns it (``carbonedge.runtime.base.sections``: a function of the two
sections, ``None`` when a side lacks it, and the two bodies, for weights). Sums stay exact;
means are re-weighted (by vehicles, or by frames for
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
from typing import Any

from carbonedge.runtime.base.events import stable_id
from carbonedge.runtime.base.sections import SECTIONS, SectionSpec
from carbonedge.runtime.store.outbox import merge_rows, pending_bytes, unsent_summaries

logger = logging.getLogger(__name__)

_BASE_KEYS = frozenset({
    "kind", "schema_version", "id", "device_id", "source_id", "seq", "interval_start",
    "interval_end", "frames", "frame_errors", "partial", "detector", "counts", "compacted",
    "calibration_id",
})  # fmt: skip


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


def _section(name: str) -> SectionSpec:
    from carbonedge.runtime.stages import load_all

    load_all()  # every built-in section owner registered
    spec = SECTIONS.get(name)
    assert spec is not None, name
    return spec


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
    from carbonedge.runtime.stages import load_all

    load_all()
    extra = (set(a) | set(b)) - _BASE_KEYS
    return all(SECTIONS.get(k) is not None for k in extra)


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
        merged[key] = _section(key).merge(a.get(key), b.get(key), a, b)
    return merged


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


def enforce_bound(db: sqlite3.Connection, *, max_bytes: int, max_interval_s: float) -> int:
    """Merge old summaries until the outbox is within ``max_bytes``; return rows merged away."""
    merged_away = 0
    while pending_bytes(db) > max_bytes:
        raw = unsent_summaries(db)
        oldest = [(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in raw[: max(2, len(raw) // 2)]]
        pairs = _pairs(oldest, max_interval_s)
        if not pairs:
            logger.error(
                "outbox over its bound (%d bytes > %d) and no summary left to merge; keeping "
                "everything (alarms and unmergeable summaries are never dropped)",
                pending_bytes(db), max_bytes,
            )  # fmt: skip
            break
        merges = []
        for first, second in pairs:
            body = merge_summaries(first[3], second[3])
            seqs = sorted(
                set(json.loads(first[2] or "[]")) | set(json.loads(second[2] or "[]"))
                | {second[4]}
            )  # fmt: skip
            merges.append((first[0], second[0], body["id"],
                           json.dumps(body, separators=(",", ":"), sort_keys=True),
                           json.dumps(seqs)))  # fmt: skip
        merge_rows(db, merges)
        merged_away += len(pairs)
    if merged_away:
        logger.warning("outbox over %d bytes: merged %d old summaries", max_bytes, merged_away)
    return merged_away
