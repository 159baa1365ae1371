"""Sensor calibration: a linear correction per value, from zero/span or a co-location fit.

Each value of a sensor (``co2_ppm``, ``pm2_5_ugm3``, ...) may carry ``corrected = gain * raw +
offset``. Two ways to get gain and offset:

- zero/span: the sensor's reading in zero gas / filtered air (``zero_raw``, reference ``zero_ref``,
  usually 0) and in a span gas / against a reference instrument (``span_raw`` vs ``span_ref``).
- co-location: the sensor beside a reference instrument for days; ordinary least squares of the
  reference's series on the box's series, aligned by time. Alignment rule: a reference row at
  ``t_i`` stands for the interval ``[t_i, t_i + step)`` (``label="start"``, as HJ 212 DataTime and
  most loggers) or ``(t_i - step, t_i]`` (``label="end"``), where ``step`` is the reference's
  median spacing; every box reading whose time falls in that interval is averaged (weighted by
  its number of readings when the box series comes from interval summaries); reference rows
  without a box reading are skipped.

``SensorCorrection`` (all values of one sensor plus the calibration record id) is what the sensor
driver applies (``devices/sensors/base.py``) and what a calibration record's ``sensor`` dict holds.
Gains are positive, so min/max keep their order and raw = (corrected - offset) / gain.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.errors import CalibrationInputError

__all__ = [
    "ColocationFit",
    "ZERO_SPAN_MARKER",
    "LinearCorrection",
    "SensorCorrection",
    "TimeSeries",
    "colocate",
    "read_series_csv",
    "series_from_summaries",
    "zero_span_in_progress",
    "zero_span_marker",
    "zero_span",
]

MIN_COLOCATION_POINTS = 3
#: File in ``records_dir/<sensor_id>/`` while a zero/span runs: the runtime reads the sensor as
#: ``calibrating`` (data flagged C) until it is removed or its ``until_s`` passes.
ZERO_SPAN_MARKER = "zero-span-in-progress.json"


@dataclass(frozen=True)
class LinearCorrection:
    """``corrected = gain * raw + offset`` for one value; ``details`` says how it was obtained."""

    gain: float
    offset: float
    method: str = "manual"  # "zero_span" | "colocation" | "manual"
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gain) and math.isfinite(self.offset)):
            raise CalibrationInputError(
                f"correction: gain and offset must be finite (got {self.gain}, {self.offset})"
            )
        if self.gain <= 0:
            raise CalibrationInputError(f"correction: gain must be positive (got {self.gain:g})")

    def apply(self, raw: float) -> float:
        return self.gain * raw + self.offset

    def invert(self, corrected: float) -> float:
        """The raw value behind ``corrected``."""
        return (corrected - self.offset) / self.gain

    def to_dict(self) -> dict[str, Any]:
        return {"gain": self.gain, "offset": self.offset, "method": self.method, **self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> LinearCorrection:
        """Parse a record entry; errors name ``where`` (e.g. ``pm@v2: sensor.co2_ppm``)."""
        try:
            gain, offset = float(data["gain"]), float(data["offset"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationInputError(f"{where}: needs numeric gain and offset ({exc})") from None
        method = str(data.get("method", "manual"))
        details = {k: v for k, v in data.items() if k not in ("gain", "offset", "method")}
        try:
            return cls(gain, offset, method, details)
        except CalibrationInputError as exc:
            raise CalibrationInputError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class SensorCorrection:
    """The corrections of one sensor, by value name; ``record_id`` names their record."""

    values: Mapping[str, LinearCorrection]
    record_id: str | None = None

    def apply(self, values: Mapping[str, float]) -> dict[str, float]:
        """Corrected copy of ``values``; names without a correction pass through unchanged."""
        out = dict(values)
        for name, correction in self.values.items():
            if name in out:
                out[name] = correction.apply(float(out[name]))
        return out

    def summary(self) -> dict[str, Any]:
        """What an interval summary records: record id and gain/offset per corrected value."""
        return {
            "record_id": self.record_id,
            "values": {n: {"gain": c.gain, "offset": c.offset} for n, c in self.values.items()},
        }

    def to_record_dict(self) -> dict[str, Any]:
        """The calibration record's ``sensor`` dict."""
        return {"corrections": {n: c.to_dict() for n, c in sorted(self.values.items())}}

    @classmethod
    def from_record_dict(
        cls, data: Mapping[str, Any] | None, record_id: str | None = None
    ) -> SensorCorrection:
        where = record_id or "sensor calibration"
        if not isinstance(data, Mapping) or not isinstance(data.get("corrections"), Mapping):
            raise CalibrationInputError(f"{where}: sensor section needs a 'corrections' mapping")
        values = {
            str(name): LinearCorrection.from_dict(entry, f"{where}: sensor.corrections.{name}")
            for name, entry in data["corrections"].items()
        }
        return cls(values, record_id)

    @classmethod
    def of_record(cls, record: Any) -> SensorCorrection | None:
        """The correction a ``CalibrationRecord`` of kind "sensor" holds (None: none)."""
        if record is None or record.kind != "sensor" or not record.sensor:
            return None
        return cls.from_record_dict(record.sensor, record.record_id)

    def with_value(self, name: str, correction: LinearCorrection) -> SensorCorrection:
        """A copy with ``name`` (re)placed, e.g. a new zero/span for one gas of a sensor."""
        return SensorCorrection({**self.values, name: correction}, self.record_id)


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise CalibrationInputError(f"zero/span: {name} must be a number (got {value!r})") from None
    if not math.isfinite(value):
        raise CalibrationInputError(f"zero/span: {name} must be finite (got {value})")
    return value


def zero_span(
    zero_raw: float, span_raw: float, span_ref: float, *, zero_ref: float = 0.0
) -> LinearCorrection:
    """Gain and offset through (zero_raw, zero_ref) and (span_raw, span_ref).

    Raises ``CalibrationInputError`` for non-finite input, a span reading equal to the zero
    reading (or a span reference equal to the zero reference: no slope), and a negative gain (span
    and zero swapped, or the wrong gas).
    """
    zr, sr = _finite("zero_raw", zero_raw), _finite("span_raw", span_raw)
    zref, sref = _finite("zero_ref", zero_ref), _finite("span_ref", span_ref)
    if sr == zr:
        raise CalibrationInputError(
            f"zero/span: span reading equals zero reading ({sr:g}): the sensor did not respond "
            "to the span gas"
        )
    if sref == zref:
        raise CalibrationInputError(f"zero/span: span reference equals zero reference ({sref:g})")
    gain = (sref - zref) / (sr - zr)
    if gain <= 0:
        raise CalibrationInputError(
            f"zero/span: negative gain {gain:.4g} (zero reading {zr:g}, span reading {sr:g}, "
            f"references {zref:g} -> {sref:g}): zero and span swapped?"
        )
    details = {"zero_raw": zr, "zero_ref": zref, "span_raw": sr, "span_ref": sref}
    return LinearCorrection(gain, zref - gain * zr, "zero_span", details)


@dataclass(frozen=True)
class TimeSeries:
    """Times (UTC epoch seconds) and values, sorted by time; ``weight`` per point (readings)."""

    t_s: NDArray[np.float64]
    values: NDArray[np.float64]
    weight: NDArray[np.float64]
    origin: str  # "file:column", for error messages


def _parse_time(text: str, where: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CalibrationInputError(
            f"{where}: time {text!r} is neither ISO 8601 nor epoch seconds"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)  # naive times are UTC
    return stamp.timestamp()


def read_series_csv(path: Path, column: str, *, time_column: str = "time") -> TimeSeries:
    """Read ``time_column`` and ``column`` of a CSV file with a header row.

    Times are epoch seconds or ISO 8601 (``2026-01-01T08:00:00Z``; without a zone they are UTC).

    Empty cells in ``column`` are skipped (a logger's gap); anything else that is not a finite
    number is an error naming the file, line and column.
    """
    path = Path(path)
    origin = f"{path}:{column}"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            for name in (time_column, column):
                if name not in header:
                    raise CalibrationInputError(
                        f"{path}: no column {name!r} (columns: {', '.join(header) or 'none'})"
                    )
            times, values = [], []
            for row in reader:
                where = f"{path} line {reader.line_num} column {column!r}"
                cell = (row.get(column) or "").strip()
                if not cell:
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    raise CalibrationInputError(f"{where}: {cell!r} is not a number") from None
                if not math.isfinite(value):
                    raise CalibrationInputError(f"{where}: {cell!r} is not finite")
                times.append(_parse_time(row[time_column] or "", f"{path} line {reader.line_num}"))
                values.append(value)
    except FileNotFoundError:
        raise CalibrationInputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CalibrationInputError(f"{path}: cannot read CSV ({exc})") from None
    order = np.argsort(np.asarray(times, dtype=np.float64), kind="stable")
    t = np.asarray(times, dtype=np.float64)[order]
    v = np.asarray(values, dtype=np.float64)[order]
    return TimeSeries(t, v, np.ones_like(v), origin)


def series_from_summaries(
    summaries: Iterable[Mapping[str, Any]], sensor_id: str, value_name: str, origin: str
) -> TimeSeries:
    """The raw means of ``value_name`` from a sensor's interval summaries (their JSON bodies, as
    the on-box store keeps them; ``runtime.calibrate.sensor_cli.read_series_store`` reads them).

    Each summary is one point at its interval's midpoint, weighted by its readings; a summary
    written under a correction is inverted back to raw (``raw = (mean - offset) / gain``), so a
    new fit never stacks on an old one. Summaries without the value are skipped.
    """
    bodies = [b for b in summaries if b.get("source_id") == sensor_id]
    times, values, weights = [], [], []
    for body in bodies:
        section = body.get("sensor") or {}
        stats = (section.get("values") or {}).get(value_name)
        if not stats or not section.get("readings"):
            continue
        mean = float(stats["mean"])
        applied = ((section.get("correction") or {}).get("values") or {}).get(value_name)
        if applied:
            mean = (mean - float(applied["offset"])) / float(applied["gain"])
        start = _parse_time(body["interval_start"], origin)
        end = _parse_time(body["interval_end"], origin)
        times.append((start + end) / 2)
        values.append(mean)
        weights.append(float(section["readings"]))
    if not times:
        raise CalibrationInputError(f"{origin}: the store holds no summaries with this value")
    order = np.argsort(np.asarray(times), kind="stable")
    as_array = np.asarray
    return TimeSeries(as_array(times, dtype=np.float64)[order],
                      as_array(values, dtype=np.float64)[order],
                      as_array(weights, dtype=np.float64)[order], origin)  # fmt: skip


def align(
    reference: TimeSeries, box: TimeSeries, label: Literal["start", "end"] = "start"
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(times, reference values, box means) of the reference intervals that hold box readings.

    See the module docstring for the rule. Shapes (n,), float64.
    """
    if reference.t_s.size < 2:
        raise CalibrationInputError(
            f"{reference.origin}: needs at least 2 rows to know its interval "
            f"(got {reference.t_s.size})"
        )
    step_s = float(np.median(np.diff(reference.t_s)))
    if step_s <= 0:
        raise CalibrationInputError(f"{reference.origin}: times do not increase (repeated rows?)")
    # Step 1: each reference interval [lo, hi), clipped to one step at gaps.
    nxt = np.append(reference.t_s[1:], np.inf)
    if label == "start":
        lo, hi = reference.t_s, np.minimum(nxt, reference.t_s + step_s)
    else:
        prev = np.insert(reference.t_s[:-1], 0, -np.inf)
        lo, hi = np.maximum(prev, reference.t_s - step_s), reference.t_s
    # Step 2: weighted box mean per interval (end-labelled intervals are (lo, hi]).
    side = "left" if label == "start" else "right"
    first = np.searchsorted(box.t_s, lo, side=side)
    last = np.searchsorted(box.t_s, hi, side=side)
    wsum = np.concatenate([[0.0], np.cumsum(box.weight)])
    vsum = np.concatenate([[0.0], np.cumsum(box.weight * box.values)])
    weights = wsum[last] - wsum[first]
    keep = weights > 0
    means = (vsum[last] - vsum[first])[keep] / weights[keep]
    return reference.t_s[keep], reference.values[keep], means


@dataclass(frozen=True)
class ColocationFit:
    """OLS ``reference = gain * box + offset`` over ``n_points`` aligned intervals.

    ``residuals`` = reference - fitted (reference units), shape (n_points,) float64, at
    ``times_s``; ``r2`` the coefficient of determination, ``rmse`` the residuals' RMS.
    """

    gain: float
    offset: float
    r2: float
    rmse: float
    n_points: int
    times_s: NDArray[np.float64]
    reference: NDArray[np.float64]
    box: NDArray[np.float64]
    residuals: NDArray[np.float64]
    alignment: str

    def correction(self, **details: Any) -> LinearCorrection:
        stats = {"r2": round(self.r2, 6), "rmse": round(self.rmse, 6), "n_points": self.n_points,
                 "alignment": self.alignment}  # fmt: skip
        return LinearCorrection(self.gain, self.offset, "colocation", {**stats, **details})

    def to_dict(self) -> dict[str, Any]:
        return {"gain": self.gain, "offset": self.offset, "r2": self.r2, "rmse": self.rmse,
                "n_points": self.n_points, "alignment": self.alignment,
                "residuals": [round(float(r), 6) for r in self.residuals]}  # fmt: skip


def colocate(
    reference: TimeSeries,
    box: TimeSeries,
    *,
    label: Literal["start", "end"] = "start",
    min_points: int = 10,
) -> ColocationFit:
    """Fit the box's series to the reference's (see the module docstring for the alignment).

    Raises ``CalibrationInputError`` naming the file and column when fewer than
    ``max(min_points, 3)`` intervals overlap, a series is constant over them, or the fitted gain is
    not positive.
    """
    times, ref, mean = align(reference, box, label)
    need = max(min_points, MIN_COLOCATION_POINTS)
    if times.size < need:
        raise CalibrationInputError(
            f"co-location: only {times.size} reference intervals of {reference.origin} hold "
            f"readings of {box.origin} (need {need}); do the times overlap (both UTC)?"
        )
    for series, origin in ((ref, reference.origin), (mean, box.origin)):
        if np.ptp(series) <= 1e-12 * max(1.0, float(np.max(np.abs(series)))):
            raise CalibrationInputError(
                f"co-location: {origin} is constant ({series[0]:g}) over the {times.size} "
                "overlapping intervals: no slope can be fitted"
            )
    # Step 3: ordinary least squares on centred data.
    x_mean, y_mean = float(mean.mean()), float(ref.mean())
    dx, dy = mean - x_mean, ref - y_mean
    gain = float(dx @ dy / (dx @ dx))
    offset = y_mean - gain * x_mean
    residuals = ref - (gain * mean + offset)
    if gain <= 0:
        raise CalibrationInputError(
            f"co-location: fitted gain {gain:.4g} of {reference.origin} on {box.origin} is not "
            "positive: the series do not move together (wrong column or time zone?)"
        )
    r2 = 1.0 - float(residuals @ residuals) / float(dy @ dy)
    rmse = float(np.sqrt(np.mean(residuals**2)))
    rule = f"reference rows label the {label} of their interval; box readings averaged within"
    return ColocationFit(gain, offset, r2, rmse, int(times.size), times, ref, mean, residuals, rule)


def zero_span_marker(records_dir: Path, sensor_id: str) -> Path:
    return Path(records_dir) / sensor_id / ZERO_SPAN_MARKER


def zero_span_in_progress(marker: Path, now_s: float | None = None) -> str | None:
    """Why the sensor is calibrating (who, until when), or None: no marker, or it expired."""
    try:
        data = json.loads(Path(marker).read_text(encoding="utf-8"))
        until_s, by = float(data["until_s"]), str(data.get("by", "unknown"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return f"zero/span marker {marker} unreadable"  # still calibrating: better C than N
    if (time.time() if now_s is None else now_s) >= until_s:
        return None
    until = datetime.fromtimestamp(until_s, timezone.utc).isoformat(timespec="seconds")
    return f"zero/span by {by} until {until.replace('+00:00', 'Z')}"
