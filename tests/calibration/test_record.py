"""Signed, versioned calibration records: save, history, tampering, renames, snapshots."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from carbonedge.calibration.errors import CalibrationInputError, CalibrationSignatureError
from carbonedge.calibration.record import CalibrationRecord, RecordStore

KEY = b"calibration-test-key-0123456789"


def make_record(**fields: object) -> CalibrationRecord:
    base: dict = {
        "source_id": "cam1",
        "created_by": "tech-7",
        "lines": [{"id": "l1", "start_px": [0, 200], "end_px": [600, 200]}],
        "zones": [{"id": "z1", "polygon_px": [[0, 0], [100, 0], [100, 100]]}],
        "ground_plane": {"image_to_world": [[0.1, 0, 0], [0, 0.1, 0], [0, 0, 1]]},
        "image_size_px": [640, 360],
    }
    return CalibrationRecord.model_validate({**base, **fields})


def png_bytes() -> bytes:
    ok, data = cv2.imencode(".png", np.full((36, 64, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


def test_versions_history_and_signature_layout(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, KEY)
    first = store.save(make_record(version=7), png_bytes())  # the store assigns the version
    second = store.save(make_record(notes="moved line"))
    assert (first.record_id, second.record_id) == ("cam1@v1", "cam1@v2")
    assert sorted(p.name for p in (tmp_path / "cam1").iterdir()) == [
        "v0001.json", "v0001.png", "v0002.json",
    ]  # fmt: skip
    assert store.current("cam1") == second
    assert [r.version for r in store.history("cam1")] == [1, 2]
    assert store.snapshot_path(first) == tmp_path / "cam1" / "v0001.png"
    assert store.snapshot_path(second) is None
    data = json.loads((tmp_path / "cam1" / "v0001.json").read_text())
    assert data["sig"].startswith("hmac-sha256:") and data["created_at"].endswith("Z")
    assert first.sha256() != second.sha256() and len(first.sha256()) == 64
    assert store.sources() == ["cam1"] and store.current("other") is None


def test_tampered_newer_record_is_refused_and_the_old_one_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordStore(tmp_path, KEY)
    good = store.save(make_record())
    store.save(make_record(notes="v2"))
    path = tmp_path / "cam1" / "v0002.json"
    data = json.loads(path.read_text())
    data["lines"][0]["start_px"] = [0, 250]  # someone moves the line by hand
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.ERROR):
        assert store.current("cam1") == good
    assert f"{path}: calibration record signature does not verify" in caplog.text
    assert "previous valid record stays in force" in caplog.text
    with pytest.raises(CalibrationSignatureError, match="v0002.json: calibration record signature"):
        store.load_verified(path)
    problems = store.problems("cam1")
    assert len(problems) == 1 and "v0002.json" in problems[0]
    # the next save never overwrites the bad file: it becomes v3
    assert store.save(make_record(notes="v3")).version == 3
    assert json.loads(path.read_text())["lines"][0]["start_px"] == [0, 250]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.write_text("{not json"), "unreadable calibration record"),
        (lambda p: p.write_bytes(b""), "unreadable calibration record"),
        (lambda p: p.rename(p.with_name("v0009.json")), "not what its name says"),
    ],
)
def test_broken_files_are_named(tmp_path: Path, mutate, message: str) -> None:
    store = RecordStore(tmp_path, KEY)
    store.save(make_record())
    path = tmp_path / "cam1" / "v0001.json"
    mutate(path)
    target = path if path.exists() else path.with_name("v0009.json")
    with pytest.raises(CalibrationSignatureError, match=message) as info:
        store.load_verified(target)
    assert str(target) in str(info.value)
    assert store.current("cam1") is None


def test_other_key_does_not_verify_and_snapshot_hash_is_checked(tmp_path: Path) -> None:
    record = RecordStore(tmp_path, KEY).save(make_record(), png_bytes())
    with pytest.raises(CalibrationSignatureError, match="signed with another key"):
        RecordStore(tmp_path, b"another-key-of-enough-length").load_verified(
            tmp_path / "cam1" / "v0001.json"
        )
    (tmp_path / "cam1" / "v0001.png").write_bytes(png_bytes() + b"x")
    with pytest.raises(CalibrationSignatureError, match="snapshot does not match"):
        RecordStore(tmp_path, KEY).snapshot_path(record)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source_id": "cam 1"}, "source_id"),
        ({"kind": "lidar"}, "kind"),
        ({"lines": [{"id": "a", "start_px": [0, 0], "end_px": [9, 9]}] * 2}, "lines ids must be"),
        ({"exclusion_masks_px": [[[0, 0], [1, 1]]]}, "at least 3 vertices"),
        ({"snapshot_sha256": "abc"}, "snapshot_sha256"),
        ({"unknown": 1}, "Extra inputs"),
        ({"ground_plane": {"image_to_world": [[1, 0], [0, 1]]}}, "image_to_world"),
        ({"azimuth": {"heading_deg": 10.0, "focal_px": 0.0, "cx_px": 320}}, "focal_px > 0"),
        ({"intrinsics": {"camera_matrix": [[1, 0], [0, 1]]}}, "intrinsics: missing or bad"),
    ],
)
def test_record_validation(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_record(**fields)


def test_store_refuses_a_short_key_and_a_non_png(tmp_path: Path) -> None:
    with pytest.raises(CalibrationInputError, match="at least 16 bytes"):
        RecordStore(tmp_path, b"short")
    with pytest.raises(CalibrationInputError, match="not a PNG"):
        RecordStore(tmp_path, KEY).save(make_record(), b"GIF89a")


def test_site_key_defaults_to_the_uplink_signing_key(tmp_path: Path) -> None:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.calibrate.active import record_store_for
    from carbonedge.runtime.config import parse_site_config

    def site(**extra: object) -> object:
        return parse_site_config({
            "device_id": "b", "cameras": {"cam1": {"source": {"type": "synthetic"}}},
            "detector": {"type": "motion"}, **extra,
        })  # fmt: skip

    assert record_store_for(site()) is None
    uplink = {"site_id": "s", "sink": {"type": "http", "url": "http://127.0.0.1:9/x"},
              "signing": {"key": KEY.decode()}}  # fmt: skip
    records = {"records_dir": str(tmp_path)}
    RecordStore(tmp_path, KEY).save(make_record())
    store = record_store_for(site(calibration=records, uplink=uplink))
    assert store is not None and store.current("cam1") is not None
    with pytest.raises(ConfigError, match="calibration: give key or key_file"):
        record_store_for(site(calibration=records))
    key_file = tmp_path / "k"
    key_file.write_text("short\n")
    key_file.chmod(0o600)
    with pytest.raises(ConfigError, match="k: the signing key must be at least 16 bytes"):
        record_store_for(site(calibration={**records, "key_file": str(key_file)}))
