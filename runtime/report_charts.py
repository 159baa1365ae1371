"""Inline SVG charts for the offline HTML report: no JavaScript, no fonts or files to fetch.

Three shapes cover the report: time lines with an optional shaded band (speeds, queues,
emissions with their 95 % interval), diverging stacked bars over time (counts per class, "in"
above the axis and "out" below) and a stacked histogram (crossing speeds). Every chart is one
``<svg>`` with an ``id`` and a ``<title>``; every bar and point carries a ``<title>`` so hovering
shows its value in any browser. Times are seconds since the epoch, drawn on the site's clock
(``zone``: ticks fall on round local times, the axis names the zone and its UTC offset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from html import escape

WIDTH_PX, HEIGHT_PX = 960, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 24, 16, 46
_PLOT_W = WIDTH_PX - _LEFT - _RIGHT
_PLOT_H = HEIGHT_PX - _TOP - _BOTTOM

# Okabe-Ito colour-blind-safe palette; vehicle classes keep one colour across every chart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#555555")
CLASS_COLOURS = {
    "car": "#0072B2", "van": "#CC79A7", "bus_or_truck": "#D55E00", "truck": "#D55E00",
    "bus": "#E69F00", "motorcycle": "#009E73", "bicycle": "#56B4E9", "person": "#555555",
}  # fmt: skip

_TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                 43200, 86400, 172800, 604800)  # fmt: skip


@dataclass
class Series:
    """One line: ``points`` (x, y); ``band`` (x, lo, hi) is shaded behind it when given."""

    name: str
    colour: str
    points: list[tuple[float, float]]
    band: list[tuple[float, float, float]] = field(default_factory=list)
    dashed: bool = False


def colour_for(name: str, index: int) -> str:
    """The class's own colour, or the palette's ``index``-th."""
    return CLASS_COLOURS.get(name, PALETTE[index % len(PALETTE)])


def nice_ticks(lo: float, hi: float, target: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k; whole numbers when ``integer``) covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / target
    if integer:
        raw = max(raw, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(
        m * magnitude
        for m in (1, 2, 2.5, 5, 10)
        if m * magnitude >= raw and not (integer and not float(m * magnitude).is_integer())
    )
    first = math.floor(lo / step) * step
    ticks, value = [], first
    while value < hi + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def format_number(value: float) -> str:
    """Short tick label: 12, 2.5, 0.04, 1.2k, 3.4M."""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.3g}M"
    if a >= 1e4:
        return f"{value / 1e3:.3g}k"
    if a >= 100 or value == 0:
        return f"{value:.0f}"
    return f"{value:.3g}"


def time_ticks(
    t0_s: float, t1_s: float, target: int = 7, zone: tzinfo = timezone.utc
) -> tuple[list[float], str]:
    """Tick times on a round step of the local clock of ``zone`` and their strftime format."""
    span = max(t1_s - t0_s, 1.0)
    step = next((s for s in _TIME_STEPS_S if span / s <= target), _TIME_STEPS_S[-1])
    offset_s = datetime.fromtimestamp(t0_s, tz=zone).utcoffset() or timezone.utc.utcoffset(None)
    shift = offset_s.total_seconds() if offset_s else 0.0  # one offset: DST mid-axis shifts ticks
    first = math.ceil((t0_s + shift) / step) * step - shift
    ticks = [first + i * step for i in range(int((t1_s - first) // step) + 1)]
    fmt = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%d %b"
    if step < 86400 and t1_s - t0_s > 86400:
        fmt = "%d %b %H:%M"
    return ticks, fmt


class _Frame:
    """Scales from data to pixels and the axes of one plot area."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, integer: bool = False,
                 zone: tzinfo = timezone.utc) -> None:  # fmt: skip
        self.zone = zone
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1.0
        self.y_ticks = nice_ticks(y0, y1, integer=integer)
        self.y0, self.y1 = min(self.y_ticks[0], y0), max(self.y_ticks[-1], y1)

    def x(self, value: float) -> float:
        return _LEFT + (value - self.x0) / (self.x1 - self.x0) * _PLOT_W

    def y(self, value: float) -> float:
        return _TOP + _PLOT_H - (value - self.y0) / (self.y1 - self.y0) * _PLOT_H

    def y_axis(self, label: str, absolute: bool = False) -> list[str]:
        out = []
        for tick in self.y_ticks:
            y = self.y(tick)
            text = format_number(abs(tick) if absolute else tick)
            stroke = "#333" if tick == 0 else "#e3e3e3"
            out.append(f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="{stroke}" stroke-width="1"/>')  # fmt: skip
            out.append(f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
        mid = _TOP + _PLOT_H / 2
        out.append(f'<text x="16" y="{mid:.1f}" text-anchor="middle" class="axis-label" '
                   f'transform="rotate(-90 16 {mid:.1f})">{escape(label)}</text>')  # fmt: skip
        return out

    def time_axis(self) -> list[str]:
        ticks, fmt = time_ticks(self.x0, self.x1, zone=self.zone)
        label = f"time ({zone_label(self.zone, self.x0)})"
        out = [f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{_TOP + _PLOT_H}" '
               f'y2="{_TOP + _PLOT_H}" stroke="#333"/>']  # fmt: skip
        for t in ticks:
            x = self.x(t)
            text = datetime.fromtimestamp(t, tz=self.zone).strftime(fmt)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP + _PLOT_H}" '
                       f'y2="{_TOP + _PLOT_H + 5}" stroke="#333"/>')  # fmt: skip
            out.append(f'<text x="{x:.1f}" y="{_TOP + _PLOT_H + 18}" '
                       f'text-anchor="{_anchor(x)}">{text}</text>')  # fmt: skip
        day = datetime.fromtimestamp(self.x0, tz=self.zone).strftime("%Y-%m-%d")
        out.append(f'<text x="{_LEFT + _PLOT_W / 2:.1f}" y="{HEIGHT_PX - 6}" text-anchor="middle" '
                   f'class="axis-label">{escape(label)}, from {day}</text>')  # fmt: skip
        return out

    def value_axis(self, label: str) -> list[str]:
        """A numeric x axis (the histogram's)."""
        out = [f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{_TOP + _PLOT_H}" '
               f'y2="{_TOP + _PLOT_H}" stroke="#333"/>']  # fmt: skip
        for tick in nice_ticks(self.x0, self.x1, target=10):
            if self.x0 <= tick <= self.x1:
                x = self.x(tick)
                out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP + _PLOT_H}" '
                           f'y2="{_TOP + _PLOT_H + 5}" stroke="#333"/>')  # fmt: skip
                out.append(f'<text x="{x:.1f}" y="{_TOP + _PLOT_H + 18}" '
                           f'text-anchor="middle">{format_number(tick)}</text>')  # fmt: skip
        out.append(f'<text x="{_LEFT + _PLOT_W / 2:.1f}" y="{HEIGHT_PX - 6}" text-anchor="middle" '
                   f'class="axis-label">{escape(label)}</text>')  # fmt: skip
        return out


def _anchor(x_px: float) -> str:
    """Keep a tick label inside the picture at both ends of the axis."""
    if x_px > WIDTH_PX - _RIGHT - 30:
        return "end"
    return "start" if x_px < _LEFT - 20 else "middle"


def _svg(chart_id: str, title: str, body: list[str]) -> str:
    return "\n".join([
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH_PX} {HEIGHT_PX}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg" aria-labelledby="{escape(chart_id)}-t">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        *body,
        "</svg>",
    ])  # fmt: skip


def _time_label(t_s: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(t_s, tz=zone).strftime("%Y-%m-%d %H:%M:%S")


def zone_label(zone: tzinfo, t_s: float) -> str:
    """``Asia/Shanghai, UTC+08:00`` (the zone's name and its offset at ``t_s``) or ``UTC``."""
    local = datetime.fromtimestamp(t_s, tz=zone)
    minutes = round((local.utcoffset() or timezone.utc.utcoffset(None)).total_seconds() / 60)
    name = getattr(zone, "key", None) or str(zone)
    if minutes == 0 and name in ("UTC", "Etc/UTC", "UTC+00:00"):
        return "UTC"
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{name}, UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def line_chart(
    chart_id: str, title: str, series: list[Series], y_label: str, x_range: tuple[float, float],
    zone: tzinfo = timezone.utc,
) -> str:  # fmt: skip
    """Lines over time (y from 0), each with its optional band; a lone point is drawn as a dot."""
    ys = [y for s in series for _, y in s.points] + [hi for s in series for _, _, hi in s.band]
    frame = _Frame(x_range[0], x_range[1], 0.0, max(ys, default=1.0) or 1.0, zone=zone)
    body = frame.y_axis(y_label) + frame.time_axis()
    for s in series:
        if s.band:
            upper = " ".join(f"{frame.x(x):.1f},{frame.y(hi):.1f}" for x, _, hi in s.band)
            lower = " ".join(f"{frame.x(x):.1f},{frame.y(lo):.1f}" for x, lo, _ in reversed(s.band))
            body.append(f'<polygon points="{upper} {lower}" fill="{s.colour}" '
                        f'fill-opacity="0.18" stroke="none"><title>{escape(s.name)}: 95 % '
                        "interval</title></polygon>")  # fmt: skip
        if len(s.points) > 1:
            pts = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in s.points)
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            body.append(f'<polyline points="{pts}" fill="none" stroke="{s.colour}" '
                        f'stroke-width="2.2"{dash}/>')  # fmt: skip
        if len(s.points) <= 80:  # dots (with a hover value) while they stay readable
            for x, y in s.points:
                body.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" '
                            f'fill="{s.colour}"><title>{escape(s.name)} {_time_label(x, zone)}: '
                            f'{y:.4g}</title></circle>')  # fmt: skip
    return _svg(chart_id, title, body)


def diverging_bars_chart(
    chart_id: str,
    title: str,
    starts_s: list[float],
    width_s: float,
    up: dict[str, list[float]],
    down: dict[str, list[float]],
    colours: dict[str, str],
    y_label: str,
    zone: tzinfo = timezone.utc,
) -> str:
    """Stacked bars per time bin: ``up`` stacks above zero, ``down`` below (same keys, colours)."""
    top = max((sum(v[i] for v in up.values()) for i in range(len(starts_s))), default=0.0)
    bottom = max((sum(v[i] for v in down.values()) for i in range(len(starts_s))), default=0.0)
    x1 = (starts_s[-1] + width_s) if starts_s else 1.0
    frame = _Frame(
        starts_s[0] if starts_s else 0.0, x1, -bottom, max(top, 1.0), integer=True, zone=zone
    )
    body = frame.y_axis(y_label, absolute=True) + frame.time_axis()
    bar_w = max(frame.x(width_s) - frame.x(0.0) - 2.0, 1.0)
    for i, start in enumerate(starts_s):
        x = frame.x(start) + 1.0
        for sign, stacks in ((1, up), (-1, down)):
            base = 0.0
            for name, values in stacks.items():
                n = values[i]
                if n <= 0:
                    continue
                y_a, y_b = frame.y(sign * base), frame.y(sign * (base + n))
                direction = "in" if sign > 0 else "out"
                body.append(f'<rect x="{x:.1f}" y="{min(y_a, y_b):.1f}" width="{bar_w:.1f}" '
                            f'height="{abs(y_a - y_b):.1f}" fill="{colours[name]}">'
                            f"<title>{_time_label(start, zone)} {escape(name)} {direction}: {n:g}"
                            "</title></rect>")  # fmt: skip
                base += n
    return _svg(chart_id, title, body)


def histogram_chart(
    chart_id: str,
    title: str,
    edges: list[float],
    stacks: dict[str, list[int]],
    colours: dict[str, str],
    x_label: str,
    markers: list[tuple[float, str]],
) -> str:
    """Stacked histogram over ``edges`` (len = bins + 1) with labelled vertical markers."""
    heights = [sum(v[i] for v in stacks.values()) for i in range(len(edges) - 1)]
    frame = _Frame(edges[0], edges[-1], 0.0, max(heights, default=1) or 1, integer=True)
    body = frame.y_axis("vehicles") + frame.value_axis(x_label)
    for i in range(len(edges) - 1):
        base = 0
        x, w = frame.x(edges[i]) + 1.0, max(frame.x(edges[i + 1]) - frame.x(edges[i]) - 2.0, 1.0)
        for name, values in stacks.items():
            n = values[i]
            if n <= 0:
                continue
            y_a, y_b = frame.y(base), frame.y(base + n)
            body.append(f'<rect x="{x:.1f}" y="{y_b:.1f}" width="{w:.1f}" height="{y_a - y_b:.1f}" '
                        f'fill="{colours[name]}"><title>{escape(name)} {edges[i]:g}-'
                        f"{edges[i + 1]:g} {escape(x_label)}: {n}</title></rect>")  # fmt: skip
            base += n
    for k, (value, label) in enumerate(markers):
        x = frame.x(value)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_TOP + _PLOT_H}" '
                    f'stroke="#222" stroke-width="1.5" stroke-dasharray="4 3"/>')  # fmt: skip
        body.append(f'<text x="{x + 4:.1f}" y="{_TOP + 12 + 14 * k}" class="tag">'
                    f"{escape(label)}</text>")  # fmt: skip
    return _svg(chart_id, title, body)
