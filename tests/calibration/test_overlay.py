"""``overlay_record``: a record's listed fields replace (or clear) the camera's, unlisted ones keep
the site config's; records written before ``sets`` existed keep their old meaning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from carbonedge.calibration.record import CalibrationRecord, RecordStore
from carbonedge.runtime.base.signing import canonical_json, signature
from carbonedge.runtime.calibrate.overlay import overlay_record, source_masks
from carbonedge.runtime.config import CameraConfig, parse_site_config

KEY = b"calibration-test-key-0123456789"
YAML_LINE = {"id": "yaml-line", "start_px": [0, 100], "end_px": [300, 100]}
YAML_ZONE = {"id": "yaml-zone", "polygon_px": [[0, 0], [50, 0], [50, 50]]}
YAML_PLANE = {"image_to_world": [[0.1, 0, 0], [0, 0.1, 0], [0, 0, 1]]}
YAML_MASK = [[0.0, 0.0], [20.0, 0.0], [20.0, 20.0]]
REC_LINE = {"id": "rec-line", "start_px": [0, 200], "end_px": [300, 200]}
REC_ZONE = {"id": "rec-zone", "polygon_px": [[10, 10], [60, 10], [60, 60]]}
REC_PLANE = {"image_to_world": [[0.2, 0, 0], [0, 0.2, 0], [0, 0, 1]]}
REC_MASK = [[100.0, 100.0], [140.0, 100.0], [140.0, 140.0]]
SKY = [[0.0, 0.0], [640.0, 0.0], [640.0, 80.0]]
AZIMUTH = {"heading_deg": 90.0, "focal_px": 500.0, "cx_px": 320.0}


def camera() -> CameraConfig:
    config = parse_site_config({
        "device_id": "b", "detector": {"type": "motion"},
        "cameras": {"road": {"source": {"type": "synthetic"}, "lines": [YAML_LINE],
                             "zones": [YAML_ZONE], "ground_plane": YAML_PLANE,
                             "masks": [YAML_MASK]}},
    })  # fmt: skip
    return config.cameras["road"]


def record(**fields: object) -> CalibrationRecord:
    return CalibrationRecord.model_validate(
        {"source_id": "road", "image_size_px": [1280, 720], **fields}
    )


def geometry(cam: CameraConfig) -> tuple:
    return ([x.id for x in cam.lines], [z.id for z in cam.zones],
            None if cam.ground_plane is None else cam.ground_plane.image_to_world[0][0],
            [m[0][0] for m in cam.masks])  # fmt: skip


YAML = (["yaml-line"], ["yaml-zone"], 0.1, [0.0])


def polygons(items: object) -> list[list[list[float]]]:
    return [[list(p) for p in polygon] for polygon in items]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # explicit: listed and given replaces, listed and empty clears, unlisted keeps
        ({"sets": []}, YAML),
        ({"sets": ["lines"], "lines": [REC_LINE]}, (["rec-line"], *YAML[1:])),
        ({"sets": ["lines"]}, ([], *YAML[1:])),  # a record now removes a YAML line
        ({"sets": ["lines", "zones", "ground_plane", "exclusion_masks_px"]}, ([], [], None, [])),
        (
            {"sets": ["zones", "ground_plane"], "zones": [REC_ZONE], "ground_plane": REC_PLANE},
            (["yaml-line"], ["rec-zone"], 0.2, [0.0]),
        ),
        ({"sets": ["exclusion_masks_px"], "exclusion_masks_px": [REC_MASK]}, (*YAML[:3], [100.0])),
        ({"sets": ["sky_mask_px"], "sky_mask_px": SKY}, YAML),
        # written before sets existed: non-empty replaces, empty or absent keeps
        ({}, YAML),
        ({"lines": [REC_LINE]}, (["rec-line"], *YAML[1:])),
        (
            {"zones": [REC_ZONE], "exclusion_masks_px": [REC_MASK]},
            (["yaml-line"], ["rec-zone"], 0.1, [100.0]),
        ),
        ({"ground_plane": REC_PLANE}, (*YAML[:2], 0.2, [0.0])),
    ],
)
def test_overlay_replace_clear_keep(fields: dict, expected: tuple) -> None:
    cam = camera()
    out = overlay_record(cam, record(**fields))
    assert geometry(out) == expected
    assert out.applied_record is not None and out.applied_record.record_id == "road@v1"
    assert geometry(cam) == YAML and cam.applied_record is None  # pure: the input is unchanged
    assert out.tracker == cam.tracker and out.source == cam.source  # nothing else changes


def test_no_record_is_the_camera_itself() -> None:
    cam = camera()
    assert overlay_record(cam, None) is cam
    masks = source_masks(cam)
    assert polygons(masks.exclusion_px) == [YAML_MASK] and masks.exclusion_size_px is None
    assert masks.sky_px is None and masks.azimuth is None and masks.origin == "site config"


def test_masks_sky_and_azimuth_of_a_record() -> None:
    explicit = overlay_record(camera(), record(
        sets=["exclusion_masks_px", "sky_mask_px", "azimuth"], exclusion_masks_px=[REC_MASK],
        sky_mask_px=SKY, azimuth=AZIMUTH))  # fmt: skip
    masks = source_masks(explicit)
    assert polygons(masks.exclusion_px) == [REC_MASK]
    assert masks.exclusion_size_px == (1280, 720) and masks.image_size_px == (1280, 720)
    assert polygons([masks.sky_px]) == [SKY] and masks.origin == "road@v1"
    assert masks.azimuth.heading_deg == 90.0
    assert masks.bearing_deg(160.0, 0.0, (360, 640)) == pytest.approx(90.0)  # record px 320
    # the YAML's masks stay in frame pixels when the record keeps them
    kept = source_masks(overlay_record(camera(), record(sets=["sky_mask_px"], sky_mask_px=SKY)))
    assert polygons(kept.exclusion_px) == [YAML_MASK] and kept.exclusion_size_px is None
    assert kept.sky_px is not None and kept.azimuth is None
    # an old record: sky and azimuth apply whenever it has them
    old = source_masks(overlay_record(camera(), record(sky_mask_px=SKY, azimuth=AZIMUTH)))
    assert old.sky_px is not None and old.azimuth is not None
    assert polygons(old.exclusion_px) == [YAML_MASK] and old.exclusion_size_px is None


def test_overlay_refuses_another_cameras_record() -> None:
    with pytest.raises(ValueError, match="not a camera record of 'road'"):
        overlay_record(camera(), CalibrationRecord(source_id="other"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sets": ["lines"], "zones": [REC_ZONE]}, "zones given but not in sets"),
        ({"sets": ["lines", "lines"]}, "sets: repeated lines"),
        ({"sets": ["colour"]}, "sets.0: Input should be 'lines'"),
        ({"sets": ["lines"], "kind": "sensor"}, "only a camera record sets camera fields"),
    ],
)
def test_bad_sets_are_refused(fields: dict, message: str) -> None:
    from carbonedge.runtime.config import format_validation_error

    with pytest.raises(ValidationError) as info:
        record(**fields)
    assert message in format_validation_error(info.value)


def _write_old_record(root: Path, body: dict) -> Path:
    """A record file as the code before ``sets`` wrote it (no ``sets`` key), signed."""
    folder = root / body["source_id"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{body['version']:04d}.json"
    path.write_bytes(canonical_json({**body, "sig": signature(body, KEY)}))
    return path


def test_old_record_file_reads_with_its_old_meaning_and_hash(tmp_path: Path) -> None:
    body = record(lines=[REC_LINE]).to_json_dict()
    assert "sets" not in body  # an old record's JSON is what it was
    _write_old_record(tmp_path, body)
    store = RecordStore(tmp_path, KEY)
    old = store.current("road")
    assert old is not None and old.sets is None
    assert old.sha256() == hashlib.sha256(canonical_json(body)).hexdigest()  # hash unchanged
    assert old.camera_fields_set() == ("lines",)
    assert geometry(overlay_record(camera(), old)) == (["rec-line"], *YAML[1:])


def test_explicit_record_round_trips_through_the_store(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, KEY)
    saved = store.save(record(sets=["lines", "zones"], zones=[REC_ZONE]))
    loaded = store.current("road")
    assert loaded == saved and loaded.sets == ("lines", "zones")
    data = json.loads((tmp_path / "road" / "v0001.json").read_text())
    assert data["sets"] == ["lines", "zones"]
    assert geometry(overlay_record(camera(), loaded)) == ([], ["rec-zone"], 0.1, [0.0])
