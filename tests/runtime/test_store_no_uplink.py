"""Item 8 of issue 28: a box without an ``uplink:`` section queues nothing in the outbox (the
store must not grow without bound); a backlog from an earlier config with an uplink is kept, and
the store warns once at start that it will not be sent."""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uplink"))

from uplink_rigs import summary  # noqa: E402

from carbonedge.runtime.store import Store  # noqa: E402
from carbonedge.runtime.store.outbox import pending_count  # noqa: E402


def outbox_rows(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    finally:
        con.close()


def test_no_uplink_queues_nothing_and_keeps_an_old_backlog_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.sqlite"
    with Store(db, uplink=True) as store:  # an earlier config with an uplink
        for i in range(3):
            store.write_summary(summary(i))
    assert pending_count(db) == 3
    with caplog.at_level(logging.WARNING), Store(db, uplink=False) as store:
        for i in range(3, 10):
            store.write_summary(summary(i))
        assert len(store.summaries()) == 10
    assert outbox_rows(db) == 3  # the backlog is kept, nothing new went in
    warnings = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert len(warnings) == 1 and str(db) in warnings[0] and "3 messages" in warnings[0]


def test_site_without_uplink_section_leaves_the_outbox_empty(tmp_path: Path) -> None:
    from carbonedge.runtime.config import load_site_config
    from carbonedge.runtime.site import Site

    config_path = Path(__file__).resolve().parents[2] / "runtime/examples/synthetic.yaml"
    config = load_site_config(config_path)
    assert config.uplink is None
    db = tmp_path / "box.sqlite"
    output = config.output.model_copy(update={"sqlite_path": db, "jsonl_path": None})
    config = config.model_copy(update={"output": output})
    Site(config, max_frames=400).run()
    con = sqlite3.connect(db)
    summaries = con.execute("SELECT COUNT(*) FROM summaries").fetchone()[0]
    con.close()
    assert summaries > 0 and outbox_rows(db) == 0
