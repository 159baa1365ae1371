"""``carbonedge emissions ACTIVITY.csv``: interval emissions offline, for analysts to reproduce.

The CSV has one row per vehicle class (and movement) with the columns ``vehicle_class`` and
``vehicles`` (required) and ``movement``, ``distance_km``, ``mean_speed_kmh``, ``idle_s``
(optional; empty cells use the config defaults). ``--config`` takes a site YAML with an
``emissions:`` section, or a YAML file holding just that section.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from carbonedge.runtime.base.errors import ConfigError

if TYPE_CHECKING:
    from carbonedge.emissions.config import EmissionsConfig
    from carbonedge.emissions.estimate import ClassActivity, IntervalEmissions

_METHODS = {"copert": "COPERT (EMEP/EEA 2019)", "mee2014": "China MEE 2014"}
_LABELS = {"co2": "CO2", "nox": "NOx", "pm25": "PM2.5", "co": "CO"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("emissions", help="emissions with 95%% intervals from a count/speed CSV")
    p.add_argument("activity", type=Path, help="CSV: vehicle_class, vehicles[, movement, ...]")
    p.add_argument("--config", type=Path, default=None, help="YAML with an emissions: section")
    p.add_argument("--method", choices=("copert", "mee2014", "both"), default="both")
    p.add_argument("--start-s", type=float, default=None, help="interval start (Unix s)")
    p.add_argument("--end-s", type=float, default=None, help="interval end (Unix s)")
    p.add_argument("--json", action="store_true", help="print the summary JSON instead")
    p.set_defaults(handler=_cmd_emissions)


def load_emissions_config(path: Path | None) -> EmissionsConfig:
    """The ``emissions:`` section of ``path`` (or the whole file); defaults for None."""
    import yaml
    from pydantic import ValidationError

    from carbonedge.emissions.config import EmissionsConfig

    if path is None:
        return EmissionsConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML ({exc})") from exc
    prefix = ""
    if isinstance(raw, dict) and "emissions" in raw:
        raw, prefix = raw["emissions"], "emissions."
    try:
        return EmissionsConfig.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = f"{prefix}{loc}: " if loc else prefix  # validator messages name their own key
        raise ConfigError(f"{path}: {where}{msg}") from None


def read_activity_csv(path: Path) -> list[ClassActivity]:
    """Rows of the activity CSV; ``EmissionsInputError`` naming the line and column otherwise."""
    from carbonedge.emissions.errors import EmissionsInputError
    from carbonedge.emissions.estimate import ClassActivity

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmissionsInputError(f"{path}: cannot read CSV ({exc})") from exc
    if not rows:
        raise EmissionsInputError(f"{path}: no data rows")
    missing = {"vehicle_class", "vehicles"} - set(rows[0])
    if missing:
        raise EmissionsInputError(f"{path}: missing column(s): {', '.join(sorted(missing))}")
    out = []
    for line, row in enumerate(rows, start=2):
        column = "vehicles"
        try:
            values: dict[str, object] = {"vehicles": int(row["vehicles"])}
            for column in ("distance_km", "mean_speed_kmh", "idle_s"):
                cell = (row.get(column) or "").strip()
                if cell:
                    values[column] = float(cell)
            movement = (row.get("movement") or "").strip() or None
            out.append(
                ClassActivity(
                    vehicle_class=(row["vehicle_class"] or "").strip(), movement=movement, **values
                )
            )
        except ValueError as exc:
            raise EmissionsInputError(f"{path}: line {line}: {column}: {exc}") from None
        except EmissionsInputError as exc:
            raise EmissionsInputError(f"{path}: line {line}: {exc}") from None
    return out


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _cell(g) -> str:
    return f"{_fmt(g.value)} [{_fmt(g.lo)}, {_fmt(g.hi)}]"


def format_side_by_side(results: dict[str, IntervalEmissions]) -> str:
    """Plain-text table: totals, idle attribution and per-class rows, one column per method."""
    first = next(iter(results.values()))
    t = first.total
    lines = [
        f"{t.vehicles} vehicles, {t.distance_km:.2f} vehicle-km, idle {t.idle_s / 3600:.2f} "
        f"vehicle-h; grams, value [95% interval]; tables {first.table_version}",
        f"{'':22}" + "".join(f"{_METHODS[m]:>34}" for m in results),
    ]
    for scope, groups in [("total", {"": None})] + [("class", first.by_class)]:
        for name in groups:
            for p, label in _LABELS.items():
                row_label = f"{label} g" if scope == "total" else f"  {name} {label} g"
                cells = []
                for r in results.values():
                    grp = r.total if scope == "total" else r.by_class[name]
                    cells.append(f"{_cell(grp.grams[p]):>34}")
                lines.append(f"{row_label:22}" + "".join(cells))
            if scope == "total":
                cells = [
                    f"{_cell(r.idle_co2) + f' ({r.idle_co2_share or 0:.0%})':>34}"
                    for r in results.values()
                ]
                lines.append(f"{'idle CO2 g (in total)':22}" + "".join(cells))
                lines.append("by class:")
    for r in results.values():
        for note in r.proxies:
            lines.append(f"note: {note}")
    lines.append("not included: cold start, non-exhaust PM, evaporation; idle NOx/PM2.5/CO")
    return "\n".join(lines) + "\n"


def _cmd_emissions(args: argparse.Namespace) -> int:
    from carbonedge.emissions.estimate import estimate_interval

    config = load_emissions_config(args.config)
    activities = read_activity_csv(args.activity)
    methods = ("copert", "mee2014") if args.method == "both" else (args.method,)
    results = {}
    for method in methods:
        cfg = config if config.method == method else config.model_copy(update={"method": method})
        cfg = type(cfg).model_validate(cfg.model_dump())  # re-check the fleet for this method
        results[method] = estimate_interval(activities, cfg, start_s=args.start_s, end_s=args.end_s)
    if args.json:
        payload = {m: r.to_dict() for m, r in results.items()}
        sys.stdout.write(json.dumps(payload if len(payload) > 1 else payload[methods[0]]) + "\n")
    else:
        sys.stdout.write(format_side_by_side(results))
    return 0
