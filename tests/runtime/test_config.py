from __future__ import annotations

from pathlib import Path

import pytest

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.config import load_site_config, parse_site_config

GOOD = """
device_id: box-1
detector: {type: yolox, model: yolox_nano_416.onnx}
cameras:
  cam1:
    source: {type: video_file, path: clip.avi}
    lines:
      - {id: stop-line, start_px: [0, 150], end_px: [320, 150]}
summary: {interval_s: 30}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = load_site_config(write(tmp_path, GOOD))
    assert cfg.device_id == "box-1"
    camera = cfg.cameras["cam1"]
    assert camera.source.path == Path("clip.avi") and camera.source.id == "cam1"
    assert camera.detector.type == "yolox" and camera.detector.score_threshold == 0.3
    assert camera.lines[0].end_px == (320.0, 150.0)
    assert cfg.summary.interval_s == 30


def test_env_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIP", "/data/clip.avi")
    text = GOOD.replace("path: clip.avi", "path: '${CLIP}'").replace("box-1", "${BOX:-box-9}")
    cfg = load_site_config(write(tmp_path, text))
    assert cfg.cameras["cam1"].source.path == Path("/data/clip.avi")
    assert cfg.device_id == "box-9"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("summary: {interval_s: 30}", "summary: {interval_s: 30, colour: red}"),
            "summary.colour: unknown key",
        ),
        (
            ("interval_s: 30", "interval_s: -1"),
            "summary.interval_s: Input should be greater than 0 (got -1)",
        ),
        (("type: yolox,", "type: yolo9000,"), "detector: unknown type 'yolo9000'"),
        (
            ("path: clip.avi", "path: '${NOPE_NOT_SET}'"),
            "environment variable NOPE_NOT_SET is not set",
        ),
        (
            ("source: {type: video_file", "source: {id: cam2, type: video_file"),
            "cameras.cam1.source: Value error, id 'cam2' differs from the camera id 'cam1'",
        ),
        (
            ("interval_s: 30}", "interval_s: 30}\ntracker: {lost_buffer_s: -1}"),
            "tracker.lost_buffer_s: Input should be greater than or equal to 0 (got -1)",
        ),
        (("    lines:\n", "    colour: red\n    lines:\n"), "cameras.cam1.colour: unknown key"),
        (("device_id: box-1", "device_id: 'box 1'"), "device_id: String should match pattern"),
        (
            ("{type: video_file, path: clip.avi}", "{type: video_file}"),
            "cameras.cam1.source.video_file.path: Field required",
        ),
        (
            ("source: {type: video_file, ", "source: {"),
            "cameras.cam1.source: missing key 'type' "
            "(one of 'gstreamer', 'image_folder', 'rtsp', 'snapshot', 'synthetic', 'v4l2', "
            "'video_file')",
        ),
    ],
)
def test_bad_config_one_line_error(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_site_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"site.yaml: malformed YAML at line 4, column 1"):
        load_site_config(write(tmp_path, "device_id: a\ncameras:\n  - {id: [unclosed\n"))


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_site_config("/nonexistent/site.yaml")


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_site_config(["a"], origin="x.yaml")


def test_errors_never_echo_a_password() -> None:
    """An invalid value that carries credentials (a camera URL pasted in the wrong key) is shown
    redacted in the one-line error."""
    data = {
        "device_id": "rtsp://admin:hunter2@10.0.0.5/live",
        "cameras": {"cam": {"source": {"type": "synthetic"}}},
        "detector": {"type": "motion"},
    }
    with pytest.raises(ConfigError, match="device_id") as info:
        parse_site_config(data, origin="site.yaml")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
