"""What to audit under a path: sequences (one camera's stamped frames) and folders of stills.

Folders are walked recursively (``labels/`` and hidden folders skipped). In each folder the images
whose names carry a capture time (``stamps.py``) are grouped by camera key; a group of at least
``MIN_SEQUENCE_FRAMES`` frames is one sequence, everything else in the folder is stills.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from carbonedge.runtime.base.errors import SourceOpenError
from carbonedge.vision.fire.stamps import parse_stamp

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MIN_SEQUENCE_FRAMES = 3
_SKIP_DIRS = ("labels",)


@dataclass(frozen=True)
class Unit:
    """One thing to score: ``kind`` "sequence" (files in capture order, ``times_s`` UTC s) or
    "stills" (``times_s`` empty)."""

    kind: str
    folder: Path
    files: tuple[Path, ...]
    times_s: tuple[float, ...] = ()


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _units_in(folder: Path, mode: str) -> list[Unit]:
    files = _images(folder)
    if not files:
        return []
    if mode == "sequence":
        return [Unit("sequence", folder, tuple(files))]
    if mode == "stills":
        return [Unit("stills", folder, tuple(files))]
    groups: dict[str, list[tuple[float, Path]]] = defaultdict(list)
    stills = []
    for path in files:
        stamp = parse_stamp(path)
        if stamp is None:
            stills.append(path)
        else:
            groups[stamp.camera].append((stamp.t_s, path))
    units = []
    for _, members in sorted(groups.items()):
        if len(members) < MIN_SEQUENCE_FRAMES:
            stills += [p for _, p in members]
            continue
        members.sort(key=lambda tp: (tp[0], tp[1].name))
        times = tuple(t for t, _ in members)
        units.append(Unit("sequence", folder, tuple(p for _, p in members), times))
    if stills:
        units.append(Unit("stills", folder, tuple(sorted(stills))))
    return units


def discover(path: Path, mode: str = "auto") -> list[Unit]:
    """Sequences and stills under ``path`` (a folder, walked recursively, or one image).

    ``mode`` "sequence" / "stills" forces every folder's images to be read as one sequence
    (frames in name order) / as stills. Raises ``SourceOpenError`` when ``path`` does not exist
    or holds no image at all.
    """
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise SourceOpenError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)})")
        return [Unit("stills", path.parent, (path,))]
    if not path.is_dir():
        raise SourceOpenError(f"{path}: no such folder")
    units = []
    for folder in [path, *sorted(p for p in path.rglob("*") if p.is_dir())]:
        rel = folder.relative_to(path).parts
        if any(part.startswith(".") or part in _SKIP_DIRS for part in rel):
            continue
        units += _units_in(folder, mode)
    if not units:
        raise SourceOpenError(
            f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder or its subfolders"
        )
    return units
