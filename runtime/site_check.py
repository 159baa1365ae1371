"""``carbonedge check CONFIG``: open every model and every source of a site config for real.

Loading the config proves its shape only. Here each distinct detector (the site's, a camera's own,
a fire camera's learned model) is built the way ``run`` builds it (ONNX Runtime session, input
shape and output layout checked by its backend, one warm-up inference), and each camera's source
is opened and read for a few frames; its lines, zones and detector region are checked against the
frame size it really delivers. Each item ends as ``ok`` or ``failed: <one reason>``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from carbonedge.runtime.base.errors import CarbonEdgeError

if TYPE_CHECKING:
    from carbonedge.runtime.config import CameraConfig, SiteConfig

logger = logging.getLogger(__name__)

#: Frames read from each source.
CHECK_FRAMES = 5
#: Longest wait for a source to open and deliver its frames (a live camera that never answers).
SOURCE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class CheckItem:
    """One thing checked: ``what`` (``model yolox_nano_416.onnx``), ok or not, the detail."""

    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.what}: {'ok' if self.ok else 'failed'}: {self.detail}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, CarbonEdgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --- models ---------------------------------------------------------------------------------------
def _detector_configs(config: SiteConfig) -> list[tuple[Any, list[str], str]]:
    """Distinct detector configs: (config, cameras using it, role), the site default first."""
    found: list[tuple[Any, list[str], str]] = [(config.detector, [], "detector")]
    for camera_id, camera in config.cameras.items():
        wanted = [(camera.detector, "detector")]
        fire = getattr(camera, "fire", None)
        if fire is not None and getattr(fire.detector, "model", None):
            wanted.append((fire.detector, "fire detector"))
        for det, role in wanted:
            match = next((f for f in found if f[0] == det and f[2] == role), None)
            if match is None:
                found.append((det, [camera_id], role))
            else:
                match[1].append(camera_id)
    return [f for f in found if f[1] or f is found[0]]


def _build(det: Any, role: str) -> Any:
    if role == "fire detector":
        from carbonedge.vision.detectors.ultralytics import UltralyticsDetector

        return UltralyticsDetector(det)
    from carbonedge.vision.detectors import create_detector

    return create_detector(det)


def check_model(det: Any, cameras: list[str], role: str) -> CheckItem:
    """Build the detector as ``run`` does and run one warm-up inference."""
    model = getattr(det, "model", None)
    what = f"model {model} ({role} {det.type}" if model else f"{role} {det.type} ("
    what += (", " if model else "") + (f"cameras {', '.join(cameras)})" if cameras else "unused)")
    try:
        detector = _build(det, role)
        try:
            detector.warmup()
        finally:
            detector.close()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the check
        return CheckItem(what, False, _reason(exc))
    if not model:
        inner = getattr(det, "detector", None)  # a detector running another (fused)
        if isinstance(inner, dict) and inner.get("type"):
            return CheckItem(what, True, f"built with its {inner['type']} model, one inference run")
        return CheckItem(what, True, "no model file needed")
    hw = getattr(detector, "input_hw", None)
    names = getattr(detector, "class_names", ())
    size = f"input {hw[1]}x{hw[0]}, " if hw else ""
    return CheckItem(what, True, f"{getattr(detector, 'model_path', model)} ({size}"
                                 f"{len(names)} classes, one inference run)")  # fmt: skip


# --- sources --------------------------------------------------------------------------------------
def geometry_problems(camera: CameraConfig, width: int, height: int) -> list[str]:
    """Every line end, zone corner and detector region outside the ``width`` x ``height`` frame."""
    problems = []

    def outside(x: float, y: float) -> bool:
        return not (0 <= x <= width and 0 <= y <= height)

    for line in camera.lines:
        for end, (x, y) in (("start_px", line.start_px), ("end_px", line.end_px)):
            if outside(x, y):
                problems.append(f"line {line.id} {end} ({x:g}, {y:g})")
    for zone in camera.zones:
        bad = [(x, y) for x, y in zone.polygon_px if outside(x, y)]
        if bad:
            problems.append(f"zone {zone.id} polygon_px point ({bad[0][0]:g}, {bad[0][1]:g})")
    roi = getattr(camera.detector, "roi", None)
    if isinstance(roi, tuple) and (outside(roi[0], roi[1]) or outside(roi[2], roi[3])):
        problems.append(f"detector roi {list(roi)}")
    return problems


def _read_frames(camera: CameraConfig) -> tuple[list[Any], Any]:
    from carbonedge.devices.sources import create_source

    source = create_source(camera.source)
    frames = []
    with source:
        while len(frames) < CHECK_FRAMES:
            frame = source.read()
            if frame is None:
                break
            frames.append(frame)
    return frames, source


def _with_timeout(fn: Callable[[], Any], timeout_s: float) -> Any:
    """``fn()`` on a daemon thread; TimeoutError when it has not returned by ``timeout_s``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="check-source", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no {CHECK_FRAMES} frames within {timeout_s:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _describe_source(camera: CameraConfig) -> str:
    src = camera.source
    where = getattr(src, "path", None) or getattr(src, "url", None) or getattr(src, "device", None)
    if where is not None and getattr(src, "url", None) is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(str(where))  # no credentials on the terminal
        where = parts._replace(netloc=parts.hostname or "").geturl() if parts.password else where
    return f"source {camera.id} ({src.type}{' ' + str(where) if where is not None else ''})"


def check_source(camera: CameraConfig, timeout_s: float = SOURCE_TIMEOUT_S) -> CheckItem:
    """Open the camera's source, read ``CHECK_FRAMES`` frames, check its geometry on them."""
    what = _describe_source(camera)
    try:
        frames, source = _with_timeout(lambda: _read_frames(camera), timeout_s)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the check
        return CheckItem(what, False, _reason(exc))
    if not frames:
        return CheckItem(what, False, "opened, but delivered no frame")
    height, width = frames[0].image.shape[:2]
    problems = geometry_problems(camera, width, height)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return CheckItem(what, False, f"{problems[0]} is outside the {width}x{height} frame the "
                                      f"source delivers{more}")  # fmt: skip
    total = getattr(source, "frame_count", 0) or 0
    length = f", {total} frames at {source.fps:.3g} fps" if total else ""
    return CheckItem(what, True, f"{width}x{height}{length}, read {len(frames)} frames, "
                                 f"{len(camera.lines)} lines and {len(camera.zones)} zones "
                                 "inside the frame")  # fmt: skip


def check_site(config: SiteConfig) -> list[CheckItem]:
    """Every model, then every camera's source (with its calibration record laid over it)."""
    items = [check_model(det, cams, role) for det, cams, role in _detector_configs(config)]
    cameras: dict[str, CameraConfig] = dict(config.cameras)
    if config.calibration is not None:
        from carbonedge.runtime.calibrate.overlay import current_records, overlay_record

        try:
            records = current_records(config)
            cameras = {cid: overlay_record(c, records.get(cid)) for cid, c in cameras.items()}
        except Exception as exc:  # noqa: BLE001 - reported; the sources are checked as configured
            items.append(CheckItem("calibration records", False, _reason(exc)))
    items += [check_source(camera) for camera in cameras.values()]
    return items
