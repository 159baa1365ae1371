"""Per-camera config: site-wide defaults inherited and deep-merged, ids from the keys, one-line
errors naming the file and the key, site-level sections stay site-level."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from carbonedge.devices.sources.synthetic import SyntheticSceneConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.config import (
    CameraConfig,
    load_site_config,
    merge_over,
    parse_site_config,
)
from carbonedge.vision.detectors.motion import MotionDetectorConfig
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

SITE = {
    "device_id": "box",
    "detector": {"type": "yolox", "model": "m.onnx", "score_threshold": 0.4},
    "tracker": {"lost_buffer_s": 1.5, "high_score": 0.6},
    "speed": {"idle_speed_kmh": 4},
    "gating": {"keepalive_s": 3},
    "length_classes": False,
    "emissions": {"method": "mee2014"},
    "cameras": {
        "plain": {"source": {"type": "synthetic"}},
        "tuned": {
            "source": {"type": "synthetic"},
            "tracker": {"lost_buffer_s": 2},
            "detector": {"score_threshold": 0.6},
            "speed": {"idle_speed_kmh": 6},
            "length_classes": True,
            "emissions": None,
        },
        "other": {"source": {"type": "synthetic"}, "detector": {"type": "motion"}},
    },
}


def test_cameras_inherit_the_site_defaults() -> None:
    config = parse_site_config(SITE, origin="site.yaml")
    plain = config.cameras["plain"]
    assert plain.id == "plain" and plain.source.id == "plain"  # both from the key
    assert plain.detector == config.detector and plain.detector.model == "m.onnx"
    assert plain.tracker == config.tracker == ByteTrackConfig(lost_buffer_s=1.5, high_score=0.6)
    assert plain.speed.idle_speed_kmh == 4 and plain.gating.keepalive_s == 3
    assert plain.length_classes is False and plain.emissions.method == "mee2014"
    assert plain.lines == [] and plain.ground_plane is None and plain.fire is None


def test_a_camera_key_is_deep_merged_over_the_default() -> None:
    tuned = parse_site_config(SITE).cameras["tuned"]
    # one key changed, the site's other keys kept
    assert tuned.tracker.lost_buffer_s == 2 and tuned.tracker.high_score == 0.6
    assert tuned.detector.type == "yolox" and tuned.detector.model == "m.onnx"
    assert tuned.detector.score_threshold == 0.6
    assert tuned.speed.idle_speed_kmh == 6 and tuned.gating.keepalive_s == 3
    assert tuned.length_classes is True and tuned.emissions is None  # null switches it off


def test_another_detector_type_replaces_the_default_whole() -> None:
    other = parse_site_config(SITE).cameras["other"]
    assert other.detector == MotionDetectorConfig()


def test_without_site_defaults_a_camera_has_the_model_defaults() -> None:
    data = {
        "device_id": "b",
        "detector": {"type": "motion"},
        "cameras": {"c": {"source": {"type": "synthetic"}, "tracker": {"lost_buffer_s": 3}}},
    }
    camera = parse_site_config(data).cameras["c"]
    assert camera.tracker == ByteTrackConfig(lost_buffer_s=3)
    assert camera.length_classes is True and camera.emissions is None


@pytest.mark.parametrize(
    ("default", "override", "merged"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"d": 4}}, {"a": 1, "b": {"c": 2, "d": 4}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists are replaced, not appended
        ({"a": {"b": 1}}, {"a": None}, {"a": None}),  # null replaces
        ({"type": "x", "k": 1}, {"type": "x", "j": 2}, {"type": "x", "k": 1, "j": 2}),
        ({"type": "x", "k": 1}, {"type": "y", "j": 2}, {"type": "y", "j": 2}),
        (None, {"method": "copert"}, {"method": "copert"}),
        (True, False, False),
    ],
)
def test_merge_over(default: object, override: object, merged: object) -> None:
    assert merge_over(default, override) == merged


def test_merge_over_a_model_default() -> None:
    merged = merge_over(ByteTrackConfig(high_score=0.7), {"lost_buffer_s": 2.0})
    assert ByteTrackConfig.model_validate(merged) == ByteTrackConfig(
        high_score=0.7, lost_buffer_s=2.0
    )


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cameras(**entries: dict) -> dict:
    return {"device_id": "b", "detector": {"type": "motion"}, "cameras": entries}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            cameras(c={"source": {"type": "synthetic", "id": "d"}}),
            "cameras.c.source: Value error, id 'd' differs from the camera id 'c' (its key under "
            "cameras:); leave source.id out",
        ),
        (
            cameras(c={"source": {"type": "synthetic"}, "colour": "red"}),
            "cameras.c.colour: unknown key (not allowed here)",
        ),
        (
            cameras(c={"source": {"type": "synthetic"}, "tracker": {"lost_bufer_s": 1}}),
            "cameras.c.tracker.lost_bufer_s: unknown key",
        ),
        (
            cameras(c={"source": {"type": "synthetic"}, "detector": {"alpha": 2}}),
            "cameras.c.detector.motion.alpha: Input should be less than or equal to 1 (got 2)",
        ),
        (
            cameras(c={"source": {"type": "synthetic"}, "sensors": []}),
            "cameras.c.sensors: unknown key",
        ),  # sensors, uplink, hj212, health: site-level only
        (cameras(c={"source": {"type": "synthetic"}, "uplink": {}}), "cameras.c.uplink: unknown"),
        (cameras(c={"source": {"type": "synthetic"}, "health": {}}), "cameras.c.health: unknown"),
        (
            cameras(c={"source": {"type": "synthetic"}, "applied_record": {"record_id": "c@v1"}}),
            "cameras.c.applied_record: Value error, comes from the camera's calibration record",
        ),
        (
            cameras(c={"source": {"type": "synthetic"}, "masks": [[[0, 0], [1, 1]]]}),
            "cameras.c.masks.0: List should have at least 3 items",
        ),
        (
            cameras(
                c={
                    "source": {"type": "synthetic"},
                    "lines": [{"id": "l", "start_px": [0, 0], "end_px": [9, 0]}] * 2,
                }
            ),
            "cameras.c: Value error, lines ids must be unique, repeated: l",
        ),
        (
            cameras(**{"bad id": {"source": {"type": "synthetic"}}}),
            "cameras.bad id.[key]: String should match pattern",
        ),
        (cameras(), "cameras: Dictionary should have at least 1 item"),
        (
            cameras(c={"id": "d", "source": {"type": "synthetic"}}),
            "cameras.c.id: 'd' differs from its key 'c'; leave id out",
        ),
        (
            {
                **cameras(c={"source": {"type": "synthetic"}}),
                "sensors": [{"id": "c", "type": "pms5003", "port": "/dev/null"}],
            },
            "sensor ids must differ from each other and from camera ids, repeated: c",
        ),
    ],
)
def test_bad_camera_one_line_error_names_file_and_key(
    tmp_path: Path, data: dict, expected: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_site_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message


def test_site_level_sections_stay_site_level() -> None:
    data = {**cameras(c={"source": {"type": "synthetic"}}),
            "sensors": [{"id": "pm", "type": "pms5003", "port": "/dev/null"}],
            "uplink": {"site_id": "s", "signing": {"key": "k" * 16}, "sink": {"type": "http",
                                                            "url": "https://x.example/v1"}},
            "health": {"port": 0}}  # fmt: skip
    config = parse_site_config(data)
    assert [s.id for s in config.sensors] == ["pm"] and config.uplink is not None
    assert config.health.port == 0
    assert not {"sensors", "uplink", "hj212", "health"} & set(CameraConfig.model_fields)


def test_a_camera_built_in_code_takes_its_source_id() -> None:
    camera = CameraConfig(source=SyntheticSceneConfig(id="road"), detector=MotionDetectorConfig())
    assert camera.id == "road" and camera.tracker == ByteTrackConfig()
    with pytest.raises(ValueError, match="id 'road' differs from the camera id 'x'"):
        CameraConfig(id="x", source=SyntheticSceneConfig(id="road"),
                     detector=MotionDetectorConfig())  # fmt: skip


def test_site_config_fields_are_statically_typed() -> None:
    """No ``Any`` in the site or camera models: each field has a concrete type."""
    from typing import Any

    from carbonedge.runtime.config import SiteConfig

    for model in (SiteConfig, CameraConfig):
        for name, field in model.model_fields.items():
            assert field.annotation is not Any, f"{model.__name__}.{name}"


def test_the_readme_site_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("## A site config", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("CAM_PW", "pw")
    config = parse_site_config(yaml.safe_load(block), origin="README.md")
    north, south = config.cameras["north"], config.cameras["south"]
    assert north.tracker.lost_buffer_s == 1.0 and south.tracker.lost_buffer_s == 2.0
    assert south.detector.model == north.detector.model and south.detector.score_threshold == 0.4
    assert north.emissions is not None and south.emissions is None
