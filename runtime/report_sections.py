"""The report's table sections: runs, site snapshot, count tables per 15 min and per hour,
turning movements and alarms with their evidence.

Count tables come from the stored line crossings binned on the site's local clock by
``carbonedge.runtime.export`` (the same cells ``carbonedge export --format csv`` writes), one table
per camera and line: a row per period, a column per direction and class, and a total column.
Turning movements are two matrices: origin zone x destination zone from the summaries'
``movements`` section, and first line x last line crossed per track from the crossings, when a
camera has two lines or more.
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from carbonedge.runtime.report import ReportData, local_text, parse_utc
from carbonedge.runtime.report_snapshot import snapshot_svg

MAX_EVIDENCE_BYTES = 2 * 1024 * 1024  # larger evidence files are linked by path, not embedded
MAX_TABLE_ROWS = 400  # a month of 15-min periods: the tables say to export instead


def runs_section(data: ReportData) -> str:
    chosen = {r.number for r in data.chosen}
    rows = []
    for run in data.runs:
        crossings = sum(n for s in run.summaries for d in s["counts"].values()
                        for c in d.values() for n in c.values())  # fmt: skip
        mark = "shown" if run.number in chosen else f"--run {run.number}"
        rows.append(
            f"<tr class='{'shown' if run.number in chosen else ''}'><td>{run.number}</td>"
            f"<td>{escape(run.device_id)}</td><td>{escape(', '.join(run.sources))}</td>"
            f"<td>{escape(local_text(run.start_s, data.zone))}</td>"
            f"<td>{escape(local_text(run.end_s, data.zone))}</td>"
            f"<td>{len(run.summaries)}</td><td>{crossings:,}</td><td>{mark}</td></tr>"
        )
    note = (
        "Each start of the service or each recorded file is a run; the report shows one "
        "(the latest, unless <code>--run N</code> or <code>--run all</code> is given)."
    )
    return ("<section id='runs'><h2>Runs</h2>"
            f"<p class='note'>{note}</p><div class='scroll'><table><thead><tr><th>run</th>"
            "<th>device</th><th>cameras</th><th>start</th><th>end</th><th>intervals</th>"
            f"<th>crossings</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "</div></section>")  # fmt: skip


def snapshot_section(data: ReportData) -> str:
    parts = []
    for shot in data.snapshots:
        parts.append(f"<figure>{snapshot_svg(shot)}<figcaption>{escape(shot.camera)}: "
                     f"{escape(shot.origin)}, {shot.width_px} x {shot.height_px} px; "
                     f"{len(shot.lines)} lines, {len(shot.zones)} zones</figcaption>"
                     "</figure>")  # fmt: skip
    return (f"<section id='site'><h2>Site</h2><p class='note'>{escape(data.snapshot_note)}</p>"
            f"{''.join(parts)}</section>")  # fmt: skip


def count_tables_section(data: ReportData, period: str, title: str) -> str:
    """One table per camera and line: rows are local periods, columns direction x class."""
    from carbonedge.runtime.export import Crossing, count_table

    crossings = [Crossing(_t_s(c), str(c["source_id"]), str(c["line_id"]), str(c["direction"]),
                          str(c["class_name"])) for c in data.crossings]  # fmt: skip
    table = count_table(crossings, period=period, zone=data.zone)
    slug = f"counts-{period}"
    if not table.cells:
        return (f"<section id='{slug}'><h2>{escape(title)}</h2><p class='none'>No line crossings "
                "stored for this run.</p></section>")  # fmt: skip
    by_line: dict[tuple[str, str], dict[float, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for (start_s, camera, line, direction, cls), n in table.cells.items():
        by_line[(camera, line)][start_s][(direction, cls)] += n
    parts = []
    for (camera, line), periods in sorted(by_line.items()):
        columns = sorted({k for cells in periods.values() for k in cells},
                         key=lambda dc: (dc[0] != "in", dc[0], dc[1]))  # fmt: skip
        head = "".join(f"<th>{escape(d)} {escape(c)}</th>" for d, c in columns)
        rows = []
        ordered = sorted(periods.items())
        for start_s, cells in ordered[:MAX_TABLE_ROWS]:
            end_s = table.period_end_s[start_s]
            values = "".join(f"<td>{cells.get(k, 0)}</td>" for k in columns)
            rows.append(f"<tr data-start='{int(start_s)}'><td>{escape(_span(start_s, end_s, data))}"
                        f"</td>{values}<td>{sum(cells.values())}</td></tr>")  # fmt: skip
        totals = Counter()
        for _, cells in ordered:
            totals.update(cells)
        foot = "".join(f"<td>{totals.get(k, 0)}</td>" for k in columns)
        more = (f"<p class='note'>First {MAX_TABLE_ROWS} of {len(ordered)} periods; "
                "<code>carbonedge export</code> writes them all.</p>"
                if len(ordered) > MAX_TABLE_ROWS else "")  # fmt: skip
        parts.append(
            f"<h3>{escape(camera)} / line {escape(line)}</h3>{more}<div class='scroll'>"
            f"<table class='counts' data-camera='{escape(camera)}' data-line='{escape(line)}'>"
            f"<thead><tr><th>period</th>{head}<th>total</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody><tfoot><tr><th>total</th>{foot}"
            f"<th>{sum(totals.values())}</th></tr></tfoot></table></div>"
        )
    note = (f"Vehicles crossing each line per {escape(period)} period on the site clock "
            f"({escape(_zone_name(data))}), by direction and class; periods with no crossing are "
            "left out. The same cells as <code>carbonedge export STORE --period "
            f"{escape(period)}</code>.")  # fmt: skip
    return (f"<section id='{slug}'><h2>{escape(title)}</h2><p class='note'>{note}</p>"
            f"{''.join(parts)}</section>")  # fmt: skip


def movements_section(data: ReportData) -> str:
    parts = []
    zones = _zone_movements(data.summaries)
    for camera, (counts, incomplete) in sorted(zones.items()):
        zone_ids = sorted({o for o, _ in counts} | {d for _, d in counts} | set(incomplete))
        parts.append(_matrix(f"{camera}: origin zone x destination zone", f"zones-{camera}",
                             zone_ids, zone_ids, counts, incomplete,
                             "did not reach an exit zone"))  # fmt: skip
    for camera, (counts, single) in sorted(_line_movements(data.crossings).items()):
        lines = sorted({o for o, _ in counts} | {d for _, d in counts} | set(single))
        parts.append(_matrix(f"{camera}: first line x last line crossed", f"lines-{camera}",
                             lines, lines, counts, single, "crossed this line only"))  # fmt: skip
    if not parts:
        return ("<section id='movements'><h2>Turning movements</h2><p class='none'>No turning "
                "movements: they need entry and exit zones (movement: entry/exit/both) or two "
                "counting lines on a camera.</p></section>")  # fmt: skip
    note = ("Vehicles per origin (row) and destination (column). Zone movements are the "
            "analytics' origin-destination counts; line movements pair the first and the last "
            "line each track crossed (its tracker id within the camera).")  # fmt: skip
    return (f"<section id='movements'><h2>Turning movements</h2><p class='note'>{note}</p>"
            f"{''.join(parts)}</section>")  # fmt: skip


def alarms_section(data: ReportData) -> str:
    if not data.alarms:
        return ("<section id='alarms'><h2>Alarms</h2><p class='none'>No alarms recorded: the "
                "store holds no fire or smoke alarm for this period.</p></section>")  # fmt: skip
    rows, figures = [], []
    for a in data.alarms:
        status = str(a.get("status") or a.get("state") or "")
        bearing = a.get("bearing_deg")
        evidence = a.get("evidence") or {}
        rows.append(
            f"<tr class='{escape(status)}'><td>{escape(local_text(_t_s(a), data.zone))}</td>"
            f"<td>{escape(str(a.get('source_id', '')))}</td><td>{escape(status)}</td>"
            f"<td>{escape(', '.join(a.get('classes') or [str(a.get('alarm', ''))]))}</td>"
            f"<td>{float(a.get('confidence', 0.0)):.2f}</td>"
            f"<td>{'' if bearing is None else f'{float(bearing):.1f}°'}</td>"
            f"<td>{escape(str(a.get('alarm_id', a.get('id', '')))[:8])}</td></tr>"
        )
        for kind in ("full", "crop"):
            figures.append(_evidence(a, kind, evidence.get(kind), data))
    shown = "".join(f for f in figures if f)
    return ("<section id='alarms'><h2>Alarms</h2><div class='scroll'><table><thead><tr>"
            f"<th>time ({escape(_zone_name(data))})</th><th>source</th><th>status</th><th>what</th>"
            "<th>confidence</th><th>bearing (° from north)</th><th>alarm</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            + (f"<h3>Evidence</h3><div class='evidence'>{shown}</div>" if shown else "")
            + "</section>")  # fmt: skip


# -- helpers --------------------------------------------------------------------------------------


def _evidence(alarm: dict[str, Any], kind: str, path: str | None, data: ReportData) -> str:
    if not path:
        return ""
    caption = (f"{escape(str(alarm.get('source_id', '')))} {escape(str(alarm.get('status', '')))} "
               f"{escape(local_text(_t_s(alarm), data.zone))}, {kind}")  # fmt: skip
    file = Path(path)
    if not file.is_absolute():
        file = data.path.parent / file if not file.exists() else file
    try:
        raw = file.read_bytes() if file.stat().st_size <= MAX_EVIDENCE_BYTES else b""
    except OSError:
        return f"<figure class='missing'><figcaption>{caption}: {escape(path)} not found on " \
               "this machine</figcaption></figure>"  # fmt: skip
    if not raw.startswith(b"\xff\xd8"):
        return f"<figure class='missing'><figcaption>{caption}: {escape(path)} (not embedded)" \
               "</figcaption></figure>"  # fmt: skip
    uri = "data:image/jpeg;base64," + base64.b64encode(raw).decode("ascii")
    return f"<figure><img alt='{caption}' src='{uri}'><figcaption>{caption}</figcaption></figure>"


def _matrix(
    title: str, slug: str, rows: list[str], cols: list[str],
    counts: dict[tuple[str, str], int], extra: dict[str, int], extra_name: str,
) -> str:  # fmt: skip
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for o in rows:
        cells = "".join(f"<td>{counts.get((o, d), 0)}</td>" for d in cols)
        total = sum(counts.get((o, d), 0) for d in cols)
        body.append(f"<tr><th>{escape(o)}</th>{cells}<td>{total}</td>"
                    f"<td>{extra.get(o, 0)}</td></tr>")  # fmt: skip
    return (f"<h3>{escape(title)}</h3><div class='scroll'><table class='matrix' "
            f"id='matrix-{escape(slug)}'><thead><tr><th>from \\ to</th>{head}<th>total</th>"
            f"<th>{escape(extra_name)}</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
            "</div>")  # fmt: skip


def _zone_movements(summaries: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    out: dict[str, tuple[dict, dict]] = {}
    for s in summaries:
        section = s.get("movements")
        if not section:
            continue
        counts, incomplete = out.setdefault(s["source_id"], ({}, {}))
        for key, classes in (section.get("counts") or {}).items():
            origin, _, dest = key.partition("->")
            counts[(origin, dest)] = counts.get((origin, dest), 0) + sum(classes.values())
        for origin, n in (section.get("incomplete") or {}).items():
            incomplete[origin] = incomplete.get(origin, 0) + int(n)
    return out


def _line_movements(crossings: list[dict[str, Any]]) -> dict[str, tuple[dict, dict]]:
    tracks: dict[tuple[str, int], list[tuple[float, str]]] = defaultdict(list)
    lines_of: dict[str, set[str]] = defaultdict(set)
    for c in crossings:
        tracks[(c["source_id"], int(c.get("tracker_id", -1)))].append((_t_s(c), c["line_id"]))
        lines_of[c["source_id"]].add(c["line_id"])
    out: dict[str, tuple[dict, dict]] = {}
    for (camera, _), seen in tracks.items():
        if len(lines_of[camera]) < 2:
            continue
        counts, single = out.setdefault(camera, ({}, {}))
        seen.sort()
        first, last = seen[0][1], seen[-1][1]
        if first == last and len({line for _, line in seen}) == 1:
            single[first] = single.get(first, 0) + 1
        else:
            counts[(first, last)] = counts.get((first, last), 0) + 1
    return out


def _t_s(body: dict[str, Any]) -> float:
    t_s = body.get("t_wall_s")
    return float(t_s) if isinstance(t_s, (int, float)) else parse_utc(str(body["t_wall"]))


def _span(start_s: float, end_s: float, data: ReportData) -> str:
    a = datetime.fromtimestamp(start_s, tz=data.zone)
    b = datetime.fromtimestamp(end_s, tz=data.zone)
    return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}"


def _zone_name(data: ReportData) -> str:
    from carbonedge.runtime.report_charts import zone_label

    return zone_label(data.zone, data.chosen[0].start_s if data.chosen else 0.0)
