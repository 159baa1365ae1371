"""Line-crossing count tables for traffic engineers: counts per period, camera, line, direction
and class (``carbonedge export``; the CLI is ``export_cli.py``).

Pure functions over a store read read-only (``store.readonly.read_bodies``: safe while the service
writes). Periods (``15min``, ``1h``, ``1d`` or N minutes dividing a day) are aligned to the local
clock of an IANA time zone: a 15-minute period starts at :00, :15, :30 or :45 local time, a day at
local midnight. On DST days a period is the time between two such local boundaries (a spring-
forward day has 23 hourly periods and a 23 h day; a fall-back day has two periods labelled 01:00,
told apart by their UTC offsets, and a 25 h day). Times are written as local ISO 8601 with the
offset, so each label names one instant.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carbonedge.runtime.base.errors import ConfigError

logger = logging.getLogger(__name__)

PERIOD_NAMES = {"15min": 15, "1h": 60, "1d": 1440}
DAY_MIN = 1440
TOTAL = "total"  # the class of the per-period total rows
COLUMNS = ("period_start", "period_end", "camera", "line", "direction", "class", "count")
EMISSIONS_COLUMNS = ("vehicle_class", "vehicles")

CellKey = tuple[float, str, str, str, str]  # (period start s, camera, line, direction, class)


@dataclass(frozen=True)
class Crossing:
    """One stored ``line_crossed`` event: what a count table needs."""

    t_s: float
    camera: str
    line: str
    direction: str
    class_name: str


@dataclass
class CountTable:
    """Counts per (period, camera, line, direction, class); ``store_totals`` per class over
    every crossing of the store (no range or camera filter)."""

    period: str
    period_min: int
    zone: tzinfo
    cells: dict[CellKey, int]
    period_end_s: dict[float, float]
    store_totals: dict[str, int]
    skipped_rows: int = 0
    crossings: int = 0
    selected: list[Crossing] = field(default_factory=list)


# -- parsing the options --------------------------------------------------------------------------


def parse_period(text: str) -> int:
    """``15min``, ``1h``, ``1d`` or N minutes (``30``, ``30min``, ``2h``) -> minutes; the period
    must divide a day so every period starts at the same local times each day."""
    text = str(text).strip().lower()
    if text in PERIOD_NAMES:
        return PERIOD_NAMES[text]
    match = re.fullmatch(r"(\d{1,4})\s*(min|m|h|d)?", text)
    minutes = None
    if match:
        minutes = int(match.group(1)) * {"h": 60, "d": DAY_MIN}.get(match.group(2) or "", 1)
    if minutes is None or not 1 <= minutes <= DAY_MIN or DAY_MIN % minutes:
        raise ConfigError(
            f"--period {text!r}: expected 15min, 1h, 1d or N minutes that divide a day "
            "(e.g. 5, 30, 2h)"
        )
    return minutes


def resolve_zone(name: str | None) -> tzinfo:
    """An IANA zone by name (``ConfigError`` naming it when unknown); None: the system's zone
    (``$TZ``, else ``/etc/localtime``), with its DST rules, UTC when none is set."""
    if name is None:
        return system_zone()
    try:
        if not name or name != name.strip() or ".." in name or name.startswith("/"):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"--tz {name!r}: unknown time zone (expected an IANA name such as Asia/Shanghai, "
            "Europe/London or UTC)"
        ) from None


def system_zone() -> tzinfo:
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            logger.warning("TZ=%s is not an IANA zone name; using /etc/localtime", env)
    local = Path("/etc/localtime")
    try:
        target = str(local.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
        with open(local, "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def parse_instant(text: str, zone: tzinfo, option: str) -> float:
    """ISO 8601 date or date-time -> seconds since the epoch; without an offset it is local time
    in ``zone``."""
    try:
        text = text.strip()
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: not an ISO 8601 date or time (e.g. 2026-03-29, "
            "2026-03-29T07:00 local, or 2026-03-29T07:00+01:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.timestamp()


# -- local-clock periods --------------------------------------------------------------------------


def period_start_s(t_s: float, period_min: int, zone: tzinfo) -> float:
    """Start of the period holding ``t_s``: the local clock floored to the period (the fold of a
    repeated hour is kept, so the two 01:00 hours of a fall-back night are two periods)."""
    local = datetime.fromtimestamp(t_s, zone)
    minute_of_day = local.hour * 60 + local.minute
    floored = minute_of_day - minute_of_day % period_min
    start = local.replace(hour=floored // 60, minute=floored % 60, second=0, microsecond=0)
    return start.timestamp()  # a start in a DST gap maps to the instant the gap begins


def period_end_s(start_s: float, period_min: int, zone: tzinfo) -> float:
    """End of the period starting at ``start_s``: the next local boundary, or an earlier UTC
    offset change after which the local clock is in another period (a fall-back)."""
    local = datetime.fromtimestamp(start_s, zone).replace(tzinfo=None)
    wall_start = local - timedelta(
        minutes=(local.hour * 60 + local.minute) % period_min,
        seconds=local.second,
        microseconds=local.microsecond,
    )
    wall_end = wall_start + timedelta(minutes=period_min)  # from the boundary: a gap moves starts
    end_s = wall_end.replace(tzinfo=zone, fold=0).timestamp()
    if end_s <= start_s:  # the repeated hour's second pass: its later instant
        end_s = wall_end.replace(tzinfo=zone, fold=1).timestamp()
    change_s = _offset_change_s(start_s, end_s, zone)
    if change_s is not None and period_start_s(change_s, period_min, zone) != start_s:
        return change_s
    return end_s


def _offset_change_s(lo_s: float, hi_s: float, zone: tzinfo) -> float | None:
    """The first whole second in (lo_s, hi_s) where the zone's UTC offset differs from that at
    ``lo_s`` (at most one change within a day), or None."""
    first = _offset(lo_s, zone)
    if _offset(hi_s - 1, zone) == first:
        return None
    lo, hi = int(lo_s), int(hi_s) - 1  # offset(lo) == first, offset(hi) != first
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _offset(mid, zone) == first else (lo, mid)
    return float(hi)


def _offset(t_s: float, zone: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(t_s, zone).utcoffset()


def local_iso(t_s: float, zone: tzinfo) -> str:
    """Seconds since the epoch -> local ISO 8601 with its UTC offset (``...T08:15:00+08:00``)."""
    return datetime.fromtimestamp(t_s, zone).isoformat(timespec="seconds")


# -- reading and binning --------------------------------------------------------------------------


def read_crossings(path: Path) -> tuple[list[Crossing], int]:
    """The store's line crossings, oldest first, and the number of unreadable crossing rows.
    ``StoreError`` naming the file when it is missing or not a carbonedge store."""
    from carbonedge.runtime.store.readonly import read_bodies

    crossings, bad = [], 0
    for text in read_bodies(Path(path)).events:
        try:
            body = json.loads(text)
            if body.get("kind") != "line_crossed":
                continue
            t_s = body.get("t_wall_s")
            if not isinstance(t_s, (int, float)):
                t_s = datetime.fromisoformat(body["t_wall"].replace("Z", "+00:00")).timestamp()
            crossings.append(Crossing(float(t_s), str(body["source_id"]), str(body["line_id"]),
                                      str(body["direction"]), str(body["class_name"])))  # fmt: skip
        except (TypeError, ValueError, KeyError, AttributeError):
            bad += 1
    if bad:
        logger.warning("%s: %d stored crossings are unreadable and left out", path, bad)
    return crossings, bad


def count_table(
    crossings: list[Crossing], *, period: str = "15min", zone: tzinfo | None = None,
    from_s: float | None = None, to_s: float | None = None,
    cameras: list[str] | None = None, lines: list[str] | None = None,
) -> CountTable:  # fmt: skip
    """Bin ``crossings`` (``from_s <= t < to_s``, the cameras and lines given) per local period."""
    period_min = parse_period(period)
    zone = zone if zone is not None else system_zone()
    totals = Counter(c.class_name for c in crossings)
    table = CountTable(period, period_min, zone, {}, {}, dict(sorted(totals.items())))
    table.store_totals[TOTAL] = len(crossings)
    for c in crossings:
        if (from_s is not None and c.t_s < from_s) or (to_s is not None and c.t_s >= to_s):
            continue
        if (cameras and c.camera not in cameras) or (lines and c.line not in lines):
            continue
        start_s = period_start_s(c.t_s, period_min, zone)
        if start_s not in table.period_end_s:
            table.period_end_s[start_s] = period_end_s(start_s, period_min, zone)
        key = (start_s, c.camera, c.line, c.direction, c.class_name)
        table.cells[key] = table.cells.get(key, 0) + 1
        table.selected.append(c)
    table.crossings = len(table.selected)
    return table


def table_rows(table: CountTable) -> list[dict[str, Any]]:
    """One row per non-zero cell, then per (period, camera, line, direction) a ``total`` row;
    ordered by period, camera, line, direction, class."""
    totals: Counter[tuple[float, str, str, str]] = Counter()
    for (start_s, camera, line, direction, _), n in table.cells.items():
        totals[(start_s, camera, line, direction)] += n
    keyed = list(table.cells.items())
    keyed += [((*k, TOTAL), n) for k, n in totals.items()]
    keyed.sort(key=lambda kn: (*kn[0][:4], kn[0][4] == TOTAL, kn[0][4]))
    return [
        {
            "period_start": local_iso(start_s, table.zone),
            "period_end": local_iso(table.period_end_s[start_s], table.zone),
            "camera": camera,
            "line": line,
            "direction": direction,
            "class": name,
            "count": n,
        }
        for (start_s, camera, line, direction, name), n in keyed
    ]


def emissions_rows(table: CountTable) -> list[dict[str, Any]]:
    """The ``carbonedge emissions`` activity CSV rows: vehicles per emitting class over the
    selection, both directions. One line only (a vehicle crossing two lines would count twice):
    ``ConfigError`` listing the lines otherwise, or when no emitting vehicle crossed."""
    from carbonedge.emissions.fleet import INPUT_CLASSES

    pairs = sorted({(c.camera, c.line) for c in table.selected})
    if len(pairs) > 1:
        held = ", ".join(f"{camera}/{line}" for camera, line in pairs)
        raise ConfigError(
            "--format emissions-csv counts each vehicle once, so it needs one line: choose it "
            f"with --camera and --line (the selection has {held})"
        )
    by_class = Counter(c.class_name for c in table.selected if c.class_name in INPUT_CLASSES)
    if not by_class:
        raise ConfigError(
            "--format emissions-csv: no crossings of an emitting class "
            f"({', '.join(INPUT_CLASSES)}) in the selection"
        )
    return [{"vehicle_class": name, "vehicles": n} for name, n in sorted(by_class.items())]


def table_json(table: CountTable, store: Path | str, **range_s: float | None) -> dict[str, Any]:
    """The JSON document: what was exported, the rows and the whole store's per-class totals."""
    return {
        "store": str(store),
        "period": table.period,
        "period_min": table.period_min,
        "time_zone": zone_name(table.zone),
        **{name: (None if t is None else local_iso(t, table.zone)) for name, t in range_s.items()},
        "crossings": table.crossings,
        "skipped_rows": table.skipped_rows,
        "columns": list(COLUMNS),
        "rows": table_rows(table),
        "store_totals": table.store_totals,
    }
