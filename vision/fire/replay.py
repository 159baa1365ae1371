"""Replaying recorded images through the fire monitor: sequences, stills, labels, nuisance.

``nuisance`` makes the realistic frame-to-frame changes of a tower camera that must never raise an
alarm: global exposure and white-balance gains (each up to +-15 %), sensor noise and a 1-2 pixel
camera shake. Shake is given in pixels of a 1280-wide frame and scaled to the image's width, so a
224-pixel thumbnail shakes by the same fraction of its view as the tower camera does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.errors import SourceOpenError
from carbonedge.runtime.base.types import Frame
from carbonedge.vision.fire.stamps import stamp_s
from carbonedge.vision.fire.truth import yolo_labelled

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
REFERENCE_WIDTH_PX = 1280


def nuisance(
    image: NDArray[np.uint8],
    rng: np.random.Generator,
    *,
    gain_frac: float = 0.15,
    noise_levels: float = 3.0,
    shake_px: tuple[float, float] = (1.0, 2.0),
) -> NDArray[np.uint8]:
    """``image`` with a random exposure x white-balance gain, sensor noise and camera shake."""
    h, w = image.shape[:2]
    exposure = rng.uniform(1 - gain_frac, 1 + gain_frac)
    white = np.array([rng.uniform(1 - gain_frac, 1 + gain_frac), 1.0,
                      rng.uniform(1 - gain_frac, 1 + gain_frac)])  # fmt: skip
    radius = rng.uniform(*shake_px) * w / REFERENCE_WIDTH_PX
    angle = rng.uniform(0, 2 * np.pi)
    m = np.float32([[1, 0, radius * np.cos(angle)], [0, 1, radius * np.sin(angle)]])
    shaken = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    out = shaken.astype(np.float32) * (exposure * white).astype(np.float32)
    out += rng.normal(0.0, noise_levels, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def image_files(folder: Path) -> list[Path]:
    """Images directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise SourceOpenError(f"{folder}: not a folder of images")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> NDArray[np.uint8]:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceOpenError(f"{path}: cannot decode the image")
    return image


@dataclass(frozen=True)
class SequenceItem:
    path: Path
    t_s: float
    labelled: bool


def as_sequence(files: list[Path], interval_s: float) -> list[SequenceItem]:
    """Files with times (from their names when all have stamps, else ``interval_s`` apart), in
    capture order; ``labelled``: the frame has a YOLO box file."""
    stamps = [stamp_s(p) for p in files]
    if files and all(s is not None for s in stamps):
        pairs = sorted(zip(stamps, files, strict=True), key=lambda st: (st[0], st[1].name))
        files, times = [p for _, p in pairs], [float(t) for t, _ in pairs]  # type: ignore[arg-type]
    else:
        times = [i * interval_s for i in range(len(files))]
    return [SequenceItem(p, t, yolo_labelled(p)) for p, t in zip(files, times, strict=True)]


def frame_at(image: NDArray[np.uint8], index: int, t_s: float, source_id: str, fps: float) -> Frame:
    return Frame(source_id, index, t_s, t_s, np.ascontiguousarray(image), fps)
