"""``carbonedge doctor``: every registered plugin with whether it can work here, and the model
folders in search order. Run as a real process; what it says is compared with what the test reads
from the registries and from OpenCV itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from carbonedge.devices.sensors.base import SENSORS
from carbonedge.devices.sources.base import SOURCES
from carbonedge.vision.detectors.base import DETECTORS


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "doctor"],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=120)  # fmt: skip


def sections(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """title -> plugin name -> (level, detail)."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        if line.endswith("(type: in a config):"):
            current = out.setdefault(line.split(" (")[0], {})
        elif current is not None and (m := re.match(r"  (ok  |warn|no  |\?   ) (\S+) +(.*)", line)):
            current[m[2]] = (m[1].strip(), m[3])
        elif not line.strip():
            current = None
    return out


@pytest.fixture(scope="module")
def empty_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("doctor")
    (tmp / "models").mkdir()
    env = {"CARBONEDGE_MODEL_DIR": str(tmp / "models"), "XDG_CACHE_HOME": str(tmp / "cache")}
    proc = doctor(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp, proc.stdout, sections(proc.stdout)


def test_every_registered_plugin_is_listed(empty_model_dirs) -> None:
    _, _, found = empty_model_dirs
    import carbonedge.devices.sensors  # noqa: F401 - registers them
    import carbonedge.devices.sources  # noqa: F401
    import carbonedge.vision.detectors  # noqa: F401

    assert set(found["frame sources"]) == set(SOURCES.names())
    assert set(found["sensors"]) == set(SENSORS.names())
    assert set(found["detectors"]) == set(DETECTORS.names())
    assert set(found["uplink sinks"]) == {"mqtt", "http"}
    assert all(level != "?" for group in found.values() for level, _ in group.values())


def test_gstreamer_and_ffmpeg_as_this_opencv_build_has_them(empty_model_dirs) -> None:
    _, _, found = empty_model_dirs
    for name, api in (("gstreamer", cv2.CAP_GSTREAMER), ("video_file", cv2.CAP_FFMPEG)):
        level, detail = found["frame sources"][name]
        has = cv2.videoio_registry.hasBackend(api)
        assert level == ("ok" if has else "no"), (name, detail)
        assert ("has its" if has else "has no") in detail


def test_sensors_and_sinks_say_what_they_need(empty_model_dirs) -> None:
    _, _, found = empty_model_dirs
    import paho.mqtt  # noqa: F401 - installed here: the sink must say ok
    import serial

    assert found["uplink sinks"]["mqtt"][0] == "ok"
    level, detail = found["sensors"]["mhz19"]
    assert f"pyserial {serial.VERSION}" in detail and level in ("ok", "warn")
    assert "onnxruntime" in found["detectors"]["yolox"][1]
    assert found["detectors"]["motion"][0] == "ok"


def test_model_folders_in_order_and_missing_defaults(empty_model_dirs) -> None:
    tmp, text, found = empty_model_dirs
    assert f"  1. {tmp / 'models'}  (exists)" in text
    assert f"  2. {tmp / 'cache' / 'carbonedge' / 'models'}  (missing)" in text
    assert "models found: none" in text
    level, detail = found["detectors"]["yolox"]
    assert level == "warn"
    assert "default model yolox_nano_416.onnx is not in the model folders" in detail


def test_default_models_found_in_the_shared_folder(model_dir: Path, tmp_path: Path) -> None:
    proc = doctor({"CARBONEDGE_MODEL_DIR": str(model_dir), "XDG_CACHE_HOME": str(tmp_path)})
    found = sections(proc.stdout)
    level, detail = found["detectors"]["yolox"]
    assert level == "ok" and detail.endswith(f"default model {model_dir / 'yolox_nano_416.onnx'}")
