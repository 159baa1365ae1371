"""``carbonedge platform status``: what the platform store knows about its boxes.

Per box: the site, messages stored, first and last seq, seqs missing between them (gaps; the
in-flight tail after the last seq is not a gap), replays, when its last message was created and
received, and whether it is late (nothing received for more than ``--late-min`` minutes). Reads
the PostgreSQL store (``--postgres DSN``, the ``device_status`` view) or an ingest SQLite file
(``--db``; replays are not kept per device there). Heavy imports stay in the functions: the
CLI registers this module at every start.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_SQLITE_STATUS = """
WITH gaps AS (
    SELECT device_id, sum(next_seq - seq - 1) AS missing FROM (
        SELECT device_id, seq, lead(seq) OVER (PARTITION BY device_id ORDER BY seq) AS next_seq
        FROM seen) WHERE next_seq > seq + 1 GROUP BY device_id)
SELECT m.device_id, max(m.site_id), count(*), min(m.seq), max(m.seq), max(m.created_at),
       max(m.received_at), coalesce(g.missing, 0), NULL
FROM messages m LEFT JOIN gaps g USING (device_id) GROUP BY m.device_id ORDER BY m.device_id
"""
_PG_STATUS = """SELECT device_id, site_id, messages, first_seq, last_seq, last_created_at,
       last_received_at, missing_seqs, replays FROM device_status"""
_FIELDS = ("device_id", "site_id", "messages", "first_seq", "last_seq", "last_created_at",
           "last_received_at", "missing_seqs", "replays")  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    platform = sub.add_parser("platform", help="the receiving side: what its store knows")
    actions = platform.add_subparsers(dest="platform_action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="boxes seen, last message per box, gaps, late boxes")
    where = status.add_mutually_exclusive_group(required=True)
    where.add_argument("--postgres", metavar="DSN", help="the ingest PostgreSQL store")
    where.add_argument("--db", type=Path, metavar="SQLITE", help="an ingest SQLite file")
    status.add_argument(
        "--late-min",
        type=float,
        default=10.0,
        help="a box is late after this long without a message (default 10)",
    )
    status.add_argument(
        "--as-of",
        default=None,
        metavar="ISO8601",
        help="judge lateness at this UTC time instead of now",
    )
    status.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    status.set_defaults(handler=_cmd_status)


def _as_utc(value: Any) -> datetime | None:
    from carbonedge.runtime.uplink.verify import parse_utc

    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return parse_utc(str(value), what="received_at")


def read_status(*, postgres: str | None = None, db: Path | None = None) -> list[dict[str, Any]]:
    """One dict per box (``_FIELDS``; times as aware UTC datetimes)."""
    from carbonedge.runtime.base.errors import StoreError

    if postgres is not None:
        import psycopg

        try:
            with psycopg.connect(postgres, connect_timeout=10) as conn:
                rows = conn.execute(_PG_STATUS).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"platform status: PostgreSQL: {' '.join(str(exc).split())}"
                             ) from None  # fmt: skip
    else:
        if db is None or not Path(db).is_file():
            raise StoreError(f"{db}: no such ingest database")
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute(_SQLITE_STATUS).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{db}: not an ingest database ({exc})") from None
        finally:
            conn.close()
    out = []
    for row in rows:
        item = dict(zip(_FIELDS, row, strict=True))
        item["last_created_at"] = _as_utc(item["last_created_at"])
        item["last_received_at"] = _as_utc(item["last_received_at"])
        out.append(item)
    return out


def summarise(rows: list[dict[str, Any]], *, now: datetime, late_min: float) -> dict[str, Any]:
    """Adds ``quiet_min`` and ``late`` to each row; totals for the header."""
    for r in rows:
        quiet_s = (now - r["last_received_at"]).total_seconds()
        r["quiet_min"] = round(quiet_s / 60.0, 1)
        r["late"] = quiet_s > late_min * 60.0
    return {
        "as_of": now.isoformat().replace("+00:00", "Z"), "late_min": late_min,
        "boxes": len(rows), "late": sum(r["late"] for r in rows),
        "with_gaps": sum(1 for r in rows if r["missing_seqs"]),
        "missing_seqs": sum(int(r["missing_seqs"]) for r in rows),
        "replays": sum(int(r["replays"] or 0) for r in rows), "devices": rows,
    }  # fmt: skip


def _iso(t: datetime | None) -> str:
    return "-" if t is None else t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _cmd_status(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.uplink.verify import parse_utc

    now = datetime.now(timezone.utc)
    if args.as_of is not None:
        try:
            now = parse_utc(args.as_of, what="--as-of")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    report = summarise(read_status(postgres=args.postgres, db=args.db), now=now,
                       late_min=args.late_min)  # fmt: skip
    if args.json:
        sys.stdout.write(json.dumps(report, default=_iso, indent=2) + "\n")
        return 0
    w = sys.stdout.write
    w(f"{report['boxes']} boxes seen, {report['late']} late (nothing for > {args.late_min:g} min "
      f"as of {_iso(now)}), {report['with_gaps']} with gaps ({report['missing_seqs']} seqs "
      f"missing), {report['replays']} replays\n")  # fmt: skip
    w(
        "| box | site | messages | seqs | missing | replays | last created | last received "
        "| quiet min | late |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    for r in report["devices"]:
        replays = "-" if r["replays"] is None else r["replays"]
        w(f"| {r['device_id']} | {r['site_id']} | {r['messages']} | {r['first_seq']}-"
          f"{r['last_seq']} | {r['missing_seqs']} | {replays} | {_iso(r['last_created_at'])} | "
          f"{_iso(r['last_received_at'])} | {r['quiet_min']:g} | "
          f"{'LATE' if r['late'] else 'ok'} |\n")  # fmt: skip
    return 0
