"""``carbonedge report STORE.sqlite``: one self-contained HTML page of what the box measured.

Reads the on-box store read-only (it can run while the service writes) and draws, as inline SVG
(no JavaScript, nothing fetched, so it opens offline and can be mailed as one file): counts over
time per class and direction, the speed distribution of line crossings and per-interval mean /
85th-percentile speeds, queue lengths, emissions with their 95 % intervals, and fire/smoke alarms.
The header gives device, sources, period and totals. Long periods are drawn in coarser time bins
(at most ``MAX_BINS``) so a month of one-minute summaries stays readable.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import ConfigError, StoreError
from carbonedge.runtime.report_runs import Run, event_in_runs, pick_runs, split_runs

logger = logging.getLogger(__name__)

MAX_BINS = 120
_BIN_STEPS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
SPEED_BIN_KMH = 5.0


@dataclass
class ReportData:
    """What the report draws: summary and event bodies as stored (JSON dicts), oldest first."""

    path: Path
    summaries: list[dict[str, Any]]
    crossings: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    unreadable_rows: int = 0
    zone: tzinfo = timezone.utc
    runs: list[Run] = field(default_factory=list)  # every run of the store (filters applied)
    chosen: list[Run] = field(default_factory=list)  # the runs drawn
    snapshots: list[Any] = field(default_factory=list)  # report_snapshot.Snapshot per camera
    snapshot_note: str = ""


def parse_utc(text: str) -> float:
    """ISO 8601 UTC ('...Z') -> seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def load_report_data(
    path: Path, device_id: str | None = None, source_ids: list[str] | None = None,
    *, run: str | int | None = None, zone: tzinfo | None = None,
) -> ReportData:  # fmt: skip
    """Read summaries, line crossings and alarms of one store, filtered by device and sources,
    of the runs ``run`` picks (``report_runs.pick_runs``: default the latest of each device);
    ``zone`` is the clock the page shows (default UTC).

    Raises ``StoreError`` naming the file when it is missing, not a carbonedge store, or holds no
    summary for the filter (the message lists what it does hold).
    """
    from carbonedge.runtime.store.readonly import read_bodies

    path = Path(path)
    stored = read_bodies(path)
    bodies, unreadable = _decode(stored.summaries + stored.events + stored.pending_alarms)
    everything = [b for b in bodies if b.get("kind") == "interval_summary"]
    data = ReportData(path, _select(everything, device_id, source_ids), unreadable_rows=unreadable)
    if not data.summaries:
        held = sorted({f"{b.get('device_id')}/{b.get('source_id')}" for b in everything})
        wanted = f" for device {device_id}" if device_id else ""
        wanted += f" for source {', '.join(source_ids)}" if source_ids else ""
        raise StoreError(f"{path}: no interval summaries{wanted}"
                         + (f" (it holds {', '.join(held)})" if held else ""))  # fmt: skip
    data.zone = zone if zone is not None else timezone.utc
    data.runs = split_runs(data.summaries, parse_utc)
    data.chosen = pick_runs(data.runs, run)
    data.summaries = [s for r in data.chosen for s in r.summaries]
    data.summaries.sort(key=lambda b: (b["interval_start"], b["source_id"]))
    crossings = _select(
        [b for b in bodies if b.get("kind") == "line_crossed"], device_id, source_ids
    )
    data.crossings = [c for c in crossings if event_in_runs(c, data.chosen, data.runs, _t_s(c))]
    alarms = {b["id"]: b for b in bodies if b.get("kind") == "fire_alarm" and "id" in b}
    data.alarms = sorted(
        (a for a in _select(list(alarms.values()), device_id, source_ids)
         if event_in_runs(a, data.chosen, data.runs, _t_s(a))),
        key=lambda b: b.get("t_wall", ""),
    )  # fmt: skip
    return data


def _t_s(body: dict[str, Any]) -> float:
    t_s = body.get("t_wall_s")
    if isinstance(t_s, (int, float)):
        return float(t_s)
    try:
        return parse_utc(str(body.get("t_wall", "")))
    except ValueError:
        return math.nan


def _decode(texts: list[str]) -> tuple[list[dict[str, Any]], int]:
    out, bad = [], 0
    for text in texts:
        try:
            body = json.loads(text)
        except (TypeError, ValueError):
            body = None
        if isinstance(body, dict):
            out.append(body)
        else:
            bad += 1
    if bad:
        logger.warning("%d stored rows are not JSON objects; the report skips them", bad)
    return out, bad


def _select(bodies: list[dict], device_id: str | None, source_ids: list[str] | None) -> list[dict]:
    return [
        b for b in bodies
        if (device_id is None or b.get("device_id") == device_id)
        and (not source_ids or b.get("source_id") in source_ids)
    ]  # fmt: skip


# -- time bins ------------------------------------------------------------------------------------


@dataclass
class Bins:
    """Equal time bins: bin ``i`` covers [origin_s + i * width_s, origin_s + (i + 1) * width_s)."""

    origin_s: float
    width_s: float
    count: int

    def index(self, t_s: float) -> int:
        return min(max(int((t_s - self.origin_s) // self.width_s), 0), self.count - 1)

    @property
    def starts_s(self) -> list[float]:
        return [self.origin_s + i * self.width_s for i in range(self.count)]

    @property
    def mids_s(self) -> list[float]:
        return [s + self.width_s / 2 for s in self.starts_s]


def make_bins(summaries: list[dict[str, Any]], max_bins: int = MAX_BINS) -> Bins:
    """The summaries' own interval when at most ``max_bins`` fit the period, else a coarser one."""
    starts = [parse_utc(s["interval_start"]) for s in summaries]
    ends = [parse_utc(s["interval_end"]) for s in summaries]
    full = sorted(e - s for s, e, b in zip(starts, ends, summaries, strict=True)
                  if not b.get("partial"))  # fmt: skip
    interval_s = (
        full[len(full) // 2] if full else max(e - s for s, e in zip(starts, ends, strict=True))
    )
    interval_s = max(interval_s, 1.0)
    t0, t1 = min(starts), max(ends)
    width = interval_s
    if (t1 - t0) / width > max_bins:
        width = next((s for s in _BIN_STEPS_S if s >= width and (t1 - t0) / s <= max_bins),
                     math.ceil((t1 - t0) / max_bins))  # fmt: skip
    origin = math.floor(t0 / width) * width
    return Bins(origin, width, max(math.ceil((t1 - origin) / width), 1))


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (NumPy's default method); ``q`` in 0-100."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- the command ----------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an offline HTML report (plots) from the on-box store")
    p.add_argument("store", type=Path, help="the SQLite store (output.sqlite_path)")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write")
    p.add_argument("--device", default=None, help="only this device id")
    p.add_argument("--source", action="append", default=None, help="only this source (repeat)")
    p.add_argument("--run", default=None, metavar="N|all",
                   help="which run (default: the latest; the page lists the others)")  # fmt: skip
    p.add_argument("--config", type=Path, default=None, metavar="SITE.yaml",
                   help="the site config: its time_zone, and a snapshot of each camera with its "
                        "lines and zones drawn")  # fmt: skip
    p.add_argument("--tz", default=None, help="IANA time zone (default: the config's "
                   "time_zone, else the system's)")  # fmt: skip
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from carbonedge.runtime.export import resolve_zone
    from carbonedge.runtime.report_page import render_report
    from carbonedge.runtime.report_snapshot import camera_snapshots

    config = None
    if args.config is not None:
        from carbonedge.runtime.config import load_site_config

        config = load_site_config(args.config)
    zone = resolve_zone(args.tz if args.tz is not None else config.time_zone if config else None)
    data = load_report_data(args.store, args.device, args.source, run=args.run, zone=zone)
    if config is not None:
        data.snapshots, data.snapshot_note = camera_snapshots(
            config, sorted({s["source_id"] for s in data.summaries}), args.config
        )
    else:
        data.snapshot_note = ("The store keeps no frames: pass --config SITE.yaml to draw each "
                              "camera's first frame (or calibration snapshot) with its lines "
                              "and zones.")  # fmt: skip
    html = render_report(data)
    write_atomic(args.out, html)
    sources = sorted({s["source_id"] for s in data.summaries})
    runs = ", ".join(str(r.number) for r in data.chosen)
    sys.stdout.write(
        f"wrote {args.out}: {len(data.summaries)} summaries, {len(data.crossings)} crossings, "
        f"{len(data.alarms)} alarm events; sources {', '.join(sources)}; "
        f"{local_text(parse_utc(data.summaries[0]['interval_start']), zone)} to "
        f"{local_text(parse_utc(data.summaries[-1]['interval_end']), zone)}; "
        f"run {runs} of {len(data.runs)}\n"
    )
    return 0


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a page)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def utc_text(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def local_text(t_s: float, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """``t_s`` on the site's clock with its UTC offset (``2026-01-01 16:00:00 UTC+08:00``)."""
    local = datetime.fromtimestamp(t_s, tz=zone)
    return f"{local.strftime(fmt)} {offset_text(local)}"


def offset_text(local: datetime) -> str:
    """``UTC`` or ``UTC+08:00``: an offset names one instant (abbreviations such as CST do not)."""
    minutes = round((local.utcoffset() or timedelta(0)).total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
