"""Load test of the receiving side at city scale (issue 31): simulated boxes -> site broker ->
bridge -> central broker -> N ``carbonedge ingest`` workers (one MQTT 5 shared subscription) ->
one PostgreSQL, with a worker, the central broker and PostgreSQL restarted during each run.

    .venv/bin/python -m carbonedge.benchmarks.platform_load      # 1,000 boxes; 1, 2, 4 workers
    .venv/bin/python -m carbonedge.benchmarks.platform_load --rate-msg-s 67 --minutes 1
    .venv/bin/python -m carbonedge.benchmarks.platform_load --quick --workers 2 --json out.json

Each box has ``--cameras`` cameras and sends one signed interval summary per camera per simulated
minute, time compressed: ``--minutes`` simulated minutes are published as fast as the publisher
threads sign them (the capacity: a backlog drained), or at ``--rate-msg-s`` in all (the latency
at a given load; 1,000 boxes x 4 cameras at one summary a minute is 67 msg/s). Messages are built
and signed as a box does (``IntervalSummary.to_dict`` + ``build_envelope``, a per-device HMAC key
and seq). Once 25 %,
50 % and 75 % of the messages are stored, worker 1 is SIGKILLed (and restarted with its session),
the central broker is restarted, and PostgreSQL is stopped and started. Printed per worker count:
messages/s (over the whole run, outages included, and the median 1-s rate while messages flow),
per worker, end-to-end latency p50/p99 (``created_at`` at publish -> row stored), lost, duplicated,
unexplained gaps, and the largest city the steady rate implies at 1 summary per camera per minute.
Exit status 1 when anything was lost or duplicated or a gap is unexplained. Needs Mosquitto,
PostgreSQL (``.ci/install-rigs``), psycopg and a source checkout (the rigs live in ``tests/``).
Everything shares the same cores: the publisher, both brokers, PostgreSQL and the workers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 300  # a bound for a condition to come true, not a timing


def _rigs() -> Any:
    for folder in (REPO / "tests", REPO / "tests" / "uplink"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    import pg_rig
    import platform_rig

    return pg_rig, platform_rig


def _count(dsn: str, sql: str = "SELECT count(*) FROM accepted") -> int | None:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except psycopg.OperationalError:
        return None  # PostgreSQL restarting


def _publish(port: int, boxes: list[str], cameras: int, minutes: int, ids: dict[str, float],
             lock: threading.Lock, name: str, period_s: float) -> None:  # fmt: skip
    """One publisher connection for a share of the boxes: minute by minute, box by box, one
    message every ``period_s`` (0: as fast as it can sign)."""
    pg_rig, platform_rig = _rigs()
    t0 = 1_767_225_600.0 + 86400.0 * 3  # simulated time starts at 2026-01-04T00:00Z
    pub = platform_rig.Publisher(port, name)
    mine: dict[str, float] = {}  # msg_id -> when published (time.monotonic)
    next_s = time.monotonic()
    for minute in range(minutes):
        for box in boxes:
            key = platform_rig.device_key(box)
            for cam in range(cameras):
                if period_s > 0:
                    next_s += period_s
                    time.sleep(max(0.0, next_s - time.monotonic()))
                payload = pg_rig.signed_summary(
                    box, minute * cameras + cam + 1, key=key, site=f"site-{box[-1]}",
                    camera=f"cam-{cam + 1}", start_s=t0 + 60.0 * minute, created_s=time.time(),
                    cars=(minute + cam) % 7,
                )  # fmt: skip
                mine[json.loads(payload)["msg_id"]] = time.monotonic()
                pub.publish(f"carbonedge/site-{box[-1]}/{box}/interval_summary", payload)
    with lock:
        ids.update(mine)
    platform_rig.wait_for(lambda: pub.acked >= len(mine), WAIT_S, f"{name}: PUBACKs")
    pub.close()


def run_once(pg: Any, workers_n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    pg_rig, platform_rig = _rigs()
    boxes = [f"box-{i:05d}" for i in range(args.boxes)]
    total = args.boxes * args.cameras * args.minutes
    dsn = pg.create_database(f"load_w{workers_n}_{int(time.time())}")
    keys = platform_rig.write_keys(tmp / "keys", boxes)
    central = platform_rig.central_broker(tmp / "central").start()
    site = platform_rig.site_broker(tmp / "site", central.port, site="load").start()
    share = args.mode == "share"
    workers = [platform_rig.IngestWorker(
        f"ingest-{i + 1}", port=central.port, keys=keys, dsn=dsn, group="ingest" if share else None,
        log_dir=tmp, extra=[] if share else ["--partition", f"{i}/{workers_n}"])
        for i in range(workers_n)]  # fmt: skip
    events: list[str] = []
    try:
        for w in workers:
            w.start()
        ids: dict[str, float] = {}
        lock = threading.Lock()
        threads = [threading.Thread(target=_publish, args=(
            site.port, boxes[i::args.publishers], args.cameras, args.minutes, ids, lock,
            f"boxes-{i}", args.publishers / args.rate_msg_s if args.rate_msg_s > 0 else 0.0),
            daemon=True) for i in range(args.publishers)]  # fmt: skip
        started = time.monotonic()
        for t in threads:
            t.start()
        _inject_restarts(dsn, total, workers[0], central, pg, events, args.no_restarts, started)
        for t in threads:
            t.join(WAIT_S)
        try:
            platform_rig.wait_for(lambda: (_count(dsn) or 0) >= total, args.wait_s,
                                  "every message stored")  # fmt: skip
        except AssertionError:  # measured below: which ones were lost, and when published
            print(f"platform_load: {_count(dsn)}/{total} stored after {args.wait_s:g} s; "
                  f"events {events}", file=sys.stderr)  # fmt: skip
        time.sleep(2.0)  # late redeliveries would show up as duplicates
        result = _measure(dsn, ids, started)
        result.update(workers=workers_n, messages=total, events=events, paced=args.rate_msg_s > 0,
                      mode=args.mode,
                      wall_s=round(time.monotonic() - started, 1))  # fmt: skip
        return result
    finally:
        for w in workers:
            w.stop()
        site.stop()
        central.stop()


def _inject_restarts(dsn: str, total: int, worker: Any, central: Any, pg: Any,
                     events: list[str], skip: bool, started: float) -> None:  # fmt: skip
    """Worker 1 killed at 25 % stored, the central broker restarted at 50 %, PostgreSQL at 75 %."""
    _, platform_rig = _rigs()
    if skip:
        return
    steps = [(0.25, "worker 1 SIGKILLed, restarted 1 s later"),
             (0.50, "central broker stopped 2 s"), (0.75, "PostgreSQL stopped 2 s")]  # fmt: skip
    for fraction, what in steps:
        platform_rig.wait_for(lambda f=fraction: (_count(dsn) or 0) >= f * total, WAIT_S,
                              f"{fraction:.0%} stored", step_s=0.05)  # fmt: skip
        before, at_s = _count(dsn), time.monotonic() - started
        if "worker" in what:
            worker.kill()
            time.sleep(1.0)
            worker.start(until="connected to")
        elif "central" in what:
            central.stop()
            time.sleep(2.0)
            central.start()
        else:
            pg.stop()
            time.sleep(2.0)
            pg.start()
        events.append(f"{what} at t={at_s:.1f} s, {before}/{total} stored "
                      f"(back at {_count(dsn)})")  # fmt: skip


def _measure(dsn: str, ids: dict[str, float], started: float) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        stored = {r[0] for r in conn.execute("SELECT msg_id FROM interval_summary")}
        rows = conn.execute("SELECT count(*), count(DISTINCT msg_id) FROM interval_summary")
        n_rows, n_distinct = rows.fetchone()
        gaps = conn.execute("SELECT coalesce(sum(missing), 0) FROM ledger_gaps").fetchone()[0]
        replays = conn.execute("SELECT count(*) FROM ledger_replays").fetchone()[0]
        window_s, p50, p99 = conn.execute(
            "SELECT extract(epoch FROM max(received_at) - min(received_at)),"
            " 1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
            "  received_at - created_at)),"
            " 1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM"
            "  received_at - created_at)) FROM accepted").fetchone()  # fmt: skip
        steady = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY n) FROM (SELECT count(*) AS n "
            "FROM accepted GROUP BY date_trunc('second', received_at)) s"
        ).fetchone()[0]
        per_worker = dict(conn.execute("SELECT worker, count(*) FROM accepted GROUP BY 1"))
        redelivered = conn.execute("SELECT coalesce(sum(value), 0) FROM ingest_counters "
                                   "WHERE name = 'duplicate'").fetchone()[0]  # fmt: skip
    window_s = max(float(window_s or 0.0), 1e-3)
    return {
        "msg_s": round(len(stored) / window_s, 1),
        "steady_msg_s": round(float(steady or 0.0), 1),
        "per_worker_msg_s": {w: round(n / window_s, 1) for w, n in sorted(per_worker.items())},
        "latency_p50_ms": round(float(p50 or 0.0), 1),
        "latency_p99_ms": round(float(p99 or 0.0), 1),
        "lost": len(set(ids) - stored),
        "lost_published_at_s": sorted(
            round(t - started, 2) for m, t in ids.items() if m not in stored
        )[:20],  # fmt: skip
        "unexpected": len(stored - set(ids)),
        "duplicated": int(n_rows - n_distinct),
        "redelivered_dropped": int(redelivered),
        "unexplained_gaps": int(gaps),
        "replays": int(replays),
        "city_cameras": int(float(steady or 0.0) * 60),  # 1 summary per camera per minute
    }


def _city(result: dict[str, Any], cameras: int) -> str:
    if result["paced"]:
        return "n/a (paced: the rate offered, not the capacity)"
    return f"{result['city_cameras']:,} / {result['city_cameras'] // cameras:,}"


def print_table(results: list[dict[str, Any]], cameras: int) -> None:
    print(
        "| workers | messages | msg/s (whole run) | msg/s steady | per worker msg/s | "
        "p50 ms | p99 ms | lost | dup | gaps | redelivered (dropped) | city (cameras / boxes) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        per = ", ".join(f"{v:g}" for v in r["per_worker_msg_s"].values())
        print(f"| {r['workers']} | {r['messages']} | {r['msg_s']:g} | {r['steady_msg_s']:g} | "
              f"{per} | {r['latency_p50_ms']:g} | {r['latency_p99_ms']:g} | {r['lost']} | "
              f"{r['duplicated']} | {r['unexplained_gaps']} | {r['redelivered_dropped']} | "
              f"{_city(r, cameras)} |")  # fmt: skip
    for r in results:
        print(
            f"workers {r['workers']}: {'; '.join(r['events']) or 'no restarts'} "
            f"(wall {r['wall_s']} s)"
        )
        if r["lost"]:
            print(
                f"workers {r['workers']}: LOST {r['lost']}, published at t = "
                f"{', '.join(f'{t:g}' for t in r['lost_published_at_s'])} s"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boxes", type=int, default=1000)
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--minutes", type=int, default=2, help="simulated minutes per run")
    p.add_argument(
        "--rate-msg-s",
        type=float,
        default=0.0,
        help="offered load in all (default 0: as fast as the publishers sign)",
    )
    p.add_argument("--workers", default="1,2,4", help="worker counts, one run each")
    p.add_argument(
        "--mode",
        choices=("share", "partition"),
        default="share",
        help="workers in one MQTT 5 shared subscription (--share-group), or each on "
        "its own persistent subscription storing its devices (--partition I/N)",
    )
    p.add_argument("--publishers", type=int, default=4, help="publisher connections")
    p.add_argument(
        "--quick",
        action="store_true",
        help="50 boxes x 4 cameras x 5 minutes at 60 msg/s (restarts mid-flow)",
    )
    p.add_argument("--no-restarts", action="store_true", help="no injected restarts")
    p.add_argument("--wait-s", type=float, default=WAIT_S, help="give up waiting after this")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.quick:
        args.boxes, args.minutes = 50, 5
        args.rate_msg_s = args.rate_msg_s or 60.0
    pg_rig, _ = _rigs()
    bin_dir = pg_rig.find_postgres_bin()
    if bin_dir is None:
        print("platform_load: PostgreSQL is not installed (run .ci/install-rigs)", file=sys.stderr)
        return 2
    pg = pg_rig.LocalPostgres(bin_dir, fsync=True).start()
    results = []
    try:
        for n in [int(w) for w in args.workers.split(",")]:
            with tempfile.TemporaryDirectory(prefix=f"platform-load-w{n}-") as tmp:
                results.append(run_once(pg, n, args, Path(tmp)))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    finally:
        pg.close()
    rate = f"at {args.rate_msg_s:g} msg/s" if args.rate_msg_s > 0 else "as fast as signed"
    print(
        f"\n{args.boxes} boxes x {args.cameras} cameras x {args.minutes} simulated minutes, "
        f"published {rate}, workers in mode {args.mode}\n"
    )
    print_table(results, args.cameras)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    bad = any(r["lost"] or r["duplicated"] or r["unexplained_gaps"] or r["unexpected"]
              for r in results)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
