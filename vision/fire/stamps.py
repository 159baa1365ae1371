"""Capture times from tower-camera file names, so a folder of frames reads as one sequence.

Forms understood (the time is UTC unless the name says otherwise, as the archives publish it):

- FIgLib (HPWREN Fire Ignition images Library): ``<unix time>_<offset s>.jpg``, e.g.
  ``1531946340_+00120.jpg``; the offset is the time since the fire's ignition (negative before),
  so it also gives the ignition time;
- HPWREN / AlertWildfire / Pyronear style calendar stamps anywhere in the name:
  ``..._2020_06_11T19_56_01.jpg``, ``2020-06-11T19-56-01``, ``2020-06-11 19:56:01``,
  ``20200611T195601``, ``20200611_195601``;
- a bare 10-digit unix time: ``cam3_1591905361.jpg``.

The rest of the name (the stamp removed) is the camera key: one sequence is one camera.
"""

from __future__ import annotations

import re
from calendar import timegm
from dataclasses import dataclass
from pathlib import Path

_FIGLIB = re.compile(r"^(?P<unix>\d{9,10})_(?P<offset>[+-]\d{1,6})$")
_CALENDAR = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})[-_]?(?P<mo>\d{2})[-_]?(?P<d>\d{2})[T_ -]"
    r"(?P<h>\d{2})[-_:]?(?P<mi>\d{2})[-_:]?(?P<s>\d{2})(?!\d)"
)
_UNIX = re.compile(r"(?<!\d)(?P<unix>1\d{9})(?!\d)")  # 2001-09-09 .. 2033-05-18


@dataclass(frozen=True)
class Stamp:
    """What a file name says: capture time (UTC s), FIgLib offset from ignition (s), camera key."""

    t_s: float
    offset_s: float | None
    camera: str


def _calendar_s(m: re.Match[str]) -> float | None:
    y, mo, d, h, mi, s = (int(m[k]) for k in ("y", "mo", "d", "h", "mi", "s"))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        return None
    return float(timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def parse_stamp(path: Path | str) -> Stamp | None:
    """The capture time of an image from its name, or None when the name carries none."""
    stem = Path(path).stem
    m = _FIGLIB.match(stem)
    if m is not None:
        return Stamp(float(m["unix"]), float(int(m["offset"])), "figlib")
    m = _CALENDAR.search(stem)
    if m is not None:
        t = _calendar_s(m)
        if t is not None:
            return Stamp(t, None, stem[: m.start()] + "#" + stem[m.end() :])
    m = _UNIX.search(stem)
    if m is not None:
        return Stamp(float(m["unix"]), None, stem[: m.start()] + "#" + stem[m.end() :])
    return None


def stamp_s(path: Path | str) -> float | None:
    """UTC seconds of the capture time in the file name, or None."""
    stamp = parse_stamp(path)
    return None if stamp is None else stamp.t_s
