from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from carbonedge.runtime.base.events import IntervalSummary, LineCrossed
from carbonedge.runtime.store import Store
from carbonedge.runtime.summary import IntervalAggregator

T0 = 1_767_254_400.0  # 2026-01-01T08:00:00Z, a multiple of 60 s


def crossing(t: float, direction: str = "in", cls: str = "car", track: int = 1) -> LineCrossed:
    return LineCrossed("box", "cam", "l1", track, direction, cls, int(t * 10), t)


def make_aggregator() -> IntervalAggregator:
    counter = iter(range(1, 10**6))
    return IntervalAggregator(
        device_id="box", source_id="cam", line_ids=["l1"], interval_s=60, detector="test",
        next_seq=lambda: next(counter),
    )  # fmt: skip


def test_intervals_are_aligned_and_closed_by_the_next_frame() -> None:
    agg = make_aggregator()
    assert agg.add_frame(T0, [crossing(T0 + 0.5)]) is None
    assert agg.add_frame(T0 + 6, [crossing(T0 + 6, "out", "bus", 2)]) is None
    assert agg.add_frame(T0 + 7, ok=False) is None
    assert agg.add_frame(T0 + 59.9) is None
    closed = agg.add_frame(T0 + 60.0)
    assert closed is not None
    assert (closed.interval_start_s, closed.interval_end_s, closed.seq) == (T0, T0 + 60, 1)
    assert closed.counts == {"l1": {"in": {"car": 1}, "out": {"bus": 1}}}
    assert (closed.frames, closed.frame_errors) == (3, 1)
    last = agg.flush(T0 + 75)
    assert last is not None and (last.interval_start_s, last.interval_end_s) == (T0 + 60, T0 + 75)
    assert last.total() == 0 and last.seq == 2 and last.frames == 1


def test_first_interval_starts_at_the_first_frame() -> None:
    agg = make_aggregator()
    agg.add_frame(T0 + 35)  # started (or restarted) in the middle of a minute
    closed = agg.add_frame(T0 + 61)
    assert (closed.interval_start_s, closed.interval_end_s) == (T0 + 35, T0 + 60)
    assert agg.flush(T0 + 62).interval_start_s == T0 + 60  # then aligned


def test_gap_in_frames_produces_no_fake_zero_intervals() -> None:
    agg = make_aggregator()
    agg.add_frame(T0 + 1)
    closed = agg.add_frame(T0 + 605)  # source was down for ~10 minutes
    assert closed is not None and closed.interval_end_s == T0 + 60
    after_gap = agg.flush(T0 + 606)
    assert (after_gap.interval_start_s, after_gap.interval_end_s) == (T0 + 605, T0 + 606)


def test_summary_id_is_stable_and_independent_of_seq() -> None:
    a = IntervalSummary("box", "cam", 1, T0, T0 + 60, {}, 10, "d")
    b = IntervalSummary("box", "cam", 7, T0, T0 + 60, {"l1": {}}, 12, "d")
    c = IntervalSummary("box", "cam", 1, T0 + 60, T0 + 120, {}, 10, "d")
    partial = IntervalSummary("box", "cam", 1, T0, T0 + 30, {}, 10, "d")
    assert a.id == b.id
    assert len({a.id, c.id, partial.id}) == 3
    assert a.to_dict()["interval_start"] == "2026-01-01T08:00:00.000Z"


def test_crossings_of_a_restarted_process_keep_distinct_ids() -> None:
    # tracker ids restart at 1 and frame indices at 0 after a restart: same (track, frame),
    # different wall time -> different events; the same crossing repeated -> same id
    before = LineCrossed("box", "cam", "l1", 1, "in", "car", 40, T0 + 4.0)
    after = LineCrossed("box", "cam", "l1", 1, "in", "car", 40, T0 + 104.0)
    assert before.id != after.id
    assert before.id == LineCrossed("box", "cam", "l1", 1, "in", "car", 40, T0 + 4.0).id


def test_store_is_idempotent_and_sequence_survives_restart(tmp_path: Path) -> None:
    db, jsonl = tmp_path / "s.sqlite", tmp_path / "s.jsonl"
    summary = IntervalSummary("box", "cam", 0, T0, T0 + 60, {"l1": {"in": {"car": 2}}}, 5, "d")
    with Store(db, jsonl) as store:
        assert store.write_summary(summary).seq == 1
        assert store.write_summary(summary).seq == 1  # repeated write: no duplicate, no new seq
        store.write_events([crossing(T0 + 1), crossing(T0 + 1)])
        assert len(store.summaries()) == 1 and store.event_count() == 1
    with Store(db, jsonl) as store:  # restart: partial interval, then the next one
        partial = IntervalSummary("box", "cam", 0, T0 + 60, T0 + 90, {}, 3, "d")
        resumed = IntervalSummary("box", "cam", 0, T0 + 95, T0 + 120, {}, 3, "d")
        assert [store.write_summary(s).seq for s in (partial, resumed)] == [2, 3]
        store.write_events(
            [crossing(T0 + 1), LineCrossed("box", "cam", "l1", 1, "in", "car", 10, T0 + 95)]
        )
        assert store.event_count() == 2
        assert store.next_seq("other") == 1
        assert [s["seq"] for s in store.summaries("box")] == [1, 2, 3]
    lines = jsonl.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["counts"]["l1"]["in"]["car"] == 2
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unwritable_store_is_one_clear_error(tmp_path: Path) -> None:
    import pytest

    from carbonedge.runtime.base.errors import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"file/s.sqlite: cannot open the on-box store"):
        Store(blocker / "s.sqlite")
