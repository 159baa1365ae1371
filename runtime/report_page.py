"""The HTML page of ``carbonedge report``: header, per-source table, charts and the alarm list.

Takes the ``ReportData`` that ``carbonedge.runtime.report`` read from the store, aggregates it into
time bins and lays out the inline SVG charts of ``report_charts``. One string out, no assets.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape
from typing import Any

from carbonedge.runtime import __version__
from carbonedge.runtime.report import (
    SPEED_BIN_KMH,
    Bins,
    ReportData,
    local_text,
    make_bins,
    parse_utc,
    percentile,
)
from carbonedge.runtime.report_charts import (
    PALETTE,
    Series,
    colour_for,
    diverging_bars_chart,
    histogram_chart,
    line_chart,
    zone_label,
)
from carbonedge.runtime.report_sections import (
    alarms_section,
    count_tables_section,
    movements_section,
    runs_section,
    snapshot_section,
)

_POLLUTANTS = (("co2_g", "CO₂", "chart-emissions-co2"), ("nox_g", "NOx", "chart-emissions-nox"),
               ("pm25_g", "PM2.5", "chart-emissions-pm25"))  # fmt: skip


def render_report(data: ReportData) -> str:
    """The whole page for ``data`` (at least one summary)."""
    bins = make_bins(data.summaries)
    sources = sorted({s["source_id"] for s in data.summaries})
    multi = len(sources) > 1
    x_range = (bins.origin_s, bins.origin_s + bins.count * bins.width_s)
    sections = [
        _header(data, sources, bins),
        runs_section(data),
        snapshot_section(data),
        _sources_table(data),
        count_tables_section(data, "15min", "Counts per 15 minutes"),
        count_tables_section(data, "1h", "Counts per hour"),
        movements_section(data),
        _counts_section(data, bins),
        _speeds_section(data, bins, x_range, multi),
        _queue_section(data, bins, x_range, multi),
        _emissions_section(data, bins, x_range),
        alarms_section(data),
    ]
    devices = ", ".join(sorted({s["device_id"] for s in data.summaries}))
    return _PAGE.format(
        title=escape(f"carbonedge report: {devices}"),
        css=_CSS,
        body="\n".join(sections),
        zone=escape(zone_label(data.zone, bins.origin_s)),
    )


# -- header and tables ----------------------------------------------------------------------------


def _header(data: ReportData, sources: list[str], bins: Bins) -> str:
    s = data.summaries
    counts = _class_direction_totals(s)
    total = sum(counts.values())
    inbound = sum(n for (_, d), n in counts.items() if d == "in")
    by_class = defaultdict(int)
    for (cls, _), n in counts.items():
        by_class[cls] += n
    class_text = ", ".join(f"{c} {n}" for c, n in sorted(by_class.items(), key=lambda kv: -kv[1]))
    t0 = min(parse_utc(x["interval_start"]) for x in s)
    t1 = max(parse_utc(x["interval_end"]) for x in s)
    speeds = [c["speed_kmh"] for c in data.crossings if c.get("speed_kmh") is not None]
    rows = [
        ("Device", ", ".join(sorted({x["device_id"] for x in s}))),
        ("Sources", ", ".join(sources)),
        ("Time zone", zone_label(data.zone, t0)),
        ("Period", f"{local_text(t0, data.zone)} to {local_text(t1, data.zone)} "
                   f"({_duration(t1 - t0)})"),
        ("Run", ", ".join(f"{r.number} of {len(data.runs)}" for r in data.chosen)),
        ("Intervals", f"{len(s)} summaries ({sum(bool(x.get('partial')) for x in s)} partial); "
                      f"charts in {_duration(bins.width_s)} bins"),
        ("Frames", f"{sum(x['frames'] for x in s):,} analysed, "
                   f"{sum(x.get('frame_errors', 0) for x in s):,} failed"),
        ("Line crossings", f"{total:,} ({inbound:,} in, {total - inbound:,} out)"
                           + (f": {class_text}" if class_text else "")),
        ("Speeds", f"{len(speeds):,} crossings with a speed"
                   + (f", mean {sum(speeds) / len(speeds):.1f} km/h, "
                      f"85th percentile {percentile(speeds, 85):.1f} km/h" if speeds else "")),
    ]  # fmt: skip
    for key, name, _ in _POLLUTANTS:
        triple = _emission_total(s, key)
        if triple is not None:
            rows.append((f"{name} emitted", _grams(*triple)))
    starts = sum(a.get("status") == "start" for a in data.alarms)
    rows.append(
        ("Alarms", f"{starts} fire/smoke alarms raised" if data.alarms else "none recorded")
    )
    if data.unreadable_rows:
        rows.append(("Skipped", f"{data.unreadable_rows} unreadable rows in the store"))
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    generated = local_text(datetime.now().timestamp(), data.zone, "%Y-%m-%d %H:%M")
    return (
        f"<header><h1>carbonedge report</h1><p class='sub'>{escape(str(data.path))} · generated "
        f"{generated} by carbonedge {__version__}</p><dl class='facts'>{cells}</dl></header>"
    )


def _sources_table(data: ReportData) -> str:
    rows = []
    for source in sorted({s["source_id"] for s in data.summaries}):
        own = [s for s in data.summaries if s["source_id"] == source]
        vehicles = sum(_class_direction_totals(own).values())
        rows.append(
            f"<tr><td>{escape(source)}</td><td>{escape(own[0]['device_id'])}</td>"
            f"<td>{escape(own[0].get('detector', ''))}</td><td>{len(own)}</td>"
            f"<td>{escape(_local(own[0]['interval_start'], data))}</td>"
            f"<td>{escape(_local(own[-1]['interval_end'], data))}</td>"
            f"<td>{sum(s['frames'] for s in own):,}</td>"
            f"<td>{sum(s.get('frame_errors', 0) for s in own):,}</td><td>{vehicles:,}</td></tr>"
        )
    return (
        "<section><h2>Sources</h2><div class='scroll'><table><thead><tr><th>source</th>"
        "<th>device</th><th>detector</th><th>intervals</th><th>first start</th><th>last end</th>"
        "<th>frames</th><th>frame errors</th><th>crossings</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


# -- chart sections -------------------------------------------------------------------------------


def _counts_section(data: ReportData, bins: Bins) -> str:
    classes = sorted({c for c, _ in _class_direction_totals(data.summaries)})
    up = {c: [0.0] * bins.count for c in classes}
    down = {c: [0.0] * bins.count for c in classes}
    for s in data.summaries:
        i = bins.index(parse_utc(s["interval_start"]))
        for directions in s["counts"].values():
            for cls, n in directions.get("in", {}).items():
                up[cls][i] += n
            for cls, n in directions.get("out", {}).items():
                down[cls][i] += n
    colours = {c: colour_for(c, k) for k, c in enumerate(classes)}
    lines = sorted({line for s in data.summaries for line in s["counts"]})
    chart = diverging_bars_chart(
        "chart-counts", "Line crossings per class and direction over time", bins.starts_s,
        bins.width_s, up, down, colours, f"vehicles per {_duration(bins.width_s)} (in ↑, out ↓)",
        zone=data.zone,
    )  # fmt: skip
    note = (f"Vehicles crossing the counting lines ({escape(', '.join(lines) or 'none')}), "
            "stacked by class: 'in' above the axis, 'out' below.")  # fmt: skip
    return _section("Counts over time", note, _legend([(c, colours[c], False) for c in classes]),
                    chart)  # fmt: skip


def _speeds_section(data: ReportData, bins: Bins, x_range: tuple[float, float], multi: bool) -> str:
    speeds = [(c.get("class_name", "?"), float(c["speed_kmh"])) for c in data.crossings
              if c.get("speed_kmh") is not None]  # fmt: skip
    parts = []
    if speeds:
        top = max(v for _, v in speeds)
        edges = [i * SPEED_BIN_KMH for i in range(int(top // SPEED_BIN_KMH) + 2)]
        classes = sorted({c for c, _ in speeds})
        stacks = {c: [0] * (len(edges) - 1) for c in classes}
        for cls, v in speeds:
            stacks[cls][min(int(v // SPEED_BIN_KMH), len(edges) - 2)] += 1
        values = [v for _, v in speeds]
        mean, p85 = sum(values) / len(values), percentile(values, 85)
        colours = {c: colour_for(c, k) for k, c in enumerate(classes)}
        parts.append(_legend([(c, colours[c], False) for c in classes]))
        parts.append(histogram_chart(
            "chart-speed-hist", "Distribution of crossing speeds", edges, stacks, colours,
            "speed at the line (km/h)", [(mean, f"mean {mean:.1f}"), (p85, f"p85 {p85:.1f}")],
        ))  # fmt: skip
    series = _speed_series(data, bins, multi)
    if series:
        parts.append(_legend([(s.name, s.colour, s.dashed) for s in series]))
        parts.append(line_chart("chart-speed-intervals", "Mean and 85th-percentile speed per line",
                                series, "speed (km/h)", x_range, zone=data.zone))  # fmt: skip
    if not parts:
        return _section("Speeds", "No speeds recorded: speeds need a ground plane on the source.")
    note = (f"Top: every line crossing with a speed, in {SPEED_BIN_KMH:g} km/h bins, stacked by "
            "class. Bottom: mean (solid) and 85th percentile (dashed) per interval and line, from "
            "the summaries (vehicle-weighted where several intervals share a bin).")  # fmt: skip
    return _section("Speeds", note, *parts)


def _speed_series(data: ReportData, bins: Bins, multi: bool) -> list[Series]:
    acc: dict[str, list[list[float]]] = defaultdict(lambda: [[0.0, 0.0, 0.0] for _ in
                                                             range(bins.count)])  # fmt: skip
    for s in data.summaries:
        i = bins.index(parse_utc(s["interval_start"]))
        for line, v in (s.get("line_speeds") or {}).items():
            n = v.get("vehicles", 0)
            if n and v.get("mean_kmh") is not None:
                cell = acc[f"{s['source_id']}/{line}" if multi else line][i]
                cell[0] += n
                cell[1] += n * v["mean_kmh"]
                cell[2] += n * v.get("p85_kmh", v["mean_kmh"])
    series = []
    for k, (name, cells) in enumerate(sorted(acc.items())):
        colour = PALETTE[k % len(PALETTE)]
        mids = bins.mids_s
        pts = [(mids[i], c) for i, c in enumerate(cells) if c[0] > 0]
        series.append(Series(f"{name} mean", colour, [(x, c[1] / c[0]) for x, c in pts]))
        series.append(
            Series(f"{name} p85", colour, [(x, c[2] / c[0]) for x, c in pts], dashed=True)
        )
    return series


def _queue_section(data: ReportData, bins: Bins, x_range: tuple[float, float], multi: bool) -> str:
    acc: dict[str, list[list[float]]] = defaultdict(lambda: [[0.0, 0.0, -1.0] for _ in
                                                             range(bins.count)])  # fmt: skip
    for s in data.summaries:
        i = bins.index(parse_utc(s["interval_start"]))
        weight = max(s.get("frames", 0), 1)
        for zone, z in (s.get("zones") or {}).items():
            cell = acc[f"{s['source_id']}/{zone}" if multi else zone][i]
            cell[0] += weight
            cell[1] += weight * z.get("queue_mean", 0.0)
            cell[2] = max(cell[2], z.get("queue_max", 0))
    if not acc:
        return _section("Queue length", "No zones configured: queues are measured in zones.")
    series = []
    for k, (name, cells) in enumerate(sorted(acc.items())):
        colour = PALETTE[k % len(PALETTE)]
        pts = [(bins.mids_s[i], c) for i, c in enumerate(cells) if c[0] > 0]
        series.append(Series(f"{name} mean", colour, [(x, c[1] / c[0]) for x, c in pts]))
        series.append(Series(f"{name} max", colour, [(x, c[2]) for x, c in pts], dashed=True))
    note = ("Vehicles stopped inside each zone: mean over the frames of the interval (solid) and "
            "the peak (dashed).")  # fmt: skip
    chart = line_chart(
        "chart-queue", "Queue length per zone", series, "vehicles queued", x_range, zone=data.zone
    )
    return _section("Queue length", note, _legend([(s.name, s.colour, s.dashed) for s in series]),
                    chart)  # fmt: skip


def _emissions_section(data: ReportData, bins: Bins, x_range: tuple[float, float]) -> str:
    with_emissions = [s for s in data.summaries if (s.get("emissions") or {}).get("total")]
    if not with_emissions:
        return _section("Emissions", "No emissions recorded: add an emissions section to the "
                        "site config.")  # fmt: skip
    parts = []
    for k, (key, name, chart_id) in enumerate(_POLLUTANTS):
        cells: dict[int, list[float]] = {}
        for s in with_emissions:
            triple = s["emissions"]["total"].get(key)
            if triple is None:
                continue
            cell = cells.setdefault(bins.index(parse_utc(s["interval_start"])), [0.0, 0.0, 0.0])
            for j in range(3):
                cell[j] += float(triple[j])
        if not cells:
            continue
        colour = ("#444444", PALETTE[4], PALETTE[3])[k]
        mids = bins.mids_s
        ordered = sorted(cells.items())
        series = Series(f"{name} (g)", colour, [(mids[i], c[0]) for i, c in ordered],
                        band=[(mids[i], c[1], c[2]) for i, c in ordered])  # fmt: skip
        parts.append(f"<h3>{escape(name)}</h3>")
        parts.append(_legend([(f"{name} estimate", colour, False),
                              ("95 % interval", colour, None)]))  # fmt: skip
        parts.append(
            line_chart(
                chart_id,
                f"{name} emitted per {_duration(bins.width_s)}",
                [series],
                f"{name} per {_duration(bins.width_s)} (g)",
                x_range,
                zone=data.zone,
            )
        )
    method = ", ".join(sorted({str(s["emissions"].get("method", "?")) for s in with_emissions}))
    note = (f"Traffic exhaust emissions in view ({escape(method)}), grams per bin; the shaded band "
            "is the 95 % interval (bands of several intervals in one bin are added, which widens "
            "them).")  # fmt: skip
    return _section("Emissions", note, *parts)


# -- helpers --------------------------------------------------------------------------------------


def _local(iso_utc: str, data: ReportData) -> str:
    return local_text(parse_utc(iso_utc), data.zone)


def _class_direction_totals(summaries: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for s in summaries:
        for directions in s["counts"].values():
            for direction, classes in directions.items():
                for cls, n in classes.items():
                    out[(cls, direction)] += n
    return out


def _emission_total(summaries: list[dict[str, Any]], key: str) -> tuple[float, ...] | None:
    triples = [s["emissions"]["total"][key] for s in summaries
               if key in ((s.get("emissions") or {}).get("total") or {})]  # fmt: skip
    if not triples:
        return None
    return tuple(sum(float(t[j]) for t in triples) for j in range(3))


def _grams(value: float, lo: float, hi: float) -> str:
    unit, scale = ("kg", 1e-3) if value >= 1000 else ("g", 1.0)
    return (f"{value * scale:,.4g} {unit} (95 % interval {lo * scale:,.4g} to {hi * scale:,.4g} "
            f"{unit}; per-interval bounds added)")  # fmt: skip


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def _legend(items: list[tuple[str, str, bool | None]]) -> str:
    """Swatches: a solid line, a dashed line (True) or a shaded box (None)."""
    spans = []
    for name, colour, dashed in items:
        kind = "band" if dashed is None else "dash" if dashed else "solid"
        spans.append(f"<span class='key'><i class='{kind}' style='--c:{colour}'></i>"
                     f"{escape(name)}</span>")  # fmt: skip
    return f"<div class='legend'>{''.join(spans)}</div>"


def _section(title: str, note: str, *parts: str) -> str:
    slug = title.lower().replace(" ", "-")
    return (f"<section id='{slug}'><h2>{escape(title)}</h2><p class='note'>{note}</p>"
            f"{''.join(parts)}</section>")  # fmt: skip


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;
 color:#1d2329;background:#f3f5f7;margin:0}
main{max-width:1040px;margin:0 auto;padding:24px}
header,section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);
 padding:18px 24px;margin-bottom:18px}
h1{margin:0;font-size:26px}h2{margin:0 0 4px;font-size:19px}h3{margin:14px 0 0;font-size:15px}
.sub{margin:2px 0 12px;color:#5b6670;font-size:13px}
.facts{display:grid;grid-template-columns:170px 1fr;gap:4px 14px;margin:0}
.facts dt{font-weight:600;color:#3a454f}.facts dd{margin:0}
.note{color:#4d5863;font-size:13.5px;margin:2px 0 8px}.none{color:#2d6a3e;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13.5px}
.scroll{overflow-x:auto;max-width:100%}.note,.sub,figcaption,dd{overflow-wrap:anywhere}
table.counts td,table.matrix td,tfoot th:last-child{text-align:right}
table.counts td:first-child{text-align:left}
tfoot th,tfoot td{border-top:2px solid #9aa4ad;font-weight:600}
tr.shown td{font-weight:600;background:#eef5fb}
figure{margin:10px 0}figcaption{font-size:13px;color:#4d5863}
svg.snapshot{width:100%;height:auto;display:block;border-radius:6px}
.evidence{display:flex;flex-wrap:wrap;gap:10px}.evidence img{max-width:100%;height:auto}
.evidence figure{max-width:460px}
@media (max-width:600px){main{padding:8px}header,section{padding:12px}
 .facts{grid-template-columns:1fr}.legend{margin-left:0}h1{font-size:21px}}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e6e9ec}th{color:#3a454f}
tr.start td{color:#b3261e;font-weight:600}
svg.chart{width:100%;height:auto;display:block;font-size:12px;fill:#333}
svg .axis-label{font-size:12.5px;fill:#3a454f}svg .tag{font-size:12px;fill:#222;font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px;margin:6px 0 2px 72px}
.key{display:inline-flex;align-items:center;gap:6px}
.key i{display:inline-block;width:22px;height:0;border-top:3px solid var(--c)}
.key i.dash{border-top-style:dashed}
.key i.band{height:10px;border:0;background:var(--c);opacity:.3}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body><main>
{body}
<footer class="note">Times are on the site clock ({zone}). Made offline from the on-box store;
no external resources.
</footer>
</main></body></html>
"""
