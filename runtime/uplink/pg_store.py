"""``PostgresStore``: the platform store of ``carbonedge ingest --postgres DSN`` (psycopg 3).

N ingest workers may share one database: de-duplication is ``INSERT ... ON CONFLICT DO NOTHING``
on ``accepted.msg_id`` and the (device, seq) ledger's primary key, inside the transaction that
stores the message, so two workers racing on one message store it once and per-device order is
the ledger's ``seq`` order (``device_messages``, ``ledger_gaps``), not the arrival order. Tables
and views: ``pg_schema.py`` and SCHEMA.md. A lost connection raises ``StoreUnavailable`` (the
consumer retries, the broker keeps the message unacknowledged); the next call reconnects.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from carbonedge.runtime.uplink.errors import UplinkError
from carbonedge.runtime.uplink.ingest_store import (
    SITE_PIN,
    StoreUnavailable,
    Verdict,
    check_site,
)
from carbonedge.runtime.uplink.pg_schema import PARTITIONED, TABLES, VIEWS, partition_ddl
from carbonedge.runtime.uplink.verify import Rejected, parse_utc

logger = logging.getLogger(__name__)
_SCHEMA_LOCK = 31_000_001  # advisory lock id: one worker creates the schema at a time


class _Replay(Exception):
    """Raised inside the accept transaction to roll it back."""


def _ts(text: str, what: str) -> datetime:
    return parse_utc(text, what=what)


def _no_nul(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\ufffd")


def _first(value: Any) -> float | None:
    """The central value of a ``[value, lo95, hi95]`` triple."""
    return float(value[0]) if isinstance(value, list) and value else None


class PostgresStore:
    """One connection per store (per worker); the caller serialises calls."""

    def __init__(self, dsn: str, *, worker: str = "ingest", connect_timeout_s: int = 5) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise UplinkError(
                "--postgres needs psycopg 3: pip install 'carbonedge[postgres]'"
            ) from None
        self.dsn, self.worker, self.connect_timeout_s = dsn, worker, connect_timeout_s
        self._conn: Any = None
        self._days: set[str] = set()  # partitions known to exist
        self._pins: dict[str, str] = {}  # device -> pinned site (pins are never changed)
        with self._tx(pipeline=False) as cur:  # several statements per execute
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            cur.execute(TABLES)
            cur.execute(VIEWS)

    # connection ------------------------------------------------------------------------------
    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout_s)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL {self._where()}: {_one_line(exc)}") from None
        return self._conn

    def _where(self) -> str:
        from psycopg.conninfo import conninfo_to_dict

        try:
            info = conninfo_to_dict(self.dsn)
        except Exception:  # noqa: BLE001 - only for the message
            return "(unparsable DSN)"
        host, port = info.get("host", "local socket"), info.get("port", 5432)
        return f"{host}:{port}/{info.get('dbname', '')}"

    @contextmanager
    def _tx(self, *, pipeline: bool = True) -> Iterator[Any]:
        """A transaction (committed on exit); a lost connection -> ``StoreUnavailable``.
        Pipeline mode: statements whose results are not read go out without a round trip."""
        import psycopg

        conn = self._connection()
        try:
            with (
                conn.pipeline() if pipeline else nullcontext(),
                conn.transaction(),
                conn.cursor() as cur,
            ):
                yield cur
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._drop()
            raise StoreUnavailable(f"PostgreSQL {self._where()}: {_one_line(exc)}") from None

    def _drop(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        finally:
            self._conn = None

    # partitions ------------------------------------------------------------------------------
    def _ensure_partition(self, table: str, t: datetime) -> None:
        day = t.astimezone(timezone.utc).date()
        name, ddl = partition_ddl(table, day.isoformat(), (day + timedelta(days=1)).isoformat())
        if name in self._days:
            return
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
            cur.execute(ddl)
        self._days.add(name)

    # the store interface ---------------------------------------------------------------------
    def accept(self, topic: str, envelope: dict[str, Any], *, site_file: str | None,
               received_s: float) -> Verdict:  # fmt: skip
        import psycopg

        env, received = envelope, datetime.fromtimestamp(received_s, timezone.utc)
        created = _ts(env["created_at"], "created_at")
        table = env["kind"] if env["kind"] in PARTITIONED else None
        if table == "interval_summary":
            key_t = _ts(env["body"]["interval_start"], "body.interval_start")
            self._ensure_partition("interval_summary", key_t)
            self._ensure_partition("interval_counts", key_t)
        elif table is not None:
            self._ensure_partition(table, created)
        seqs = [env["seq"], *env.get("merged_seqs", [])]
        try:
            with self._tx() as cur:
                if site_file is None:
                    self._check_pin(cur, env, received)
                if not self._claim(cur, env, created, received, topic):
                    self._count(cur, "duplicate")
                    return "duplicate"
                cur.execute(
                    "INSERT INTO ledger (device_id, seq, msg_id, merged) SELECT %s, s, %s, s <> %s"
                    " FROM unnest(%s::bigint[]) AS s ON CONFLICT DO NOTHING RETURNING seq",
                    (env["device_id"], env["msg_id"], env["seq"], seqs),
                )
                if len(cur.fetchall()) < len(seqs):
                    raise _Replay
                self._insert_kind(cur, env, created, received)
                self._count(cur, "new")
        except _Replay:
            with self._tx() as cur:
                cur.executemany(
                    "INSERT INTO replays (device_id, seq, msg_id, received_at)"
                    " VALUES (%s,%s,%s,%s)",
                    [(env["device_id"], s, env["msg_id"], received) for s in seqs],
                )
                self._count(cur, "replay")
            return "replay"
        except psycopg.DataError as exc:  # e.g. a NUL character, which PostgreSQL text refuses
            raise Rejected(f"cannot be stored in PostgreSQL: {_one_line(exc)}",
                           env["device_id"]) from None  # fmt: skip
        return "new"

    def _check_pin(self, cur: Any, env: dict[str, Any], received: datetime) -> None:
        """Pin the device's site at its first message, or compare with the pin (one statement;
        a pin once read is cached: nothing ever changes it)."""
        device = env["device_id"]
        if device not in self._pins:
            cur.execute(
                "WITH pin AS (INSERT INTO device_sites VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                " RETURNING site_id) SELECT site_id FROM pin UNION ALL"
                " SELECT site_id FROM device_sites WHERE device_id = %s",
                (device, env["site_id"], received, device),
            )
            row = cur.fetchone()
            if row is None:  # another worker pinned it meanwhile: its commit is after our snapshot
                cur.execute("SELECT site_id FROM device_sites WHERE device_id = %s", (device,))
                row = cur.fetchone()
            self._pins[device] = row[0]
        check_site(device, env["site_id"], self._pins[device], SITE_PIN)

    def _claim(self, cur: Any, env: dict[str, Any], created: datetime, received: datetime,
               topic: str) -> bool:  # fmt: skip
        """Insert the ``accepted`` row; False when this ``msg_id`` is already there."""
        from psycopg.types.json import Jsonb

        head = {k: v for k, v in env.items() if k != "body"}
        cur.execute(
            "INSERT INTO accepted (msg_id, site_id, device_id, seq, kind, created_at, received_at,"
            " topic, worker, envelope_head) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (msg_id) DO NOTHING RETURNING 1",
            (env["msg_id"], env["site_id"], env["device_id"], env["seq"], env["kind"], created,
             received, topic, self.worker, Jsonb(head)),
        )  # fmt: skip
        return cur.fetchone() is not None

    def _insert_kind(self, cur: Any, env: dict[str, Any], created: datetime,
                     received: datetime) -> None:  # fmt: skip
        from psycopg.types.json import Jsonb

        body, kind = env["body"], env["kind"]
        common = (env["msg_id"], env["site_id"], env["device_id"], env["seq"], created, received)
        cols = "msg_id, site_id, device_id, seq, created_at, received_at"
        t_wall = _ts(body["t_wall"], "body.t_wall") if "t_wall" in body else None
        if kind == "interval_summary":
            start = _ts(body["interval_start"], "body.interval_start")
            end = _ts(body["interval_end"], "body.interval_end")
            total = (body.get("emissions") or {}).get("total") or {}
            cur.execute(
                f"INSERT INTO interval_summary ({cols}, camera, interval_start, interval_end, "
                "frames, partial, calibration_id, vehicles, km, co2_g, nox_g, pm25_g, co_g, body)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT DO NOTHING",
                (*common, body["source_id"], start, end, body.get("frames"), body.get("partial"),
                 body.get("calibration_id"), total.get("vehicles"), total.get("km"),
                 _first(total.get("co2_g")), _first(total.get("nox_g")),
                 _first(total.get("pm25_g")), _first(total.get("co_g")), Jsonb(body)),
            )  # fmt: skip
            cells = [
                (line, direction, cls, n)
                for line, dirs in body["counts"].items()
                for direction, classes in dirs.items()
                for cls, n in classes.items()
            ]
            cur.execute(
                "INSERT INTO interval_counts SELECT %s, %s, %s, %s, %s, %s, l, d, c, n FROM "
                "unnest(%s::text[], %s::text[], %s::text[], %s::int[]) AS u(l, d, c, n)"
                " ON CONFLICT DO NOTHING",
                (env["msg_id"], env["site_id"], env["device_id"], body["source_id"], start, end,
                 *([list(col) for col in zip(*cells, strict=True)] if cells else [[], [], [], []])),
            )  # fmt: skip
        elif kind == "fire_alarm":
            cur.execute(
                f"INSERT INTO fire_alarm ({cols}, camera, alarm_id, status, t_wall, body) VALUES "
                "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (*common, body["source_id"], body.get("alarm_id"), body.get("status"), t_wall,
                 Jsonb(body)),
            )  # fmt: skip
        elif kind == "device_health":
            cur.execute(
                f"INSERT INTO device_health ({cols}, t_wall, status, body) VALUES "
                "(%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (*common, t_wall, str(body.get("status"))[:64] if "status" in body else None,
                 Jsonb(body)),
            )  # fmt: skip
        elif kind == "calibration_change":
            cur.execute(
                f"INSERT INTO calibration_change ({cols}, camera, target, t_wall, body) VALUES "
                "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (*common, body["source_id"], body.get("target"), t_wall, Jsonb(body)),
            )  # fmt: skip
        else:
            logger.warning("postgres store: kind %r has no table; kept in accepted only", kind)

    def _count(self, cur: Any, name: str) -> None:
        cur.execute(
            "INSERT INTO ingest_counters VALUES (%s, %s, 1) ON CONFLICT (worker, name) "
            "DO UPDATE SET value = ingest_counters.value + 1", (self.worker, name),
        )  # fmt: skip

    def reject(self, *, received_s: float, topic: str, reason: str, payload_head: str,
               device_id: str | None, raw_bytes: int) -> None:  # fmt: skip
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO rejects (received_at, topic, reason, payload_head, device_id, "
                "raw_bytes) VALUES (%s,%s,%s,%s,%s,%s)",
                (datetime.fromtimestamp(received_s, timezone.utc), _no_nul(topic),
                 _no_nul(reason), _no_nul(payload_head), _no_nul(device_id), raw_bytes),
            )  # fmt: skip
            self._count(cur, "rejected")

    def status_hint(self, device_id: str, status: str, received_s: float) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO status_hints VALUES (%s, %s, %s) ON CONFLICT (device_id) DO UPDATE "
                "SET status = excluded.status, received_at = excluded.received_at",
                (device_id, _no_nul(status), datetime.fromtimestamp(received_s, timezone.utc)),
            )

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Accepted envelopes (head + the kind table's body) in arrival order."""
        tables = [k for k in PARTITIONED if k != "interval_counts"]
        bodies = " ".join(f"LEFT JOIN {t} AS k{i} ON k{i}.msg_id = a.msg_id"
                          for i, t in enumerate(tables))  # fmt: skip
        body = "coalesce(" + ", ".join(f"k{i}.body" for i in range(len(tables))) + ")"
        where, args = ("WHERE a.kind = %s", (kind,)) if kind else ("", ())
        with self._tx() as cur:
            cur.execute(f"SELECT a.envelope_head, {body} FROM accepted a {bodies} {where} "
                        "ORDER BY a.arrival", args)  # fmt: skip
            return [{**head, "body": b} for head, b in cur.fetchall()]

    def close(self) -> None:
        self._drop()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
