"""The calibration record store a site uses, and the upstream message when a record changes.

At start the site loads each camera's current record and lays it over the camera's config
(``runtime.calibrate.overlay``); its id goes into every interval summary. When a camera's current
record differs from the one the box last reported (the store remembers it, table
``calibration_reported``), ``report_changes`` gives the store a ``CalibrationChanged`` event: the
store records it with the new record in one transaction, and the uplink queues its
``calibration_change`` message in that transaction when the event is new, so it is sent exactly
once per change, also across restarts.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from carbonedge.calibration.record import CalibrationRecord, RecordStore
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import CalibrationChanged
from carbonedge.runtime.base.signing import canonical_json, read_key

if TYPE_CHECKING:
    from carbonedge.runtime.store import Store

logger = logging.getLogger(__name__)

__all__ = [
    "calibration_changed",
    "record_store_for",
    "report_changes",
]


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


def report_changes(
    store: Store, device_id: str, records: dict[str, CalibrationRecord]
) -> list[dict[str, Any]]:
    """Record a ``CalibrationChanged`` for every record the box has not reported yet.

    Call it before the source threads start. Returns the bodies of the changes recorded now (an
    event already recorded, the same transition again, is not queued a second time)."""
    reported = store.reported_calibrations()
    queued = []
    for source_id, record in sorted(records.items()):
        last = reported.get(source_id)
        if last is not None and last[0] == record.sha256():
            continue
        event = calibration_changed(device_id, record, last[1] if last is not None else None)
        if store.record_calibration(event, record.record_id, record.to_json_dict()):
            logger.info("calibration change queued: %s (%s)", record.record_id, event.target)
            queued.append(event.to_dict())
    return queued


def calibration_changed(
    device_id: str, record: CalibrationRecord, previous: dict[str, Any] | None
) -> CalibrationChanged:
    """The event of ``record`` replacing ``previous`` (a record dict, None for the first one)."""
    current = record.to_json_dict()
    fit = record.homography_fit or {}
    error_px = fit.get("rms_error_px")
    return CalibrationChanged(
        device_id=device_id, source_id=record.source_id, target=_target(current, previous),
        calibration_sha256=record.sha256(), t_wall_iso=record.created_at,
        previous_sha256=hashlib.sha256(canonical_json(previous)).hexdigest() if previous else None,
        reason=(f"{record.record_id} replaces {record.source_id}@v{previous['version']}"
                if previous else f"{record.record_id} is the first calibration reported"),
        operator=record.created_by,
        reprojection_error_px=float(error_px) if isinstance(error_px, (int, float)) else None,
    )  # fmt: skip


def change_body(
    device_id: str, record: CalibrationRecord, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``calibration_change`` v1 body for ``record`` replacing ``previous`` (a record dict)."""
    return calibration_changed(device_id, record, previous).to_dict()


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
