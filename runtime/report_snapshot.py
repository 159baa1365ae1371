"""Each camera's view for the report, with its counting lines and zones drawn over it.

The store keeps no frames, so the picture comes from the site config (``carbonedge report
--config SITE.yaml``): the camera's current calibration record's snapshot when it has one (the
view the lines were drawn on), else the first frame its source delivers (a file's first frame, a
live camera's frame now). Lines and zones are those in force: the config with the current
calibration record laid over it. The image is embedded as a JPEG data URI inside an inline SVG,
and the lines and zones are SVG shapes over it, so the page stays one self-contained file.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from carbonedge.runtime.base.errors import CarbonEdgeError

logger = logging.getLogger(__name__)

MAX_WIDTH_PX = 960
JPEG_QUALITY = 80
LINE_COLOURS = ("#E69F00", "#56B4E9", "#F0E442", "#CC79A7", "#D55E00", "#009E73")


@dataclass
class Snapshot:
    """One camera's picture (JPEG bytes, ``width_px`` x ``height_px`` of the original frame) and
    what is drawn on it, in that frame's pixels."""

    camera: str
    jpeg: bytes
    width_px: int
    height_px: int
    origin: str  # where the picture comes from, in words
    lines: list[tuple[str, tuple[float, float], tuple[float, float]]] = field(default_factory=list)
    zones: list[tuple[str, list[tuple[float, float]], str]] = field(default_factory=list)


def camera_snapshots(config: Any, sources: list[str], config_path: Path) -> tuple[list, str]:
    """A ``Snapshot`` per camera of ``config`` among ``sources``; the note says what failed."""
    from carbonedge.runtime.calibrate.overlay import current_records, overlay_record

    records = current_records(config) if config.calibration is not None else {}
    shots, problems = [], []
    for camera_id in sources:
        camera = config.cameras.get(camera_id)
        if camera is None:
            problems.append(f"{camera_id}: not a camera of {config_path}")
            continue
        record = records.get(camera_id)
        camera = overlay_record(camera, record)
        try:
            image, origin = _picture(config, camera, record)
        except (CarbonEdgeError, OSError, ValueError) as exc:
            problems.append(f"{camera_id}: no picture ({exc})")
            continue
        shots.append(snapshot_of(camera_id, image, origin, camera.lines, camera.zones))
    note = (f"Lines and zones from {config_path}" + (f"; {'; '.join(problems)}" if problems
                                                       else "") + ".")  # fmt: skip
    return shots, note


def _picture(config: Any, camera: Any, record: Any) -> tuple[np.ndarray, str]:
    if record is not None and getattr(record, "snapshot_sha256", None):
        from carbonedge.runtime.calibrate.active import record_store_for

        store = record_store_for(config)
        path = store.snapshot_path(record) if store is not None else None
        if path is not None and Path(path).is_file():
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image, f"calibration snapshot of {record.record_id}"
    from carbonedge.devices.sources import create_source

    with create_source(camera.source) as source:
        frame = source.read()
    if frame is None:
        raise ValueError(f"source {camera.source.type} delivered no frame")
    return frame.image, f"first frame of its source ({camera.source.type}, frame {frame.index})"


def snapshot_of(camera: str, image: np.ndarray, origin: str, lines: Any, zones: Any) -> Snapshot:
    """Encode ``image`` (H, W, 3) uint8 BGR as a JPEG at most ``MAX_WIDTH_PX`` wide."""
    h, w = image.shape[:2]
    small = image
    if w > MAX_WIDTH_PX:
        small = cv2.resize(image, (MAX_WIDTH_PX, round(h * MAX_WIDTH_PX / w)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"{camera}: cannot encode the snapshot as JPEG")
    return Snapshot(
        camera, jpeg.tobytes(), w, h, origin,
        lines=[(ln.id, tuple(ln.start_px), tuple(ln.end_px)) for ln in lines],
        zones=[(z.id, [tuple(p) for p in z.polygon_px], z.movement) for z in zones],
    )  # fmt: skip


def snapshot_svg(shot: Snapshot) -> str:
    """The picture as an inline SVG in the frame's pixel coordinates, lines and zones on top."""
    w, h = shot.width_px, shot.height_px
    font = max(round(w / 48), 10)
    data = base64.b64encode(shot.jpeg).decode("ascii")
    body = [f'<image x="0" y="0" width="{w}" height="{h}" preserveAspectRatio="none" '
            f'href="data:image/jpeg;base64,{data}"/>']  # fmt: skip
    for k, (zone_id, polygon, movement) in enumerate(shot.zones):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in polygon)
        colour = LINE_COLOURS[(k + 3) % len(LINE_COLOURS)]
        cx = sum(x for x, _ in polygon) / len(polygon)
        cy = sum(y for _, y in polygon) / len(polygon)
        role = f" ({movement})" if movement != "none" else ""
        body.append(f'<polygon class="zone" points="{pts}" fill="{colour}" fill-opacity="0.25" '
                    f'stroke="{colour}" stroke-width="{font / 6:.1f}"><title>zone '
                    f"{escape(zone_id)}{role}</title></polygon>")  # fmt: skip
        body.append(_label(cx, cy, f"{zone_id}{role}", colour, font))
    for k, (line_id, a, b) in enumerate(shot.lines):
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        body.append(f'<line class="count-line" x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" '
                    f'y2="{b[1]:.1f}" stroke="{colour}" stroke-width="{font / 3:.1f}" '
                    f'stroke-linecap="round"><title>line {escape(line_id)}</title>'
                    "</line>")  # fmt: skip
        body.append(_label((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 - font * 0.6, line_id, colour,
                           font))  # fmt: skip
    return (f'<svg id="snapshot-{escape(shot.camera)}" class="snapshot" viewBox="0 0 {w} {h}" '
            f'role="img" aria-label="camera {escape(shot.camera)} with its lines and zones">'
            f"<title>camera {escape(shot.camera)}: {escape(shot.origin)}</title>"
            + "".join(body) + "</svg>")  # fmt: skip


def _label(x: float, y: float, text: str, colour: str, font: int) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{font}" text-anchor="middle" '
            f'fill="{colour}" stroke="#000" stroke-width="{font / 8:.1f}" paint-order="stroke" '
            f'font-weight="700">{escape(text)}</text>')  # fmt: skip
