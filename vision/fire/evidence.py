"""JPEG evidence of an alarm, written on the box: the full frame (downscaled, boxes drawn) and a
crop around the main box. The uplink message references the paths; the files stay on the box.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.vision.fire.config import EvidenceConfig
from carbonedge.vision.fire.events import FireBox

logger = logging.getLogger(__name__)

_COLOURS = {"smoke": (255, 255, 0), "fire": (0, 0, 255)}


def write_evidence(
    image: NDArray[np.uint8], boxes: tuple[FireBox, ...], stem: str, config: EvidenceConfig
) -> tuple[str | None, str | None]:
    """Write ``<stem>_full.jpg`` and ``<stem>_crop.jpg`` under ``config.dir``; their paths.

    Failures (disk full, read-only folder) are logged and give None: evidence never stops alarms.
    """
    if config.dir is None or not boxes:
        return None, None
    folder = Path(config.dir).expanduser()
    h, w = image.shape[:2]
    scale = min(1.0, config.full_max_width_px / w)
    full = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    for box in boxes:
        x1, y1, x2, y2 = (round(v * scale) for v in box.xyxy)
        cv2.rectangle(full, (x1, y1), (x2, y2), _COLOURS.get(box.class_name, (0, 255, 255)), 2)
    main = max(boxes, key=lambda b: (b.xyxy[2] - b.xyxy[0]) * (b.xyxy[3] - b.xyxy[1]))
    cx, cy = (main.xyxy[0] + main.xyxy[2]) / 2, (main.xyxy[1] + main.xyxy[3]) / 2
    half = (
        max(
            config.crop_min_px, 2 * (main.xyxy[2] - main.xyxy[0]), 2 * (main.xyxy[3] - main.xyxy[1])
        )
        / 2
    )
    x1, x2 = int(max(0, cx - half)), int(min(w, cx + half))
    y1, y2 = int(max(0, cy - half)), int(min(h, cy + half))
    crop = image[y1:y2, x1:x2]
    params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
    paths = (folder / f"{stem}_full.jpg", folder / f"{stem}_crop.jpg")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, img in zip(paths, (full, crop), strict=True):
            if not cv2.imwrite(str(path), img, params):
                raise OSError(f"cv2.imwrite failed for {path}")
    except OSError as exc:
        logger.error("fire evidence not written to %s: %s", folder, exc)
        return None, None
    return str(paths[0]), str(paths[1])
