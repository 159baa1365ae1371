"""The old config form (``sources:`` + maps keyed by source id): loaded through one conversion
with one deprecation line, and ``carbonedge config migrate`` writes the new form.

``data/legacy/*.yaml`` are the example configs as they were before the ``cameras:`` form
(``git show HEAD:runtime/examples/<name>.yaml`` when they were converted)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.cli import main
from carbonedge.runtime.config import load_site_config, parse_site_config
from carbonedge.runtime.config_legacy import convert_legacy

REPO = Path(__file__).resolve().parents[2]
LEGACY = sorted((Path(__file__).parent / "data" / "legacy").glob("*.yaml"))


def _deprecations(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "deprecated" in r.getMessage()]


def _migrate(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["config", "migrate", str(path)]) == 0
    out = tmp_path / f"new-{path.name}"
    out.write_text(capsys.readouterr().out)
    return out


def test_every_old_example_is_kept() -> None:
    assert [p.stem for p in LEGACY] == ["forest-tower", "highway", "synthetic"]


@pytest.mark.parametrize("old", LEGACY, ids=lambda p: p.stem)
def test_old_form_loads_with_one_deprecation_line_and_equals_the_migrated_form(
    old: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with caplog.at_level(logging.WARNING):
        config = load_site_config(old)
    (record,) = _deprecations(caplog)
    assert record.levelno == logging.WARNING and "\n" not in record.getMessage()
    assert record.getMessage() == (
        f"{old}: old config form (sources:/lines:/... keyed by source id) is deprecated; "
        f"run 'carbonedge config migrate {old}'"
    )
    new = _migrate(old, tmp_path, capsys)
    text = new.read_text()
    assert text.startswith("# migrated from") and "cameras:" in text and "sources:" not in text
    assert "${CARBONEDGE_SHARED_DIR" in text or "CARBONEDGE" not in old.read_text()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_site_config(new) == config  # the migrate output reloads to the same model
    assert _deprecations(caplog) == []
    # the converted example in runtime/examples says the same as the old one did
    assert load_site_config(REPO / "runtime" / "examples" / old.name) == config


def test_old_maps_move_under_their_camera() -> None:
    old = {
        "device_id": "b",
        "sources": [{"id": "a", "type": "synthetic"}, {"id": "b", "type": "synthetic"}],
        "detector": {"type": "motion"},
        "tracker": {"lost_buffer_s": 2},
        "lines": {"a": [{"id": "l", "start_px": [0, 1], "end_px": [9, 1]}]},
        "zones": {"b": [{"id": "z", "polygon_px": [[0, 0], [9, 0], [9, 9]]}]},
        "ground_planes": {"a": {"image_to_world": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}},
        "exclusion_masks": {"b": [[[0, 0], [5, 0], [5, 5]]]},
        "fire": {"b": {}},
        "camera_moved": {"a": {"check_every_s": 5}},
        "sensors": [{"id": "pm", "type": "pms5003", "port": "/dev/null"}],
    }
    new = convert_legacy(old)
    assert list(new) == ["device_id", "cameras", "detector", "tracker", "sensors"]
    assert new["cameras"] == {
        "a": {"source": {"type": "synthetic"}, "lines": old["lines"]["a"],
              "ground_plane": old["ground_planes"]["a"], "camera_moved": {"check_every_s": 5}},
        "b": {"source": {"type": "synthetic"}, "zones": old["zones"]["b"],
              "masks": old["exclusion_masks"]["b"], "fire": {}},
    }  # fmt: skip
    assert old["sources"][0] == {"id": "a", "type": "synthetic"}  # the input is not changed
    config = parse_site_config(old)
    assert config == parse_site_config(new)
    assert config.cameras["a"].tracker.lost_buffer_s == 2  # a site default, inherited


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"lines": {"cam2": []}},
            "lines refers to source 'cam2', which is not among sources (cam1)",
        ),
        (
            {"sources": [{"id": "cam1", "type": "synthetic"}] * 2},
            "source ids must be unique, repeated: cam1",
        ),
        ({"sources": [{"type": "synthetic"}]}, "sources.0: expected a mapping with an 'id'"),
        ({"cameras": {}}, "cameras: cannot be mixed with the old per-source keys (sources)"),
        ({"fire": ["cam1"]}, "fire: expected a mapping of source id -> settings"),
    ],
)
def test_old_form_that_cannot_be_converted(extra: dict, expected: str) -> None:
    data = {"device_id": "b", "sources": [{"id": "cam1", "type": "synthetic"}],
            "detector": {"type": "motion"}, **extra}  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse_site_config(data, origin="site.yaml")
    assert str(info.value) == f"site.yaml: {expected}" or expected in str(info.value)
    assert str(info.value).startswith("site.yaml: ")


def test_old_form_validation_errors_name_the_new_keys() -> None:
    data = {"device_id": "b", "sources": [{"id": "cam1", "type": "video_file"}],
            "detector": {"type": "motion"}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"cameras\.cam1\.source\.video_file\.path: Field"):
        parse_site_config(data, origin="site.yaml")


def test_migrate_keeps_env_references_and_a_new_file_prints_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAM_PW", "hunter2")
    old = tmp_path / "old.yaml"
    old.write_text("device_id: b\nsources:\n  - {id: c, type: rtsp, url: 'rtsp://u:${CAM_PW}@h/1'}"
                   "\ndetector: {type: motion}\n")  # fmt: skip
    new = _migrate(old, tmp_path, capsys)
    assert "${CAM_PW}" in new.read_text() and "hunter2" not in new.read_text()
    assert yaml.safe_load(new.read_text())["cameras"]["c"]["source"]["url"] == (
        "rtsp://u:${CAM_PW}@h/1"
    )
    assert load_site_config(new).cameras["c"].source.url == "rtsp://u:hunter2@h/1"
    assert main(["config", "migrate", str(new)]) == 0
    out, err = capsys.readouterr()
    assert "already in the cameras: form" in err
    assert yaml.safe_load(out) == yaml.safe_load(new.read_text())


def test_migrate_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("device_id: b\nsources: [{id: c, type: synthetic}]\nlines: {d: []}\n")
    assert main(["config", "migrate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"carbonedge: error: {bad}: lines refers to source 'd', which is not among "
                   "sources (c)\n")  # fmt: skip
    assert main(["config", "migrate", str(tmp_path / "none.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_migrate_help_says_comments_are_lost(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["config", "migrate", "--help"])
    assert "comments are not carried over" in " ".join(capsys.readouterr().out.split())
