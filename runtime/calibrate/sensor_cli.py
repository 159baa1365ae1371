"""``carbonedge calibrate sensor zero-span|colocate SITE.yaml --sensor ID ...``: sensor corrections.

zero-span, in three steps on a running box:
  ``--begin [--minutes 60]``   the sensor reads ``calibrating`` (data flagged C): test gas goes on
  ``--value co2_ppm --zero-raw R0 --span-raw R1 --span-ref REF``   fit, print, save, end the state
  ``--cancel``                 end the state without saving

colocate: ``--value pm2_5_ugm3 --reference REF.csv (--box BOX.csv | --box-store carbonedge.sqlite)``
fits the reference instrument's series (CSV ``time,value``) on the box's raw readings (see
``carbonedge.calibration.sensor`` for the alignment rule) and prints gain, offset, R^2, RMSE and n.

Both save a signed calibration record (kind "sensor") through the site's ``calibration:`` records
folder unless ``--dry-run``; the other values' corrections of the sensor's current record are kept.
The runtime applies the sensor's current record when it starts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonedge.runtime.base.errors import ConfigError

if TYPE_CHECKING:
    from carbonedge.calibration.sensor import TimeSeries


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensor", help="zero/span or co-location correction of a gas/PM sensor")
    actions = p.add_subparsers(dest="sensor_action", required=True, metavar="ACTION")
    zs = actions.add_parser("zero-span", help="zero and span readings against reference values")
    _common(zs)
    step = zs.add_mutually_exclusive_group()
    step.add_argument("--begin", action="store_true", help="mark the sensor as calibrating")
    step.add_argument("--cancel", action="store_true", help="end calibrating without saving")
    zs.add_argument("--minutes", type=float, default=60.0, help="--begin: expires after (min)")
    zs.add_argument("--zero-raw", type=float, help="sensor reading in zero gas / filtered air")
    zs.add_argument("--zero-ref", type=float, default=0.0, help="true value of the zero gas")
    zs.add_argument("--span-raw", type=float, help="sensor reading in the span gas")
    zs.add_argument("--span-ref", type=float, help="true value of the span gas")
    zs.set_defaults(handler=_cmd_zero_span)
    co = actions.add_parser("colocate", help="fit against a reference instrument's time series")
    _common(co)
    co.add_argument("--reference", type=Path, required=True, help="CSV: time, value")
    co.add_argument("--reference-column", default="value")
    co.add_argument("--time-column", default="time", help="time column of both CSV files")
    box = co.add_mutually_exclusive_group(required=True)
    box.add_argument("--box", type=Path, help="CSV of the box's raw readings: time, <value>")
    box.add_argument("--box-store", type=Path, help="the on-box SQLite store (its summaries)")
    co.add_argument("--box-column", default=None, help="column in --box (default: --value)")
    co.add_argument("--label", choices=("start", "end"), default="start",
                    help="reference rows label the start or end of their interval")  # fmt: skip
    co.add_argument("--min-points", type=int, default=10, help="fewest overlapping intervals")
    co.add_argument("--residuals", type=Path, default=None, help="write time,residual CSV here")
    co.set_defaults(handler=_cmd_colocate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="the site YAML")
    p.add_argument("--sensor", required=True, help="sensor id in the site config")
    p.add_argument("--value", default=None, help="value name with its unit, e.g. co2_ppm")
    p.add_argument("--by", default="technician", help="who calibrates (recorded)")
    p.add_argument("--notes", default="", help="free text kept in the record")
    p.add_argument("--dry-run", action="store_true", help="print the fit, save nothing")
    p.add_argument("--json", action="store_true", help="print JSON")


def _site(args: argparse.Namespace) -> Any:
    from carbonedge.runtime.config import load_site_config

    config = load_site_config(args.config)
    ids = [s.id for s in getattr(config, "sensors", [])]
    if args.sensor not in ids:
        raise ConfigError(
            f"{args.config}: no sensor {args.sensor!r} in sensors ({', '.join(ids) or 'none'})"
        )
    return config


def _records_dir(config: Any, origin: Path) -> Path:
    section = getattr(config, "calibration", None)
    if section is None:
        raise ConfigError(
            f"{origin}: no calibration: section (records_dir, key or key_file): the runtime "
            "only applies signed sensor records from there"
        )
    return Path(section.records_dir)


def _need_value(args: argparse.Namespace) -> str:
    if not args.value:
        raise ConfigError("--value is required (the value name with its unit, e.g. co2_ppm)")
    return str(args.value)


def _cmd_zero_span(args: argparse.Namespace) -> int:
    from carbonedge.calibration.sensor import zero_span, zero_span_marker

    config = _site(args)
    if args.begin or args.cancel:
        marker = zero_span_marker(_records_dir(config, args.config), args.sensor)
    if args.begin:
        if not 0 < args.minutes <= 24 * 60:
            raise ConfigError(f"--minutes must be in (0, 1440] (got {args.minutes:g})")
        marker.parent.mkdir(parents=True, exist_ok=True)
        until_s = time.time() + args.minutes * 60
        marker.write_text(json.dumps({"by": args.by, "until_s": until_s}), encoding="utf-8")
        print(f"{args.sensor}: calibrating for up to {args.minutes:g} min (data flagged C); "
              f"finish with --value/--zero-raw/--span-raw/--span-ref, or --cancel")  # fmt: skip
        return 0
    if args.cancel:
        marker.unlink(missing_ok=True)
        print(f"{args.sensor}: calibration ended without a new record")
        return 0
    value = _need_value(args)
    missing = [f"--{n.replace('_', '-')}" for n in ("zero_raw", "span_raw", "span_ref")
               if getattr(args, n) is None]  # fmt: skip
    if missing:
        raise ConfigError(f"zero-span: give {', '.join(missing)} (or --begin / --cancel)")
    correction = zero_span(args.zero_raw, args.span_raw, args.span_ref, zero_ref=args.zero_ref)
    if args.json:
        print(json.dumps({"sensor": args.sensor, "value": value, **correction.to_dict()}))
    else:
        print(f"{args.sensor} {value}: corrected = {correction.gain:.6g} * raw "
              f"{correction.offset:+.6g}  (zero {args.zero_raw:g} -> {args.zero_ref:g}, "
              f"span {args.span_raw:g} -> {args.span_ref:g})")  # fmt: skip
    if not args.dry_run:
        _save(config, args, value, correction)
        zero_span_marker(_records_dir(config, args.config), args.sensor).unlink(missing_ok=True)
    return 0


def _cmd_colocate(args: argparse.Namespace) -> int:
    from carbonedge.calibration.sensor import colocate, read_series_csv

    config = _site(args)
    value = _need_value(args)
    reference = read_series_csv(args.reference, args.reference_column, time_column=args.time_column)
    if args.box is not None:
        box = read_series_csv(args.box, args.box_column or value, time_column=args.time_column)
    else:
        box = read_series_store(args.box_store, args.sensor, value)
    fit = colocate(reference, box, label=args.label, min_points=args.min_points)
    if args.residuals is not None:
        rows = "".join(
            f"{t:.3f},{r:.6g}\n" for t, r in zip(fit.times_s, fit.residuals, strict=True)
        )
        args.residuals.write_text("time,residual\n" + rows, encoding="utf-8")
    if args.json:
        print(json.dumps({"sensor": args.sensor, "value": value, **fit.to_dict()}))
    else:
        worst = float(abs(fit.residuals).max())
        print(f"{args.sensor} {value}: corrected = {fit.gain:.6g} * raw {fit.offset:+.6g}\n"
              f"  R^2 {fit.r2:.4f}  RMSE {fit.rmse:.4g}  n {fit.n_points}  "
              f"max |residual| {worst:.4g}\n  alignment: {fit.alignment}")  # fmt: skip
    if not args.dry_run:
        correction = fit.correction(reference=Path(args.reference).name, box=box.origin)
        _save(config, args, value, correction)
    return 0


def _save(config: Any, args: argparse.Namespace, value: str, correction: Any) -> None:
    from carbonedge.calibration.record import CalibrationRecord
    from carbonedge.calibration.sensor import SensorCorrection
    from carbonedge.runtime.calibrate.active import record_store_for

    _records_dir(config, args.config)
    store = record_store_for(config)
    current = SensorCorrection.of_record(store.current(args.sensor)) or SensorCorrection({})
    merged = current.with_value(value, correction)
    draft = CalibrationRecord(source_id=args.sensor, kind="sensor", created_by=args.by,
                              sensor=merged.to_record_dict(), notes=args.notes)  # fmt: skip
    record = store.save(draft)
    print(f"saved {record.record_id} ({store.root / args.sensor}); the runtime applies it "
          "at its next start")  # fmt: skip


def read_series_store(sqlite_path: Path, sensor_id: str, value_name: str) -> TimeSeries:
    """The raw means of ``value_name`` from the on-box store's interval summaries of a sensor
    (see ``carbonedge.calibration.sensor.series_from_summaries``)."""
    from carbonedge.calibration.errors import CalibrationInputError
    from carbonedge.calibration.sensor import series_from_summaries
    from carbonedge.runtime.store import Store

    sqlite_path = Path(sqlite_path)
    if not sqlite_path.is_file():
        raise CalibrationInputError(f"{sqlite_path}: on-box store not found")
    with Store(sqlite_path) as store:
        bodies = store.summaries()
    origin = f"{sqlite_path}:{sensor_id}.{value_name}"
    return series_from_summaries(bodies, sensor_id, value_name, origin)
