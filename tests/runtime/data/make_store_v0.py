"""Make ``store_v0_backlog.db`` and ``store_v0_backlog.json``: a store written by the release.

MUST be run against the release at commit 893c6a35ff15dc4a0e7109014d0e54e6b151fbc3 (a checkout of
that commit, installed with ``pip install -e ".[test]"``); this file only documents how the fixture
was made and is not expected to run against newer code.

    python make_store_v0.py OUT_DIR

What it does, with nothing but the release's own code paths:

1. saves one signed calibration record for source ``road`` (``calibration.record.RecordStore``);
2. runs ``carbonedge run`` on a site config like ``runtime/examples/synthetic.yaml`` (synthetic
   scene, 120 s, motion detector, one counting line, 15 s summaries, emissions) with
   - an ``uplink`` (MQTT, ``max_inflight: 2``) to a loopback port where nothing listens: every
     summary, the ``calibration_change`` and the ``device_health`` message stay queued in the
     ``outbox`` (the first rows handed to the disconnected sink carry ``sent_at``);
   - an ``hj212`` link to a loopback port where nothing listens (packets stay in ``hj212_queue``);
   - a ``calibration`` section, so ``Site.run`` calls ``calibration.active.report_changes``
     (``calibration_reported`` row + ``calibration_change`` outbox message);
   ``runtime.store.Store`` writes the interval summaries (table ``summaries``, per-device
   ``sequence``), the line crossings (``events``) and queues every summary in the outbox;
3. drives the HJ 212 producer (``Hj212Link(...).producer.poll``) once more, past the close grace,
   so every minute/hour/day period of the replayed scene is queued (no connection needed);
4. checkpoints the WAL and copies the SQLite file to ``OUT_DIR/store_v0_backlog.db``, then
   describes it in ``OUT_DIR/store_v0_backlog.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carbonedge.calibration.record import CalibrationRecord, RecordStore
from carbonedge.runtime.config import load_site_config
from carbonedge.runtime.uplink.hj212.link import Hj212Link
from carbonedge.vision.counting.line import LineConfig

COMMIT = "893c6a35ff15dc4a0e7109014d0e54e6b151fbc3"
KEY = "store-v0-fixture-hmac-key-0123456789"
DEVICE_ID = "fixture-box"

SITE_YAML = """\
device_id: {device_id}
sources:
  - {{id: road, type: synthetic, duration_s: 120, seed: 7}}
detector: {{type: motion}}
lines:
  road:
    - {{id: main, start_px: [0, 216], end_px: [640, 216]}}
ground_planes:
  road:
    points:
      - {{image_px: [100, 340], world_m: [-6.26, 16.61]}}
      - {{image_px: [540, 340], world_m: [6.26, 16.61]}}
      - {{image_px: [390, 130], world_m: [3.68, 35.0]}}
      - {{image_px: [250, 130], world_m: [-3.68, 35.0]}}
speed: {{idle_speed_kmh: 5}}
emissions: {{method: copert}}
summary: {{interval_s: 15}}
health: {{port: 0}}
output:
  sqlite_path: {work}/store.sqlite
uplink:
  site_id: fixture-site
  sink: {{type: mqtt, host: 127.0.0.1, port: {mqtt_port}, max_inflight: 2}}
  signing: {{key: {key}}}
  flush_timeout_s: 1
hj212:
  host: 127.0.0.1
  port: {hj212_port}
  mn: 0123456789ABCDEF01234567
  pw: "123456"
calibration:
  records_dir: {work}/calibration
"""


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def describe(path: Path) -> dict:
    db = sqlite3.connect(path)
    tables = [
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]
    counts = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    schema = {
        name: sql
        for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC, name"
        )
    }
    outbox = [
        {
            "id": i,
            "msg_id": m,
            "device_id": d,
            "seq": s,
            "kind": k,
            "sent": sent is not None,
            "merged_seqs": json.loads(ms) if ms else None,
        }
        for i, m, d, s, k, sent, ms in db.execute(
            "SELECT id, msg_id, device_id, seq, kind, sent_at, merged_seqs FROM outbox ORDER BY id"
        )
    ]
    hj212 = [
        {
            "id": i,
            "prio": p,
            "qn": qn,
            "cn": cn,
            "data_time": dt,
            "needs_ack": bool(a),
            "attempts": n,
        }
        for i, p, qn, cn, dt, a, n in db.execute(
            "SELECT id, prio, qn, cn, data_time, needs_ack, attempts FROM hj212_queue "
            "ORDER BY prio, id"
        )
    ]
    out = {
        "made_by": "make_store_v0.py",
        "commit": COMMIT,
        "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
        "user_version": db.execute("PRAGMA user_version").fetchone()[0],
        "tables": counts,
        "schema": schema,
        "outbox_send_order": outbox,
        "outbox_msg_ids_in_send_order": [r["msg_id"] for r in outbox],
        "outbox_seqs_in_send_order": [r["seq"] for r in outbox],
        "outbox_by_kind": dict(
            db.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind ORDER BY kind").fetchall()
        ),
        "outbox_sequence": dict(db.execute("SELECT device_id, last_seq FROM outbox_sequence")),
        "max_outbox_seq": db.execute("SELECT MAX(seq) FROM outbox").fetchone()[0],
        "summary_sequence": dict(db.execute("SELECT device_id, last_seq FROM sequence")),
        "summaries": [
            {"id": i, "seq": s, "interval_start": a, "interval_end": b}
            for i, s, a, b in db.execute(
                "SELECT id, seq, interval_start, interval_end FROM summaries ORDER BY seq"
            )
        ],
        "events_by_kind": dict(
            db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind ORDER BY kind").fetchall()
        ),
        "hj212_queue_send_order": hj212,
        "hj212_state": dict(db.execute("SELECT name, value FROM hj212_state ORDER BY name")),
        "calibration_reported": [
            {"source_id": s, "record_id": r, "sha256": h}
            for s, r, h in db.execute(
                "SELECT source_id, record_id, sha256 FROM calibration_reported ORDER BY source_id"
            )
        ],
    }
    db.close()
    return out


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="store-v0-"))
    RecordStore(work / "calibration", KEY.encode()).save(CalibrationRecord(
        source_id="road", created_by="store-v0-fixture",
        lines=[LineConfig(id="main", start_px=(0, 216), end_px=(640, 216))],
        notes="fixture: the counting line of runtime/examples/synthetic.yaml",
    ))  # fmt: skip
    site_yaml = work / "site.yaml"
    site_yaml.write_text(
        SITE_YAML.format(
            device_id=DEVICE_ID, work=work, key=KEY, mqtt_port=free_port(), hj212_port=free_port()
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "run", str(site_yaml)],
        cwd=work, capture_output=True, text=True, env={**os.environ},
    )  # fmt: skip
    sys.stderr.write(run.stdout + run.stderr)
    if run.returncode != 0:
        raise SystemExit(f"carbonedge run failed ({run.returncode})")
    # every replayed period closed: queue its HJ 212 packets with the release's own producer
    config = load_site_config(site_yaml)
    link = Hj212Link(config.hj212, sqlite_path=config.output.sqlite_path)
    now = time.time()
    link.producer.poll(now)
    link.producer.poll(now + 3600)
    link.queue.close()
    db = sqlite3.connect(config.output.sqlite_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    target = out_dir / "store_v0_backlog.db"
    shutil.copyfile(config.output.sqlite_path, target)
    info = describe(Path(config.output.sqlite_path))  # same bytes; the copy is left untouched
    (out_dir / "store_v0_backlog.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps({k: info[k] for k in ("tables", "outbox_by_kind", "max_outbox_seq")}))
    shutil.rmtree(work)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
