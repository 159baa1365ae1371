"""The calibration records a running site uses, and the upstream message when one changes.

At start the site loads each source's current record (``load_current``); a record's non-empty
``lines`` / ``zones`` and its ``ground_plane`` replace the site config's for that source
(``effective_geometry``), as its non-empty ``exclusion_masks_px`` replace the config's
``exclusion_masks`` (``effective_masks``, with its sky mask and azimuth for the fire monitor), and
its id goes into every interval summary. When a source's current
record differs from the one the box last reported (remembered in the store's SQLite file, table
``calibration_reported``), a ``calibration_change`` message is queued in the outbox in the same
transaction (``report_changes``), so it is sent exactly once per change, also across restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from carbonedge.calibration.masks import SourceMasks
from carbonedge.calibration.record import CalibrationRecord, RecordStore, utc_now_iso
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import stable_id
from carbonedge.runtime.base.signing import canonical_json, read_key
from carbonedge.runtime.uplink.outbox import Transaction, insert_message

logger = logging.getLogger(__name__)

__all__ = [
    "effective_geometry",
    "effective_masks",
    "load_current",
    "record_store_for",
    "report_changes",
]

_TABLE = """
CREATE TABLE IF NOT EXISTS calibration_reported (
    source_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    record TEXT NOT NULL,
    reported_at TEXT NOT NULL
);
"""


def record_store_for(config: Any) -> RecordStore | None:
    """The site's ``RecordStore`` (None without a ``calibration:`` section).

    The key is ``calibration.key``/``key_file``, else the uplink signing key."""
    section = getattr(config, "calibration", None)
    if section is None:
        return None
    if section.key is not None or section.key_file is not None:
        key = read_key(section.key, section.key_file, what="calibration")
    else:
        uplink = getattr(config, "uplink", None)
        if uplink is None:
            raise ConfigError(
                "calibration: give key or key_file (there is no uplink signing key to use)"
            )
        key = read_key(uplink.signing.key, uplink.signing.key_file)
    return RecordStore(section.records_dir, key)


def load_current(config: Any) -> dict[str, CalibrationRecord]:
    """source/sensor id -> its current (newest verified) record, for the ids of the config."""
    store = record_store_for(config)
    if store is None:
        return {}
    ids = [s.id for s in config.sources] + [s.id for s in getattr(config, "sensors", [])]
    records = {}
    for source_id in ids:
        record = store.current(source_id)
        if record is not None:
            records[source_id] = record
            logger.info("source %s: calibration %s in force", source_id, record.record_id)
    return records


def effective_geometry(
    record: CalibrationRecord | None, lines: list, zones: list, ground_plane: Any
) -> tuple[list, list, Any]:
    """(lines, zones, ground plane) of a source: the record's where it has them, else config's."""
    if record is None:
        return lines, zones, ground_plane
    return (
        list(record.lines) or lines,
        list(record.zones) or zones,
        record.ground_plane if record.ground_plane is not None else ground_plane,
    )


def effective_masks(record: CalibrationRecord | None, exclusion_masks_px: list) -> SourceMasks:
    """A source's masks: the record's exclusion masks where it has them, else config's; its sky
    mask, azimuth and intrinsics (bearings) from the record."""
    return SourceMasks.of_record(record, exclusion_masks_px)


def report_changes(
    db: Any, device_id: str, records: dict[str, CalibrationRecord]
) -> list[dict[str, Any]]:
    """Queue a ``calibration_change`` for every record the box has not reported yet.

    ``db`` is the store's SQLite connection (autocommit mode, as ``Store.db``); call it before
    the source threads start. Returns the queued bodies."""
    db.executescript(_TABLE)
    queued = []
    for source_id, record in sorted(records.items()):
        sha = record.sha256()
        with Transaction(db) as tx:
            row = tx.execute(
                "SELECT sha256, record FROM calibration_reported WHERE source_id = ?",
                (source_id,),
            ).fetchone()
            if row is not None and row[0] == sha:
                continue
            previous = json.loads(row[1]) if row is not None else None
            body = change_body(device_id, record, previous)
            insert_message(tx, kind="calibration_change", device_id=device_id,
                           msg_id=body["id"], body=body)  # fmt: skip
            tx.execute(
                "INSERT INTO calibration_reported VALUES (?, ?, ?, ?, ?) ON CONFLICT(source_id) "
                "DO UPDATE SET record_id = excluded.record_id, sha256 = excluded.sha256, "
                "record = excluded.record, reported_at = excluded.reported_at",
                (source_id, record.record_id, sha, json.dumps(record.to_json_dict()),
                 utc_now_iso()),
            )  # fmt: skip
        logger.info("calibration change queued: %s (%s)", record.record_id, body["target"])
        queued.append(body)
    return queued


def change_body(
    device_id: str, record: CalibrationRecord, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``calibration_change`` v1 body for ``record`` replacing ``previous`` (a record dict)."""
    current = record.to_json_dict()
    before = hashlib.sha256(canonical_json(previous)).hexdigest() if previous else None
    body: dict[str, Any] = {
        "kind": "calibration_change",
        "schema_version": 1,
        # one message per transition: going back to an earlier record is a change of its own
        "id": stable_id(
            "calibration_change", device_id, record.source_id, before or "", record.sha256()
        ),  # fmt: skip
        "device_id": device_id,
        "source_id": record.source_id,
        "t_wall": record.created_at,
        "target": _target(current, previous),
        "calibration_sha256": record.sha256(),
        "reason": (
            f"{record.record_id} replaces {record.source_id}@v{previous['version']}"
            if previous
            else f"{record.record_id} is the first calibration reported"
        )[:256],
        "operator": record.created_by[:64],
    }
    if before is not None:
        body["previous_sha256"] = before
    fit = record.homography_fit or {}
    if isinstance(fit.get("rms_error_px"), (int, float)):
        body["reprojection_error_px"] = float(fit["rms_error_px"])
    return body


def _target(current: dict[str, Any], previous: dict[str, Any] | None) -> str:
    """What changed, as the schema's ``target`` (the first of these that differs)."""
    if current["kind"] == "sensor":
        return "sensor_zero_span"
    before = previous or {}
    for target, fields in (
        ("homography", ("ground_plane", "homography_fit")),
        ("intrinsics", ("intrinsics",)),
        ("lines", ("lines",)),
        ("zones", ("zones",)),
    ):
        if any(
            current.get(f) not in (None, []) and current.get(f) != before.get(f) for f in fields
        ):
            return target
    return "lines"  # masks or notes only: the counting geometry is what the change is about
