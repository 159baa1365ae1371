from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from carbonedge.runtime.events import IntervalSummary, LineCrossed
from carbonedge.runtime.store import Store
from carbonedge.runtime.summary import IntervalAggregator

T0 = 1_767_254_400.0  # 2026-01-01T08:00:00Z, a multiple of 60 s


def crossing(t: float, direction: str = "in", cls: str = "car", track: int = 1) -> LineCrossed:
    return LineCrossed("box", "cam", "l1", track, direction, cls, int(t * 10), t)


def make_aggregator(seq_start: int = 0) -> IntervalAggregator:
    counter = iter(range(seq_start + 1, 10**6))
    return IntervalAggregator(
        device_id="box",
        source_id="cam",
        line_ids=["l1"],
        interval_s=60,
        detector="test",
        next_seq=lambda: next(counter),
    )


def test_intervals_are_aligned_and_closed_by_the_next_frame() -> None:
    agg = make_aggregator()
    assert agg.add_frame(T0 + 5) is None
    agg.add_crossings([crossing(T0 + 5), crossing(T0 + 6, "out", "bus", 2)])
    assert agg.add_frame(T0 + 59.9) is None
    closed = agg.add_frame(T0 + 60.0)
    assert closed is not None
    assert (closed.interval_start_s, closed.interval_end_s, closed.seq) == (T0, T0 + 60, 1)
    assert closed.counts == {"l1": {"in": {"car": 1}, "out": {"bus": 1}}}
    assert closed.frames == 2
    last = agg.flush(T0 + 75)
    assert last is not None and last.interval_start_s == T0 + 60 and last.interval_end_s == T0 + 75
    assert last.total() == 0 and last.seq == 2


def test_gap_in_frames_produces_no_fake_zero_intervals() -> None:
    agg = make_aggregator()
    agg.add_frame(T0 + 1)
    closed = agg.add_frame(T0 + 600)  # source was down for ~10 minutes
    assert closed is not None and closed.interval_end_s == T0 + 60
    assert agg.flush(T0 + 601).interval_start_s == T0 + 600


def test_summary_id_is_stable_and_independent_of_seq() -> None:
    a = IntervalSummary("box", "cam", 1, T0, T0 + 60, {}, 10, "d")
    b = IntervalSummary("box", "cam", 7, T0, T0 + 60, {"l1": {}}, 12, "d")
    c = IntervalSummary("box", "cam", 1, T0 + 60, T0 + 120, {}, 10, "d")
    assert a.id == b.id != c.id
    assert a.to_dict()["interval_start"] == "2026-01-01T08:00:00.000Z"


def test_store_is_idempotent_and_sequence_survives_restart(tmp_path: Path) -> None:
    db, jsonl = tmp_path / "s.sqlite", tmp_path / "s.jsonl"
    with Store(db, jsonl) as store:
        assert [store.next_seq("box") for _ in range(3)] == [1, 2, 3]
        summary = IntervalSummary("box", "cam", 3, T0, T0 + 60, {"l1": {"in": {"car": 2}}}, 5, "d")
        store.write_summary(summary)
        store.write_summary(summary)  # repeated write: no duplicate
        store.write_events([crossing(T0 + 1), crossing(T0 + 1)])
        assert len(store.summaries()) == 1
    with Store(db, jsonl) as store:
        assert store.next_seq("box") == 4
        assert store.next_seq("other") == 1
    lines = jsonl.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["counts"]["l1"]["in"]["car"] == 2
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
