"""Ground truth of a recorded tower sequence: when the fire started and when smoke was first seen.

Sources, first found wins for each field:

1. ``labels/frames.csv`` (``file, unix_utc, offset_s, figlib_positive, smoke_visible_by_eye``):
   ignition = the first frame with ``figlib_positive`` 1 (or ``offset_s`` >= 0), first smoke =
   the first frame with ``smoke_visible_by_eye`` 1;
2. YOLO box files ``labels/<stem>.txt``: first smoke = the first frame with a box;
3. FIgLib names (``<unix>_<offset>.jpg``): ignition = the first frame with offset >= 0.

When only one of ignition and first smoke is known, the other takes its value. A sequence with
neither is a negative (every alarm is false).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from carbonedge.runtime.base.errors import SourceOpenError
from carbonedge.vision.fire.stamps import parse_stamp

FRAMES_CSV = Path("labels") / "frames.csv"


@dataclass(frozen=True)
class SequenceTruth:
    """Ignition and first-smoke times (UTC s, None for a negative) and where they came from."""

    ignition_t_s: float | None
    first_smoke_t_s: float | None
    source: str  # "frames.csv" | "yolo labels" | "figlib names" | "none"
    boxes: tuple[tuple[float, tuple[float, float, float, float]], ...] = ()  # (t, cxcywh 0-1)

    def box_near(self, t_s: float) -> tuple[float, float, float, float] | None:
        """The labelled smoke box (normalised cxcywh) of the labelled frame nearest ``t_s``."""
        if not self.boxes:
            return None
        return min(self.boxes, key=lambda tb: abs(tb[0] - t_s))[1]

    @property
    def positive(self) -> bool:
        return self.ignition_t_s is not None


def yolo_boxes(path: Path) -> list[tuple[float, float, float, float]]:
    """Class-0 (smoke) boxes of ``labels/<stem>.txt`` next to the image, normalised cxcywh."""
    label = path.parent / "labels" / f"{path.stem}.txt"
    if not label.is_file():
        return []
    out = []
    for line_no, line in enumerate(label.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:5])
        except (ValueError, TypeError):
            raise SourceOpenError(f"{label} line {line_no}: expected 'class cx cy w h'") from None
        if cls == 0:
            out.append((cx, cy, w, h))
    return out


def yolo_labelled(path: Path) -> bool:
    """Whether ``labels/<stem>.txt`` next to the image holds at least one YOLO box."""
    label = path.parent / "labels" / f"{path.stem}.txt"
    return label.is_file() and any(line.split() for line in label.read_text().splitlines())


def _flag(value: str, where: str) -> bool:
    value = value.strip()
    if value not in ("0", "1", ""):
        raise SourceOpenError(f"{where}: expected 0 or 1, got {value!r}")
    return value == "1"


def _from_csv(csv_path: Path, times: dict[str, float]) -> tuple[float | None, float | None]:
    ignition = smoke = None
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "smoke_visible_by_eye"} - set(reader.fieldnames or ())
        if missing:
            raise SourceOpenError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        for row_no, row in enumerate(reader, start=2):
            where = f"{csv_path} row {row_no}"
            t = times.get(row["file"])
            if t is None:
                continue  # a frame not in this folder
            offset = (row.get("offset_s") or "").strip()
            try:
                after = _flag(row.get("figlib_positive") or "", f"{where} figlib_positive") or (
                    offset != "" and float(offset) >= 0
                )
            except ValueError:
                raise SourceOpenError(f"{where} offset_s: not a number: {offset!r}") from None
            if after and (ignition is None or t < ignition):
                ignition = t
            if _flag(row["smoke_visible_by_eye"], f"{where} smoke_visible_by_eye"):
                smoke = t if smoke is None else min(smoke, t)
    return ignition, smoke


def sequence_truth(files: list[Path], times_s: list[float]) -> SequenceTruth:
    """Truth of one camera's frames ``files`` (captured at ``times_s``)."""
    if not files:
        return SequenceTruth(None, None, "none")
    folder = files[0].parent
    times = {p.name: t for p, t in zip(files, times_s, strict=True)}
    ignition = smoke = None
    source = "none"
    if (folder / FRAMES_CSV).is_file():
        ignition, smoke = _from_csv(folder / FRAMES_CSV, times)
        source = "frames.csv"
    if smoke is None:
        labelled = [t for p, t in zip(files, times_s, strict=True) if yolo_labelled(p)]
        if labelled:
            smoke, source = min(labelled), "yolo labels"
    if ignition is None:
        after = []
        for p, t in zip(files, times_s, strict=True):
            stamp = parse_stamp(p)
            if stamp is not None and stamp.offset_s is not None and stamp.offset_s >= 0:
                after.append(t)
        if after:
            ignition = min(after)
            source = source if source != "none" else "figlib names"
    if ignition is None:
        ignition = smoke
    if smoke is None:
        smoke = ignition
    boxes = tuple((t, b) for p, t in zip(files, times_s, strict=True) for b in yolo_boxes(p))
    return SequenceTruth(ignition, smoke, source, boxes)
