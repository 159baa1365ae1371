"""End to end: a site whose camera no longer matches its calibration snapshot says so in
``/healthz`` (served over real HTTP), stores a ``camera_moved`` event and marks its summaries;
an unshifted camera never does."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from rigs import free_port

from carbonedge.calibration.record import CalibrationRecord, RecordStore
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.site import Site
from carbonedge.runtime.uplink.compact import can_merge, merge_summaries
from carbonedge.runtime.uplink.schema import health_entries, validate_body

KEY = "camera-moved-test-key-0123456789"
SCENE = {"type": "synthetic", "seed": 5}


def view(dx_px: float = 0.0) -> np.ndarray:
    """Frame 0 of the scene, as seen by a camera ``dx_px`` to the side."""
    config = SyntheticSceneConfig(**{**SCENE, "id": "road", "duration_s": 1})
    image = SyntheticScene(config).render(0).image
    m = np.float32([[1, 0, dx_px], [0, 1, 0]])
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def site_config(
    tmp_path: Path, duration_s: float, port: int, camera_moved: object = None, **extra: object
) -> object:
    road: dict = {"source": {**SCENE, "duration_s": duration_s}}
    if camera_moved is not None:
        road["camera_moved"] = camera_moved
    data = {
        "device_id": "box-3",
        "cameras": {"road": road},
        "detector": {"type": "motion"},
        "summary": {"interval_s": 5},
        "output": {"sqlite_path": str(tmp_path / "out.sqlite"), "jsonl_path": None},
        "health": {"port": port},
        **extra,
    }
    return parse_site_config(data, origin="test")


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}  # not listening yet


def health_message(report: dict) -> dict:
    """A ``device_health`` body carrying the site's health, as the uplink sends it."""
    return {
        "kind": "device_health", "schema_version": 1, "id": "h1", "device_id": "box-3",
        "t_wall": "2026-01-01T08:00:00.000Z", "uptime_s": 1.0,
        "outbox": {"pending": 0, "pending_bytes": 0, "oldest_age_s": 0.0, "dead_letters": 0,
                   "compacted": 0, "reconnects": 0},
        "status": report["status"], "sources": health_entries("sources", report["sources"]),
        "sensors": health_entries("sensors", report["sensors"]),
    }  # fmt: skip


def stored(tmp_path: Path, table: str) -> list[dict]:
    with sqlite3.connect(tmp_path / "out.sqlite") as db:
        return [json.loads(row[0]) for row in db.execute(f"SELECT body FROM {table}")]


def test_moved_camera_raises_health_event_and_summary_mark(tmp_path: Path) -> None:
    """The calibration snapshot was taken 4 px to the side of today's view."""
    png = cv2.imencode(".png", view(4.0))[1].tobytes()
    RecordStore(tmp_path / "records", KEY.encode()).save(
        CalibrationRecord(source_id="road", created_by="test", image_size_px=(640, 360)),
        snapshot_png=png,
    )
    port = free_port()
    config = site_config(
        tmp_path, 3600, port, camera_moved={"check_every_s": 1.0},
        calibration={"records_dir": str(tmp_path / "records"), "key": KEY},
    )  # fmt: skip
    stop = threading.Event()
    site = Site(config, stop=stop)
    thread = threading.Thread(target=site.run, daemon=True)
    thread.start()
    try:
        deadline, report, code = time.monotonic() + 90, {}, 0
        while time.monotonic() < deadline:
            code, report = healthz(port)
            road = report.get("sources", {}).get("road", {})
            if (
                road.get("state") == "calibration_invalid"
                and len(stored(tmp_path, "summaries")) >= 2
            ):
                break
            assert thread.is_alive(), "the site ended before the camera-moved check fired"
            time.sleep(0.2)
        else:
            pytest.fail(f"no calibration_invalid state within 90 s: {report}")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert code == 503 and report["status"] == "degraded"
    moved = report["sources"]["road"]["camera_moved"]
    assert moved["state"] == "moved" and moved["calibration_valid"] is False
    assert moved["reference"] == "road@v1 snapshot"
    assert moved["last"]["shift_px"] == pytest.approx([-4.0, 0.0], abs=0.3)
    validate_body("device_health", health_message(report))  # the uplink carries it upstream
    events = [e for e in stored(tmp_path, "events") if e["kind"] == "camera_moved"]
    assert [e["status"] for e in events] == ["moved"]
    assert events[0]["source_id"] == "road" and events[0]["frame_index"] == 2 * 15  # 3rd check
    summaries = stored(tmp_path, "summaries")
    assert [s["calibration_valid"] for s in summaries[:2]] == [False, False]
    assert all(s["calibration_id"] == "road@v1" for s in summaries)
    for body in summaries:
        validate_body("interval_summary", body)  # the uplink schema knows the new field


def test_unshifted_camera_stays_valid(tmp_path: Path) -> None:
    """30 s of traffic against a reference image of the same view: no event, every summary
    valid, the health entry ``ok``."""
    reference = tmp_path / "reference.png"
    cv2.imwrite(str(reference), view(0.0))
    config = site_config(tmp_path, 30, free_port(),
                         camera_moved={"reference_image": str(reference),
                                       "check_every_s": 1.0})  # fmt: skip
    site = Site(config)
    results = site.run()
    assert results[0].error is None and results[0].frames == 450
    assert not [e for e in stored(tmp_path, "events") if e["kind"] == "camera_moved"]
    summaries = stored(tmp_path, "summaries")
    assert len(summaries) == 6 and all(s["calibration_valid"] is True for s in summaries)
    for body in summaries:
        validate_body("interval_summary", body)
    health = site.health()
    assert health["status"] == "ok"
    entry = health["sources"]["road"]["camera_moved"]
    assert entry["state"] == "ok" and entry["checks"] == 30 and entry["reference"] == str(reference)
    validate_body("device_health", health_message(health))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, r"cameras.road.camera_moved: no reference view: give reference_image"),
        ({"reference_image": "missing.png"}, r"missing.png: cannot read"),
        ({"check_every_s": 0}, r"cameras.road.camera_moved.check_every_s: Input should be"),
        ({"tresh": 1}, r"cameras.road.camera_moved.tresh: unknown key"),
    ],
)
def test_bad_config_fails_at_startup(tmp_path: Path, section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Site(site_config(tmp_path, 5, 0, camera_moved=section))


def test_compaction_keeps_an_invalid_interval_invalid() -> None:
    """The outbox may merge old summaries: a merged interval is valid only if both were."""
    a = {"kind": "interval_summary", "schema_version": 1, "id": "a", "device_id": "box-3",
         "source_id": "road", "seq": 1, "interval_start": "2026-01-01T08:00:00.000Z",
         "interval_end": "2026-01-01T08:01:00.000Z", "frames": 10, "frame_errors": 0,
         "partial": False, "detector": "motion", "counts": {},
         "calibration_valid": True}  # fmt: skip
    b = {**a, "id": "b", "seq": 2, "interval_start": a["interval_end"],
         "interval_end": "2026-01-01T08:02:00.000Z"}  # fmt: skip
    assert can_merge(a, b, 3600)
    assert merge_summaries(a, b)["calibration_valid"] is True
    assert merge_summaries(a, {**b, "calibration_valid": False})["calibration_valid"] is False
    assert merge_summaries({**a, "calibration_valid": False}, b)["calibration_valid"] is False
    validate_body("interval_summary", merge_summaries(a, {**b, "calibration_valid": False}))
