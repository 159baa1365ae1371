"""After a salvage: how many outbox rows were lost, and queue their summaries again.

Every uplink number allocated is one outbox row, and a row leaves the outbox only by an ack
(``acked``), a compaction merge (``compacted``) or a dead letter (``dead_lettered``): so
``allocated - pending - acked - compacted - dead_lettered - lost`` rows were lost with the file
(``lost``: counted by an earlier recovery, so the sum balances again after one).

Which summaries they carried cannot be read any more, and whether a summary without an outbox row
was acknowledged (its row deleted) or lost is not recorded either. But the outbox is sent and
acknowledged in order, so what is pending is the newest part of the queue: the lost rows are the
newest summaries that have no row. ``requeue_summaries`` queues the ``lost`` newest such
summaries again (all of them when the counters are unreadable), under their own message id, so
the platform drops those it already has (ingest de-duplicates by message id: re-sending is safe,
losing is not). A summary covered by a pending or dead-lettered row, also a compacted one
(``compacted.first_seq..last_seq`` of its source), is never queued again. The new rows are marked
``sent_at`` so compaction never merges them into a message id the platform has not seen.
"""

from __future__ import annotations

import json
import sqlite3
import time

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.store import sequences
from carbonedge.runtime.store.outbox import bump_counter, insert_message
from carbonedge.runtime.store.transaction import Transaction

KIND = "interval_summary"


def lost_outbox_rows(db: sqlite3.Connection) -> int | None:
    """Outbox rows lost (see the module docstring); None when the counters cannot say."""
    allocated = sum(sequences.last(db, sequences.UPLINK).values())
    counters = dict(db.execute("SELECT name, value FROM outbox_counters"))
    pending = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    if allocated and not counters and pending < allocated:
        return None  # no counter row at all while rows left: unreadable, cannot tell
    gone = sum(int(counters.get(k, 0)) for k in ("acked", "compacted", "dead_lettered", "lost"))
    return max(0, allocated - pending - gone)


def _covered(db: sqlite3.Connection) -> tuple[set[str], set[tuple[str, str, int]]]:
    """Message ids queued or dead-lettered, and (device, source, seq) their summaries cover."""
    ids, seqs = set(), set()
    for table in ("outbox", "dead_letter"):
        for msg_id, body in db.execute(f"SELECT msg_id, body FROM {table} WHERE kind = ?",
                                       (KIND,)):  # fmt: skip
            ids.add(msg_id)
            b = json.loads(body)
            span = b.get("compacted") or {"first_seq": b["seq"], "last_seq": b["seq"]}
            seqs.update((b["device_id"], b["source_id"], s)
                        for s in range(span["first_seq"], span["last_seq"] + 1))  # fmt: skip
    return ids, seqs


def requeue_summaries(db: sqlite3.Connection) -> int:
    """Queue again the summaries whose outbox rows were lost; how many (one transaction)."""
    lost = lost_outbox_rows(db)
    if lost == 0:
        return 0
    ids, seqs = _covered(db)
    rows = db.execute(
        "SELECT id, device_id, source_id, seq, body FROM summaries ORDER BY seq DESC, device_id"
    ).fetchall()
    orphans = [r for r in rows if r[0] not in ids and (r[1], r[2], r[3]) not in seqs]
    chosen = orphans if lost is None else orphans[:lost]
    now_s = time.time()
    with Transaction(db):
        for msg_id, device_id, _, _, body in reversed(chosen):  # oldest first, in seq order
            insert_message(db, kind=KIND, device_id=device_id, msg_id=msg_id,
                           body=json.loads(body), now_s=now_s)  # fmt: skip
        db.executemany("UPDATE outbox SET sent_at = ? WHERE msg_id = ? AND sent_at IS NULL",
                       [(utc_iso(now_s), r[0]) for r in chosen])  # fmt: skip
        if lost:
            bump_counter(db, "lost", lost)  # the accounting balances again
    return len(chosen)
