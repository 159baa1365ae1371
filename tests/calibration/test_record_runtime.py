"""A saved calibration record drives a run: its lines and ground plane are used, every summary
names it, and each change (also a fall-back after tampering) is queued upstream once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import yaml

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.cli import main
from carbonedge.runtime.config import load_site_config
from carbonedge.runtime.site import Site
from carbonedge.runtime.uplink.schema import validate_body

KEY = "site-calibration-key-0123456789"


def write_site(tmp_path: Path) -> Path:
    site = {
        "device_id": "box-9",
        "cameras": {
            "road": {
                "source": {"type": "synthetic", "duration_s": 15, "seed": 7},
                "lines": [{"id": "config_line", "start_px": [0, 100], "end_px": [640, 100]}],
            }
        },
        "detector": {"type": "motion"},
        "summary": {"interval_s": 5},
        "output": {"sqlite_path": str(tmp_path / "out.sqlite"), "jsonl_path": None},
        "calibration": {"records_dir": str(tmp_path / "records"), "key": KEY},
        # with an uplink, calibration changes are queued upstream (no forwarder runs here, so
        # they stay in the outbox, where the test reads them; without one nothing is queued)
        "uplink": {
            "site_id": "main-st",
            "signing": {"key": KEY},
            "sink": {"type": "mqtt", "host": "127.0.0.1", "port": 1},
        },
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def record_yaml(tmp_path: Path, line_y_px: float, name: str) -> Path:
    """Record fields as a technician would write them: a line and measured road points."""
    gt = SyntheticScene(SyntheticSceneConfig(id="road", duration_s=1)).ground_truth
    plane = GroundPlane(np.linalg.inv(np.asarray(gt.homography_world_to_image, np.float64)))
    world = [(x, y) for x in (-3.5, 0.0, 3.5) for y in (18.0, 24.0, 32.0)]
    pixels = plane.to_image(np.array(world)) + np.random.default_rng(1).normal(0, 0.5, (9, 2))
    data = {
        "created_by": "tech-3",
        "image_size_px": [640, 360],
        "lines": [{"id": "rec_line", "start_px": [0, line_y_px], "end_px": [640, line_y_px]}],
        "exclusion_masks_px": [[[0, 0], [80, 0], [80, 40]]],
        "homography_points": [
            {"image_px": [float(p[0]), float(p[1])], "world_m": list(w)}
            for p, w in zip(pixels, world, strict=True)
        ],
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def run_and_read(site_path: Path) -> tuple[list[dict], list[dict]]:
    """Run the site; (this run's summaries, every calibration change queued so far).

    The synthetic scene replays the same wall times, so the previous run's summaries are removed
    first (the store would otherwise keep them as duplicates of the new ones)."""
    config = load_site_config(site_path)
    if config.output.sqlite_path.exists():
        with sqlite3.connect(config.output.sqlite_path) as db:
            db.execute("DELETE FROM summaries")
            db.execute("DELETE FROM outbox WHERE kind = 'interval_summary'")
    Site(config).run()
    db = sqlite3.connect(config.output.sqlite_path)
    try:
        summaries = [
            json.loads(b) for (b,) in db.execute("SELECT body FROM summaries ORDER BY seq")
        ]
        changes = [json.loads(b) for (b,) in db.execute(
            "SELECT body FROM outbox WHERE kind = 'calibration_change' ORDER BY id")]  # fmt: skip
    finally:
        db.close()
    return summaries, changes


def test_record_drives_the_run_and_changes_go_upstream(tmp_path: Path, capsys) -> None:
    site = write_site(tmp_path)
    v1 = record_yaml(tmp_path, 216.0, "v1.yaml")
    assert main(["calibrate", "save", str(site), "--source", "road", "--from", str(v1)]) == 0
    assert "saved road@v1" in capsys.readouterr().out

    # Run 1: the record's line (not the config's) counts, with speeds from its ground plane.
    summaries, changes = run_and_read(site)
    assert summaries and all(s["calibration_id"] == "road@v1" for s in summaries)
    assert all(set(s["counts"]) == {"rec_line"} for s in summaries)
    assert sum(n for s in summaries for d in s["counts"]["rec_line"].values() for n in d.values())
    assert any(s.get("line_speeds", {}).get("rec_line") for s in summaries)
    for body in summaries:
        validate_body("interval_summary", body)
    assert len(changes) == 1 and changes[0]["target"] == "homography"
    assert changes[0]["source_id"] == "road" and changes[0]["operator"] == "tech-3"
    assert 0.0 < changes[0]["reprojection_error_px"] < 2.0
    validate_body("calibration_change", changes[0])

    # Run 2, same record: nothing new to report.
    _, changes = run_and_read(site)
    assert len(changes) == 1

    # A new record (line moved) is reported once, naming the one it replaces.
    v2 = record_yaml(tmp_path, 230.0, "v2.yaml")
    assert main(["calibrate", "save", str(site), "--source", "road", "--from", str(v2)]) == 0
    summaries, changes = run_and_read(site)
    assert summaries[-1]["calibration_id"] == "road@v2" and len(changes) == 2
    assert changes[1]["previous_sha256"] == changes[0]["calibration_sha256"]
    assert changes[1]["target"] == "lines" and "road@v2 replaces road@v1" in changes[1]["reason"]
    validate_body("calibration_change", changes[1])

    # v2 tampered with: refused, v1 is in force again, and that change is reported too.
    path = tmp_path / "records" / "road" / "v0002.json"
    data = json.loads(path.read_text())
    data["lines"][0]["end_px"] = [640, 300]
    path.write_text(json.dumps(data))
    summaries, changes = run_and_read(site)
    assert summaries[-1]["calibration_id"] == "road@v1"
    assert (
        len(changes) == 3 and changes[2]["calibration_sha256"] == changes[0]["calibration_sha256"]
    )

    assert main(["calibrate", "show", str(site), "--source", "road"]) == 0
    out = capsys.readouterr().out
    assert "current: road@v1" in out and "REFUSED" in out and "v0002.json" in out


def test_without_a_record_the_config_geometry_is_used(tmp_path: Path) -> None:
    summaries, changes = run_and_read(write_site(tmp_path))
    assert summaries and all("calibration_id" not in s for s in summaries)
    assert all(set(s["counts"]) == {"config_line"} for s in summaries)
    assert changes == []


def test_compaction_never_merges_across_a_calibration_change() -> None:
    from carbonedge.runtime.base.events import IntervalSummary
    from carbonedge.runtime.uplink.compact import can_merge, merge_summaries

    def summary(start_s: float, calibration_id: str | None) -> dict:
        return IntervalSummary(
            device_id="b", source_id="road", seq=1 + int(start_s), interval_start_s=start_s,
            interval_end_s=start_s + 60, counts={"l": {"in": {"car": 1}, "out": {}}}, frames=9,
            detector="motion", calibration_id=calibration_id,
        ).to_dict()  # fmt: skip

    a, b = summary(0.0, "road@v1"), summary(60.0, "road@v1")
    assert can_merge(a, b, 3600) and merge_summaries(a, b)["calibration_id"] == "road@v1"
    assert not can_merge(a, summary(60.0, "road@v2"), 3600)
    assert not can_merge(a, summary(60.0, None), 3600)
    validate_body("interval_summary", a)
