"""From the box's stored interval summaries to HJ 212 CP data (real-time, minute, hour, day).

Sensor summaries (``sensor`` section: per value mean/min/max, readings, device state) become
factors with ``-Rtd`` (CN 2011) or ``-Min``/``-Avg``/``-Max`` (2051/2061/2031), each with ``-Flag``
(Table 8). Traffic summaries add vehicle counts (line crossings) and estimated emissions as
``-Cou`` under our own codes (the standard has none). A period's values come from every summary
whose interval starts in it, so an hour is aggregated from the same stored minute summaries its
minutes were: averages are weighted by readings, minima and maxima are the extremes, counts and
emissions are sums.

Data flags from device state (devices/health.py states, plus ``calibrating``/``maintenance`` when a
device reports them, and the site's maintenance switch):

  maintenance switch or state ``maintenance`` -> M    state ``calibrating`` -> C
  state ``failed`` -> D (instrument fault)    no readings and ``stalled``/``connecting`` -> B
  no readings otherwise (stopped, closed) -> F    value above its ``upper_limit`` -> T
  otherwise N
  cameras: maintenance -> M; view moved off its calibration or only failed frames -> D;
  no frames -> F; otherwise N

A period's flag is N when at least 75 % of its intervals were N (the standard's note to C.16 for
flue gas), else the most frequent other flag.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from carbonedge.runtime.uplink.hj212.config import FactorCode, Hj212Config

__all__ = [
    "CpParts", "aggregate_cp", "combine_flags", "data_time", "parse_data_time", "realtime_cp",
    "sensor_flag",
]  # fmt: skip

#: ``(items, factors)``: plain ``Key=Value`` items and per-factor fields, as ``CpData`` takes them
CpParts = tuple[list[tuple[str, str]], dict[str, dict[str, str]]]

#: value names a sensor type produces, so a silent sensor's factors still carry a flag
TYPE_VALUES: dict[str, tuple[str, ...]] = {
    "pms5003": ("pm1_0_ugm3", "pm2_5_ugm3", "pm10_ugm3"),
    "mhz19": ("co2_ppm",),
    "senseair_s8": ("co2_ppm",),
}

MAX_HISTORY_PERIODS = 50_000  # a history request over more periods is refused (ExeRtn=3)
_FLAG_ORDER = "DBMCFTSN"  # tie-break among non-N flags: the more serious first


def data_time(t_s: float, tz: str) -> str:
    """Epoch seconds -> ``YYYYMMDDhhmmss`` in the platform's time zone."""
    return datetime.fromtimestamp(t_s, ZoneInfo(tz)).strftime("%Y%m%d%H%M%S")


def parse_data_time(text: str, tz: str, *, field: str = "DataTime") -> float:
    """``YYYYMMDDhhmmss`` in the platform's time zone -> epoch seconds; ValueError names it."""
    try:
        if len(text) != 14 or not text.isdigit():
            raise ValueError
        dt = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise ValueError(f"{field}: expected YYYYMMDDhhmmss, got {text!r}") from None
    return dt.timestamp()


def iso_to_s(text: str) -> float:
    """The store's ``2026-01-01T08:00:00.000Z`` -> epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def s_to_iso(t_s: float) -> str:
    dt = datetime.fromtimestamp(t_s, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sensor_flag(state: str, readings: int, *, maintenance: bool = False) -> str:
    """Table 8 flag of one sensor interval from its device state and reading count."""
    if maintenance or state == "maintenance":
        return "M"
    if state == "calibrating":
        return "C"
    if state == "failed":
        return "D"
    if readings > 0:
        return "N"
    return "B" if state in ("stalled", "connecting", "frozen") else "F"


def combine_flags(flags: Iterable[str]) -> str | None:
    """A period's flag from its intervals' flags (75 % N -> N, else the most frequent other)."""
    counts = Counter(flags)
    total = sum(counts.values())
    if total == 0:
        return None
    if counts["N"] >= 0.75 * total:
        return "N"
    others = [(n, -_FLAG_ORDER.find(f), f) for f, n in counts.items() if f != "N"]
    return max(others)[2]


def _num(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" if decimals == 0 and text in ("-0", "0") else text


class _Factor:
    """Weighted mean, extremes and flags of one factor code over a period."""

    def __init__(self, spec: FactorCode) -> None:
        self.spec = spec
        self.weighted = 0.0
        self.weight = 0
        self.lo, self.hi = math.inf, -math.inf
        self.flags: list[str] = []

    def add(self, stats: dict[str, float] | None, readings: int, flag: str) -> None:
        if stats is not None and readings > 0:
            s = self.spec.scale
            self.weighted += float(stats["mean"]) * s * readings
            self.weight += readings
            self.lo, self.hi = min(self.lo, stats["min"] * s), max(self.hi, stats["max"] * s)
            if flag == "N" and self.spec.upper_limit is not None:
                flag = "T" if stats["max"] * s > self.spec.upper_limit else flag
        self.flags.append(flag)

    def fields(self) -> dict[str, str]:
        d = self.spec.decimals
        out: dict[str, str] = {}
        if self.weight:
            out = {"Min": _num(self.lo, d), "Avg": _num(self.weighted / self.weight, d),
                   "Max": _num(self.hi, d)}  # fmt: skip
        flag = combine_flags(self.flags)
        if flag is not None:
            out["Flag"] = flag
        return out


def _sensor_values(sensor: dict[str, Any]) -> dict[str, dict[str, float] | None]:
    """Value name -> mean/min/max; a sensor without readings lists its type's values (None)."""
    values: dict[str, dict[str, float] | None] = dict(sensor.get("values") or {})
    if not values:
        for name in TYPE_VALUES.get(str(sensor.get("type")), ()):
            values[name] = None
    return values


def _vehicles(summary: dict[str, Any], lines: list[str] | None) -> Counter[str] | None:
    """Vehicles by class: the interval's line crossings (``counts``: line -> direction -> class),
    every crossing once, on every line or only ``lines``. Not the ``traffic`` section: it counts
    vehicles *seen* in the interval, so a vehicle seen in two intervals would count twice.
    None when the camera has no counting line (it cannot count vehicles: no ``-Cou`` from it)."""
    counted = {k: v for k, v in (summary.get("counts") or {}).items()
               if lines is None or k in lines}  # fmt: skip
    if not counted:
        return None
    out: Counter[str] = Counter()
    for by_dir in counted.values():
        for by_class in by_dir.values():
            for cls, n in by_class.items():
                out[cls] += int(n)
    return out


def _traffic_flag(summary: dict[str, Any], maintenance: bool) -> str:
    """M on maintenance; D when frames failed or the view moved off its calibration (counts on
    lines that no longer fit); F without frames; else N."""
    if maintenance:
        return "M"
    if summary.get("calibration_valid") is False:
        return "D"
    if summary.get("frames", 0) > 0:
        return "N"
    return "D" if summary.get("frame_errors", 0) > 0 else "F"


def aggregate_cp(
    summaries: Iterable[dict[str, Any]],
    config: Hj212Config,
    start_s: float,
    *,
    maintenance: bool = False,
) -> CpParts:
    """CP of one minute/hour/day period starting at ``start_s`` from the summaries in it.

    Sensor summaries give ``-Min/-Avg/-Max/-Flag`` per mapped value (unmapped values are left
    out); camera summaries give vehicle counts and emissions (kg) as ``-Cou``/``-Flag``.
    """
    codes = config.factor_codes()
    vehicle_codes, emission_codes = config.vehicle_code_map(), config.emission_code_map()
    factors: dict[str, _Factor] = {}
    cou: dict[str, float] = {}
    cou_flags: dict[str, list[str]] = {}
    for s in summaries:
        sensor = s.get("sensor")
        if sensor is not None:
            readings = int(sensor.get("readings", 0))
            flag = sensor_flag(str(sensor.get("state")), readings, maintenance=maintenance)
            for name, stats in _sensor_values(sensor).items():
                spec = codes.get(name)
                if spec is not None:
                    factors.setdefault(spec.code, _Factor(spec)).add(stats, readings, flag)
            continue
        if s.get("fire") is not None:
            continue  # fire cameras have no traffic; alarms go by the JSON uplink
        flag = _traffic_flag(s, maintenance)
        vehicles = _vehicles(s, config.vehicle_lines)
        mapped = {c: n for c, n in (vehicles or {}).items() if c in vehicle_codes and c != "total"}
        if vehicles is not None:
            mapped["total"] = sum(mapped.values())
        for cls, n in mapped.items():
            code = vehicle_codes[cls]
            cou[code] = cou.get(code, 0) + n
            cou_flags.setdefault(code, []).append(flag)
        total = (s.get("emissions") or {}).get("total") or {}
        for pollutant, code in emission_codes.items():
            triple = total.get(f"{pollutant}_g")
            if triple is not None:
                cou[code] = cou.get(code, 0.0) + float(triple[0]) / 1000.0  # g -> kg
                cou_flags.setdefault(code, []).append(flag)
    out: dict[str, dict[str, str]] = {}
    vehicle_set = set(vehicle_codes.values())
    for code in sorted(set(factors) | set(cou)):
        fields: dict[str, str] = {}
        if code in cou:
            n = cou[code]
            fields["Cou"] = str(int(n)) if code in vehicle_set else _num(n, 6)
            fields["Flag"] = combine_flags(cou_flags[code]) or "N"
        if code in factors:
            fields = {**factors[code].fields(), **fields}
        if fields:
            out[code] = _ordered(fields)
    return [("DataTime", data_time(start_s, config.timezone))], out


def _ordered(fields: dict[str, str]) -> dict[str, str]:
    """Fields in the standard's example order: Rtd, Cou, Min, Avg, Max, Flag."""
    order = ("Rtd", "Cou", "Min", "Avg", "Max", "Flag")
    return {k: fields[k] for k in order if k in fields}


def realtime_cp(
    latest: Iterable[dict[str, Any]],
    config: Hj212Config,
    t_s: float,
    *,
    states: dict[str, str] | None = None,
    maintenance: bool = False,
) -> CpParts:
    """CN 2011 CP at ``t_s``: each sensor's newest interval mean as ``-Rtd``.

    ``latest`` has one sensor summary per sensor (already checked for age); ``states`` the live
    device states by sensor id, which win over the state stored with the summary.
    """
    codes = config.factor_codes()
    out: dict[str, dict[str, str]] = {}
    for s in latest:
        sensor = s["sensor"]
        readings = int(sensor.get("readings", 0))
        state = (states or {}).get(s["source_id"], str(sensor.get("state")))
        flag = sensor_flag(state, readings, maintenance=maintenance)
        for name, stats in sorted(_sensor_values(sensor).items()):
            spec = codes.get(name)
            if spec is None:
                continue
            fields: dict[str, str] = {}
            value_flag = flag
            if stats is not None and readings > 0:
                value = float(stats["mean"]) * spec.scale
                fields["Rtd"] = _num(value, spec.decimals)
                if flag == "N" and spec.upper_limit is not None and value > spec.upper_limit:
                    value_flag = "T"
            fields["Flag"] = value_flag
            out[spec.code] = fields
    ordered = {code: out[code] for code in sorted(out)}
    return [("DataTime", data_time(t_s, config.timezone))], ordered


def period_starts(
    cn: str, begin_s: float, end_s: float, minute_s: int, tz: str
) -> list[tuple[float, float]] | None:
    """(start, end) of each minute/hour/day period of ``cn`` (2051/2061/2031) for a history
    request: minutes starting in [begin_s, end_s], hours and days from the one holding begin_s;
    None when reversed or more than ``MAX_HISTORY_PERIODS``."""
    if end_s < begin_s:
        return None
    zone = ZoneInfo(tz)
    t = datetime.fromtimestamp(begin_s, zone)
    if cn == "2051":
        step = timedelta(seconds=minute_s)
        t = datetime.fromtimestamp(begin_s - begin_s % minute_s, zone)
    elif cn == "2061":
        step, t = timedelta(hours=1), t.replace(minute=0, second=0, microsecond=0)
    else:
        step, t = timedelta(days=1), t.replace(hour=0, minute=0, second=0, microsecond=0)
    out: list[tuple[float, float]] = []
    while t.timestamp() <= end_s:
        if t.timestamp() >= begin_s or cn != "2051":
            out.append((t.timestamp(), (t + step).timestamp()))
        if len(out) > MAX_HISTORY_PERIODS:
            return None
        t += step
    return out
