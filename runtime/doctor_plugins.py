"""What each registered plugin needs on this machine, for ``carbonedge doctor``.

Every frame source, sensor and detector in the registries, and every uplink sink, is listed with
``ok`` (it can work here), ``warn`` (it can work, but something it would use is absent here: no
camera device, no serial port, a default model not found) or ``no`` (it cannot work: the
OpenCV build lacks GStreamer, a Python package is missing). A plugin without a known check says so
instead of pretending it works.
"""

from __future__ import annotations

import glob
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, get_args


@dataclass(frozen=True)
class PluginStatus:
    kind: str  # "source", "sensor", "detector", "sink"
    name: str  # its ``type:`` in a config
    level: str  # "ok", "warn", "no", "?"
    detail: str


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _backend(api_name: str) -> tuple[str, str]:
    import cv2

    from carbonedge.devices.sources.opencv_capture import has_backend

    api = getattr(cv2, f"CAP_{api_name}")
    if has_backend(api):
        return "ok", f"OpenCV {cv2.__version__} has its {api_name} backend"
    return "no", f"this OpenCV build ({cv2.__version__}) has no {api_name} backend"


def _devices(pattern: str, what: str, ok_detail: str) -> tuple[str, str]:
    found = sorted(glob.glob(pattern))
    if found:
        listed = ", ".join(found[:4]) + (" ..." if len(found) > 4 else "")
        return "ok", f"{ok_detail}; {what}: {listed}"
    return "warn", f"{ok_detail}; no {what} on this machine ({pattern})"


def _serial() -> tuple[str, str]:
    if not _has_module("serial"):
        return "no", "pyserial is not installed (pip install pyserial)"
    import serial

    return _devices("/dev/tty[UA][SC]*", "serial ports", f"pyserial {serial.VERSION}")


def _v4l2() -> tuple[str, str]:
    level, detail = _backend("V4L2")
    return (level, detail) if level == "no" else _devices("/dev/video*", "cameras", detail)


def _onnx_detector(config_cls: type) -> tuple[str, str]:
    if not _has_module("onnxruntime"):
        return "no", "onnxruntime is not installed"
    import onnxruntime as ort

    from carbonedge.runtime.base.errors import ModelError
    from carbonedge.vision.detectors.model_files import locate_model

    runtime = f"onnxruntime {ort.__version__} ({', '.join(ort.get_available_providers())})"
    default = config_cls.model_fields["model"].default
    if not isinstance(default, str) or not default:
        return "ok", f"{runtime}; no default model: give model: in the config"
    try:
        path = locate_model(default)
    except ModelError:
        return "warn", f"{runtime}; its default model {default} is not in the model folders"
    return "ok", f"{runtime}; default model {path}"


def _wrapping_detector(config_cls: type) -> tuple[str, str]:
    """A detector that runs another one (``fused``: a model plus motion): that one's status."""
    from carbonedge.vision.detectors.base import DETECTORS

    inner = config_cls.model_fields["detector"].get_default(call_default_factory=True)
    inner_type = inner.get("type") if isinstance(inner, dict) else None
    classes = dict(zip(DETECTORS.names(), DETECTORS.config_classes(), strict=True))
    if inner_type not in classes or "model" not in classes[inner_type].model_fields:
        return "ok", "runs the detector its config names"
    level, detail = _onnx_detector(classes[inner_type])
    return level, f"by default runs {inner_type}: {detail}"


def _sink_mqtt() -> tuple[str, str]:
    if not _has_module("paho.mqtt"):
        return "no", "paho-mqtt is not installed (pip install paho-mqtt)"
    from importlib.metadata import version

    return "ok", f"paho-mqtt {version('paho-mqtt')}"


_ALWAYS = ("ok", "needs nothing beyond the base install")
_CHECKS: dict[tuple[str, str], Callable[[], tuple[str, str]]] = {
    ("source", "video_file"): lambda: _backend("FFMPEG"),
    ("source", "rtsp"): lambda: _backend("FFMPEG"),
    ("source", "gstreamer"): lambda: _backend("GSTREAMER"),
    ("source", "v4l2"): _v4l2,
    ("source", "image_folder"): lambda: ("ok", "OpenCV image decoding"),
    ("source", "snapshot"): lambda: ("ok", "HTTP(S) with the standard library"),
    ("source", "synthetic"): lambda: _ALWAYS,
    ("sensor", "mhz19"): _serial,
    ("sensor", "pms5003"): _serial,
    ("sensor", "senseair_s8"): _serial,
    ("sensor", "modbus"): lambda: ("ok", "TCP: standard library; RTU: " + _serial()[1]),
    ("detector", "motion"): lambda: ("ok", "no model (frame differencing)"),
    ("sink", "mqtt"): _sink_mqtt,
    ("sink", "http"): lambda: ("ok", "HTTP(S) with the standard library"),
}


def _registered() -> list[tuple[str, str, Any]]:
    """(kind, type name, config class) of every registered plugin and every uplink sink."""
    import carbonedge.devices.sensors  # noqa: F401 - registers every sensor type
    import carbonedge.devices.sources  # noqa: F401 - registers every source type
    import carbonedge.vision.detectors  # noqa: F401 - registers every detector type
    from carbonedge.devices.sensors.base import SENSORS
    from carbonedge.devices.sources.base import SOURCES
    from carbonedge.runtime.uplink.config import SinkConfig
    from carbonedge.vision.detectors.base import DETECTORS

    out = []
    for kind, registry in (("source", SOURCES), ("sensor", SENSORS), ("detector", DETECTORS)):
        for name, config_cls in zip(registry.names(), registry.config_classes(), strict=True):
            out.append((kind, name, config_cls))
    for config_cls in get_args(get_args(SinkConfig)[0]):
        out.append(("sink", config_cls.model_fields["type"].default, config_cls))
    return out


def plugin_statuses() -> list[PluginStatus]:
    """One status per registered source, sensor, detector and sink, in that order."""
    statuses = []
    for kind, name, config_cls in _registered():
        check = _CHECKS.get((kind, name))
        if check is None and kind == "detector" and "model" in config_cls.model_fields:
            check = lambda c=config_cls: _onnx_detector(c)  # noqa: E731
        if check is None and kind == "detector" and "detector" in config_cls.model_fields:
            check = lambda c=config_cls: _wrapping_detector(c)  # noqa: E731
        if check is None:
            statuses.append(PluginStatus(kind, name, "?", "no check known for this plugin"))
            continue
        try:
            level, detail = check()
        except Exception as exc:  # noqa: BLE001 - a failing probe is itself the answer
            level, detail = "no", f"{type(exc).__name__}: {exc}"
        statuses.append(PluginStatus(kind, name, level, detail))
    return statuses
