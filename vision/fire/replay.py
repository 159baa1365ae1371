"""Replaying recorded images through the fire monitor: sequences, stills, labels, nuisance.

``nuisance`` makes the realistic frame-to-frame changes of a tower camera that must never raise an
alarm: global exposure and white-balance gains (each up to +-15 %), sensor noise and a 1-2 pixel
camera shake. Shake is given in pixels of a 1280-wide frame and scaled to the image's width, so a
224-pixel thumbnail shakes by the same fraction of its view as the tower camera does.
"""

from __future__ import annotations

import re
from calendar import timegm
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.errors import SourceOpenError
from carbonedge.runtime.base.types import Frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_STAMP = re.compile(r"(\d{4})_(\d{2})_(\d{2})T(\d{2})_(\d{2})_(\d{2})")
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


def stamp_s(path: Path) -> float | None:
    """UTC seconds from a ``YYYY_MM_DDTHH_MM_SS`` stamp in the file name (FIgLib/HPWREN style)."""
    m = _STAMP.search(path.name)
    return None if m is None else float(timegm(tuple(int(g) for g in m.groups()) + (0, 0, 0)))


def labelled(path: Path) -> bool:
    """Whether ``labels/<stem>.txt`` next to the image holds at least one YOLO box."""
    label = path.parent / "labels" / f"{path.stem}.txt"
    return label.is_file() and any(line.split() for line in label.read_text().splitlines())


@dataclass(frozen=True)
class SequenceItem:
    path: Path
    t_s: float
    labelled: bool


def as_sequence(files: list[Path], interval_s: float) -> list[SequenceItem]:
    """Files with times (from their names when all have stamps, else ``interval_s`` apart)."""
    stamps = [stamp_s(p) for p in files]
    if files and all(s is not None for s in stamps):
        times = [float(s) for s in stamps]  # type: ignore[arg-type]
    else:
        times = [i * interval_s for i in range(len(files))]
    return [SequenceItem(p, t, labelled(p)) for p, t in zip(files, times, strict=True)]


def frame_at(image: NDArray[np.uint8], index: int, t_s: float, source_id: str, fps: float) -> Frame:
    return Frame(source_id, index, t_s, t_s, np.ascontiguousarray(image), fps)
