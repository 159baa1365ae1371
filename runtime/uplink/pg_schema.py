"""The PostgreSQL platform store's tables and views (``pg_store.py`` applies them at connect).

Tables: ``accepted`` (one row per accepted ``msg_id``: the de-duplication key), ``ledger`` (one
row per accepted (device, seq), merged seqs included), ``replays``, one table per message kind
(``interval_summary``, ``interval_counts`` (one row per line, direction and class),
``fire_alarm``, ``device_health``, ``calibration_change``: typed columns plus the body as JSONB,
partitioned by UTC day, partitions created on demand), ``rejects``, ``status_hints``,
``device_sites``, ``ingest_counters`` (per worker). Views: ``device_messages`` (in seq order),
``ledger_gaps``, ``ledger_replays``, ``counts_15min``, ``counts_hourly``, ``emissions_15min``,
``emissions_hourly``, ``device_status``. Every statement is idempotent.
"""

from __future__ import annotations

# kind table -> its partition key column (a UTC day per partition)
PARTITIONED = {
    "interval_summary": "interval_start",
    "interval_counts": "interval_start",
    "fire_alarm": "created_at",
    "device_health": "created_at",
    "calibration_change": "created_at",
}

_COMMON = """msg_id text NOT NULL, site_id text NOT NULL, device_id text NOT NULL,
    seq bigint NOT NULL, created_at timestamptz NOT NULL, received_at timestamptz NOT NULL"""

TABLES = f"""
CREATE TABLE IF NOT EXISTS accepted (
    arrival bigint GENERATED ALWAYS AS IDENTITY, msg_id text PRIMARY KEY,
    site_id text NOT NULL, device_id text NOT NULL, seq bigint NOT NULL,
    kind text NOT NULL, created_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
    topic text NOT NULL, worker text NOT NULL, envelope_head jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS accepted_device_seq ON accepted (device_id, seq);
CREATE TABLE IF NOT EXISTS ledger (
    device_id text NOT NULL, seq bigint NOT NULL, msg_id text NOT NULL,
    merged boolean NOT NULL DEFAULT false, PRIMARY KEY (device_id, seq));
CREATE TABLE IF NOT EXISTS replays (
    id bigserial PRIMARY KEY, device_id text NOT NULL, seq bigint NOT NULL, msg_id text NOT NULL,
    received_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS interval_summary ({_COMMON},
    camera text NOT NULL, interval_start timestamptz NOT NULL, interval_end timestamptz NOT NULL,
    frames integer, partial boolean, calibration_id text, vehicles integer, km double precision,
    co2_g double precision, nox_g double precision, pm25_g double precision, co_g double precision,
    body jsonb NOT NULL, PRIMARY KEY (msg_id, interval_start)) PARTITION BY RANGE (interval_start);
CREATE TABLE IF NOT EXISTS interval_counts (
    msg_id text NOT NULL, site_id text NOT NULL, device_id text NOT NULL, camera text NOT NULL,
    interval_start timestamptz NOT NULL, interval_end timestamptz NOT NULL, line text NOT NULL,
    direction text NOT NULL, class text NOT NULL, count integer NOT NULL,
    PRIMARY KEY (msg_id, line, direction, class, interval_start)
) PARTITION BY RANGE (interval_start);
CREATE TABLE IF NOT EXISTS fire_alarm ({_COMMON},
    camera text NOT NULL, alarm_id text, status text, t_wall timestamptz, body jsonb NOT NULL,
    PRIMARY KEY (msg_id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS device_health ({_COMMON},
    t_wall timestamptz, status text, body jsonb NOT NULL,
    PRIMARY KEY (msg_id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS calibration_change ({_COMMON},
    camera text NOT NULL, target text, t_wall timestamptz, body jsonb NOT NULL,
    PRIMARY KEY (msg_id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS rejects (
    id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, topic text NOT NULL,
    reason text NOT NULL, payload_head text NOT NULL, device_id text, raw_bytes integer);
CREATE TABLE IF NOT EXISTS status_hints (
    device_id text PRIMARY KEY, status text NOT NULL, received_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS device_sites (
    device_id text PRIMARY KEY, site_id text NOT NULL, pinned_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_counters (
    worker text NOT NULL, name text NOT NULL, value bigint NOT NULL, PRIMARY KEY (worker, name));
"""

_BUCKET_15 = "date_bin('15 minutes', interval_start, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_BUCKET_60 = "date_bin('1 hour', interval_start, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


def _counts_view(name: str, bucket: str) -> str:
    return f"""CREATE OR REPLACE VIEW {name} AS
SELECT site_id, camera, line, direction, class, {bucket} AS bucket_start,
       sum(count)::bigint AS vehicles, count(*) AS summaries
FROM interval_counts GROUP BY 1, 2, 3, 4, 5, 6;"""


def _emissions_view(name: str, bucket: str) -> str:
    return f"""CREATE OR REPLACE VIEW {name} AS
SELECT site_id, camera, {bucket} AS bucket_start, sum(vehicles)::bigint AS vehicles,
       sum(km) AS km, sum(co2_g) AS co2_g, sum(nox_g) AS nox_g, sum(pm25_g) AS pm25_g,
       sum(co_g) AS co_g, count(*) AS summaries
FROM interval_summary WHERE co2_g IS NOT NULL GROUP BY 1, 2, 3;"""


VIEWS = "\n".join(
    [
        """CREATE OR REPLACE VIEW device_messages AS
SELECT device_id, seq, kind, msg_id, site_id, created_at, received_at, worker
FROM accepted ORDER BY device_id, seq;""",
        """CREATE OR REPLACE VIEW ledger_gaps AS
SELECT device_id, seq AS after_seq, next_seq AS before_seq, next_seq - seq - 1 AS missing
FROM (SELECT device_id, seq, lead(seq) OVER (PARTITION BY device_id ORDER BY seq) AS next_seq
      FROM ledger) s
WHERE next_seq > seq + 1 ORDER BY device_id, after_seq;""",
        """CREATE OR REPLACE VIEW ledger_replays AS
SELECT r.device_id, r.seq, r.msg_id AS replay_msg_id, l.msg_id AS accepted_msg_id, r.received_at
FROM replays r LEFT JOIN ledger l USING (device_id, seq) ORDER BY r.device_id, r.seq;""",
        _counts_view("counts_15min", _BUCKET_15),
        _counts_view("counts_hourly", _BUCKET_60),
        _emissions_view("emissions_15min", _BUCKET_15),
        _emissions_view("emissions_hourly", _BUCKET_60),
        """CREATE OR REPLACE VIEW device_status AS
SELECT a.device_id, max(a.site_id) AS site_id, count(*) AS messages, min(a.seq) AS first_seq,
       max(a.seq) AS last_seq, max(a.created_at) AS last_created_at,
       max(a.received_at) AS last_received_at,
       coalesce((SELECT sum(g.missing) FROM ledger_gaps g WHERE g.device_id = a.device_id), 0)
           ::bigint AS missing_seqs,
       (SELECT count(*) FROM replays r WHERE r.device_id = a.device_id) AS replays
FROM accepted a GROUP BY a.device_id ORDER BY a.device_id;""",
    ]
)


def partition_ddl(table: str, day_iso: str, next_day_iso: str) -> tuple[str, str]:
    """(partition name, CREATE statement) of ``table``'s partition for one UTC day."""
    name = f"{table}_p{day_iso.replace('-', '')}"
    return name, (f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM "
                  f"('{day_iso} 00:00:00+00') TO ('{next_day_iso} 00:00:00+00')")  # fmt: skip
