"""Drawing what was counted on a frame: boxes, counting lines with their counts, zones, a header.

Pure functions with OpenCV: ``annotate_frame`` draws on a copy of the frame and returns it (the
input image is never changed). Boxes are coloured by class (a fixed palette indexed by class id),
labelled ``#track class score`` (``#-`` before tracking) and the speed when the detections carry
a ``speed_kmh`` column (``detections.data["speed_kmh"]``, NaN: unknown). Counting lines are drawn in
``LINE_BGR`` with ``id  in N  out M`` next to their start; zones are outlined in ``ZONE_BGR``
with their id; the header is one line of text on a dark band at the top.

The runtime's annotate stage (``runtime/stages/annotate.py``) calls it on its writer thread.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.geometry import LineConfig, ZoneConfig
from carbonedge.runtime.base.types import Detections

__all__ = [
    "CLASS_PALETTE_BGR",
    "LINE_BGR",
    "ZONE_BGR",
    "annotate_frame",
    "class_bgr",
    "header_text",
]

#: Counting lines: magenta, which no class colour uses.
LINE_BGR: tuple[int, int, int] = (255, 0, 255)
#: Zone outlines: yellow.
ZONE_BGR: tuple[int, int, int] = (0, 255, 255)
#: Box colours by class id (cycled); none of them is the line or the zone colour.
CLASS_PALETTE_BGR: tuple[tuple[int, int, int], ...] = (
    (0, 200, 0), (255, 128, 0), (0, 128, 255), (0, 0, 230), (200, 200, 0),
    (128, 0, 200), (0, 160, 160), (160, 80, 40), (90, 200, 120), (200, 100, 160),
)  # fmt: skip
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_BGR = (255, 255, 255)
_BAND_BGR = (32, 32, 32)


def class_bgr(class_id: int) -> tuple[int, int, int]:
    """The box colour of ``class_id`` (BGR)."""
    return CLASS_PALETTE_BGR[int(class_id) % len(CLASS_PALETTE_BGR)]


def header_text(camera_id: str, frame_index: int, t_s: float) -> str:
    """``camera  frame N  t 12.34 s``: the header line of an annotated frame."""
    return f"{camera_id}  frame {frame_index}  t {t_s:.2f} s"


def _scale(image: NDArray[np.uint8]) -> tuple[float, int]:
    """Font scale and stroke thickness for the frame size (readable at 320 px and at 1080p)."""
    h = image.shape[0]
    scale = max(0.35, h / 720.0 * 0.6)
    return scale, max(1, int(round(scale * 2)))


def _label(image: NDArray[np.uint8], text: str, x: int, y: int,
           bgr: tuple[int, int, int]) -> None:  # fmt: skip
    """Text on a band of ``bgr`` with its bottom-left corner at (x, y), kept inside the frame."""
    scale, _ = _scale(image)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    h, w = image.shape[:2]
    x = int(min(max(x, 0), max(w - tw - 2, 0)))
    y = int(min(max(y, th + base + 2), h - 1))
    cv2.rectangle(image, (x, y - th - base - 2), (x + tw + 2, y), bgr, cv2.FILLED)
    cv2.putText(image, text, (x + 1, y - base), _FONT, scale, _TEXT_BGR, 1, cv2.LINE_AA)


def _draw_zones(image: NDArray[np.uint8], zones: Sequence[ZoneConfig]) -> None:
    _, thick = _scale(image)
    for zone in zones:
        pts = np.round(np.asarray(zone.polygon_px, np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [pts], isClosed=True, color=ZONE_BGR, thickness=thick)
        x, y = pts[:, 0, :].min(axis=0)
        _label(image, zone.id, int(x), int(y) + 14, (0, 120, 120))


def _draw_lines(
    image: NDArray[np.uint8],
    lines: Sequence[LineConfig],
    line_counts: Mapping[str, Mapping[str, Mapping[str, int]]],
) -> None:
    _, thick = _scale(image)
    for line in lines:
        p0 = tuple(int(round(v)) for v in line.start_px)
        p1 = tuple(int(round(v)) for v in line.end_px)
        cv2.line(image, p0, p1, LINE_BGR, thick + 1, cv2.LINE_AA)
        per_dir = line_counts.get(line.id, {})
        n_in = sum(per_dir.get("in", {}).values())
        n_out = sum(per_dir.get("out", {}).values())
        _label(image, f"{line.id}  in {n_in}  out {n_out}", p0[0] + 2, p0[1] - 4, (128, 0, 128))


def _draw_boxes(
    image: NDArray[np.uint8], detections: Detections, class_names: Sequence[str]
) -> None:
    _, thick = _scale(image)
    speeds = detections.data.get("speed_kmh")
    for i in range(len(detections)):
        x0, y0, x1, y1 = (int(round(float(v))) for v in detections.xyxy[i])
        cid = int(detections.class_id[i])
        bgr = class_bgr(cid)
        cv2.rectangle(image, (x0, y0), (x1, y1), bgr, thick)
        name = class_names[cid] if 0 <= cid < len(class_names) else f"class_{cid}"
        tid = int(detections.tracker_id[i])
        text = f"#{tid if tid >= 0 else '-'} {name} {float(detections.confidence[i]):.2f}"
        if speeds is not None and np.isfinite(speeds[i]):
            text += f" {float(speeds[i]):.0f} km/h"
        _label(image, text, x0, y0 - 1, bgr)


def annotate_frame(
    image: NDArray[np.uint8],
    detections: Detections,
    class_names: Sequence[str],
    *,
    lines: Sequence[LineConfig] = (),
    line_counts: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None,
    zones: Sequence[ZoneConfig] = (),
    header: str | None = None,
) -> NDArray[np.uint8]:
    """A copy of ``image`` with zones, lines (and their in/out totals), boxes and the header drawn.

    Args:
        image: (H, W, 3) uint8 BGR; not changed.
        detections: the boxes to draw (``class_id`` indexes ``class_names``).
        class_names: the names of the detections' classes.
        lines: counting lines, drawn with ``line_counts[line.id][direction][class]`` summed.
        line_counts: line id -> "in"/"out" -> class -> crossings so far (missing: 0).
        zones: zone polygons.
        header: one line of text at the top (``header_text``), or None for none.

    Returns:
        (H, W, 3) uint8 BGR, a new array.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"annotate_frame: expected (H, W, 3) uint8, got {image.shape} {image.dtype}"
        )
    out = image.copy()
    _draw_zones(out, zones)
    _draw_lines(out, lines, line_counts or {})
    _draw_boxes(out, detections, class_names)
    if header:
        scale, _ = _scale(out)
        (_, th), base = cv2.getTextSize(header, _FONT, scale, 1)
        band = th + base + 6
        cv2.rectangle(out, (0, 0), (out.shape[1] - 1, band), _BAND_BGR, cv2.FILLED)
        cv2.putText(out, header, (4, band - base - 2), _FONT, scale, _TEXT_BGR, 1, cv2.LINE_AA)
    return out
