"""``carbonedge export STORE``: line-crossing counts per 15 min / hour / day as CSV or JSON.

CSV (UTF-8, a header row, no index column; opens in a spreadsheet): ``period_start``,
``period_end`` (local ISO 8601 with the UTC offset), ``camera``, ``line``, ``direction``,
``class``, ``count``; one row per non-zero cell and one ``total`` row per period, camera, line and
direction. JSON: the same rows as objects plus the whole store's per-class totals.
``--format emissions-csv`` writes the activity CSV ``carbonedge emissions`` reads. The tables
themselves are ``carbonedge.runtime.export``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

from carbonedge.runtime.base.errors import ConfigError

FORMATS = ("csv", "json", "emissions-csv")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="line-crossing counts per 15 min / hour / day as CSV or JSON")
    p.add_argument("store", type=Path, help="the SQLite store (output.sqlite_path)")
    p.add_argument("--period", default="15min", help="15min (default), 1h, 1d or N minutes")
    p.add_argument(
        "--format", choices=FORMATS, default="csv",
        help="csv (default), json, emissions-csv (what `carbonedge emissions` reads; one line)",
    )  # fmt: skip
    p.add_argument(
        "--tz",
        default=None,
        help="IANA time zone (default: the --config's time_zone, else the system's)",
    )
    p.add_argument("--config", type=Path, default=None, metavar="SITE.yaml",
                   help="the site config whose time_zone sets the clock")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    p.add_argument("--from", dest="from_", metavar="ISO", help="start (no offset: local time)")
    p.add_argument("--to", metavar="ISO", help="end, exclusive (no offset: local time)")
    p.add_argument("--camera", action="append", default=None, help="only this camera (repeat)")
    p.add_argument("--line", action="append", default=None, help="only this line id (repeat)")
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from carbonedge.runtime import export

    export.parse_period(args.period)  # the options first: a typo reads no store
    tz = args.tz
    if tz is None and args.config is not None:
        from carbonedge.runtime.config import load_site_config

        tz = load_site_config(args.config).time_zone
    zone = export.resolve_zone(tz)
    from_s = None if args.from_ is None else export.parse_instant(args.from_, zone, "--from")
    to_s = None if args.to is None else export.parse_instant(args.to, zone, "--to")
    if from_s is not None and to_s is not None and to_s <= from_s:
        raise ConfigError(f"--to {args.to!r} is not after --from {args.from_!r}")
    crossings, skipped = export.read_crossings(args.store)
    table = export.count_table(crossings, period=args.period, zone=zone, from_s=from_s,
                               to_s=to_s, cameras=args.camera, lines=args.line)  # fmt: skip
    table.skipped_rows = skipped
    if args.format == "json":
        doc = export.table_json(table, args.store, **{"from": from_s, "to": to_s})
        text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    elif args.format == "emissions-csv":
        text = _csv(export.EMISSIONS_COLUMNS, export.emissions_rows(table))
    else:
        text = _csv(export.COLUMNS, export.table_rows(table))
    if args.out is None:
        sys.stdout.write(text)
    else:
        _write_atomic(args.out, text)
        sys.stderr.write(
            f"wrote {args.out}: {table.crossings} crossings in {len(table.period_end_s)} periods "
            f"of {args.period} ({export.zone_name(zone)})\n"
        )
    return 0


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")  # RFC 4180
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    """UTF-8 through a temporary file and a rename: never half a table."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write the export ({exc.strerror or exc})") from None
