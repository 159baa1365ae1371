"""Calibration changes are events: the store records them, the uplink queues each exactly once."""

from __future__ import annotations

import json
from pathlib import Path

from carbonedge.calibration.geometry import LineConfig
from carbonedge.calibration.record import CalibrationRecord
from carbonedge.runtime.base.events import CalibrationChanged
from carbonedge.runtime.calibrate.active import change_body, report_changes
from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.outbox import Outbox
from carbonedge.runtime.uplink.schema import validate_body

DEVICE = "box-1"


def record(version: int, line_y_px: int) -> CalibrationRecord:
    return CalibrationRecord(
        source_id="road", version=version, created_by="tech-3",
        created_at=f"2026-01-0{version}T08:00:00Z",
        lines=[LineConfig(id="main", start_px=(0, line_y_px), end_px=(640, line_y_px))],
    )  # fmt: skip


def queued_changes(path: Path) -> list[dict]:
    outbox = Outbox(path)
    try:
        return [json.loads(r.body) for r in outbox.pending(limit=100)
                if r.kind == "calibration_change"]  # fmt: skip
    finally:
        outbox.close()


def test_a_change_is_an_event_queued_once_also_after_its_ack_and_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    v1 = record(1, 216)
    with Store(path) as store:
        bodies = report_changes(store, DEVICE, {"road": v1})
        assert report_changes(store, DEVICE, {"road": v1}) == []  # nothing new to report
        assert store.event_count() == 1
    assert len(bodies) == 1 and queued_changes(path) == bodies
    validate_body("calibration_change", bodies[0])
    assert bodies[0]["target"] == "lines" and "previous_sha256" not in bodies[0]
    outbox = Outbox(path)  # the platform acknowledged it: the row is gone
    outbox.ack([r.id for r in outbox.pending()])
    outbox.close()
    with Store(path) as store:  # a restart with the same record queues nothing
        assert report_changes(store, DEVICE, {"road": v1}) == []
    assert queued_changes(path) == []


def test_each_transition_is_its_own_event_and_names_the_one_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    v1, v2 = record(1, 216), record(2, 230)
    with Store(path) as store:
        for rec in (v1, v2, v1):  # going back to v1 is a change too
            report_changes(store, DEVICE, {"road": rec})
    changes = queued_changes(path)
    assert len({c["id"] for c in changes}) == 3
    assert [c["calibration_sha256"] for c in changes] == [v1.sha256(), v2.sha256(), v1.sha256()]
    assert changes[1]["previous_sha256"] == changes[0]["calibration_sha256"] != changes[0].get(
        "previous_sha256"
    )  # fmt: skip
    assert changes[1]["reason"] == "road@v2 replaces road@v1"
    for body in changes:
        validate_body("calibration_change", body)


def test_the_event_is_the_message_body_with_a_stable_id() -> None:
    v1 = record(1, 216)
    body = change_body(DEVICE, v1, None)
    event = CalibrationChanged(DEVICE, "road", "lines", v1.sha256(), v1.created_at)
    later = CalibrationChanged(DEVICE, "road", "homography", v1.sha256(), "2030-01-01T00:00:00Z")
    assert event.id == body["id"] == later.id  # device, source and both hashes make the id
    assert event.to_dict()["t_wall"] == v1.created_at == body["t_wall"]
