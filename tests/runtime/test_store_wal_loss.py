"""Item 2 of issue 28: a corrupt or truncated WAL must not silently roll back committed summaries
and hand their sequence numbers out again. The sequence sidecar (``<store>.seq``) remembers the
high-water mark; at open the store logs the lost range, numbers above it and reports it."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uplink"))

from uplink_rigs import DEVICE, summary  # noqa: E402

from carbonedge.runtime.store import Store  # noqa: E402
from carbonedge.runtime.uplink.outbox import Outbox  # noqa: E402

WAL_HEADER_BYTES = 32


def power_cut_copy(src: Path, dst_dir: Path) -> Path:
    """The store's files as a crash leaves them (copied while the store is open)."""
    dst_dir.mkdir()
    for suffix in ("", "-wal", ".seq"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", dst_dir / f"{src.name}{suffix}")
    return dst_dir / src.name


def test_sidecar_tracks_every_committed_number_and_is_private(tmp_path: Path) -> None:
    from carbonedge.runtime.store.sidecar import read_marks, sidecar_path

    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
        assert read_marks(db) == {"summary": {DEVICE: 3}, "uplink": {DEVICE: 3}}
        for path in (db, Path(f"{db}-wal"), sidecar_path(db)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_truncated_wal_loses_rows_but_never_their_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # 1..3 are in the main file
        for i in range(3, 6):
            store.write_summary(summary(i))  # 4..6 only in the WAL
        crashed = power_cut_copy(db, tmp_path / "after")
    wal = Path(f"{crashed}-wal")
    wal.write_bytes(wal.read_bytes()[:WAL_HEADER_BYTES])  # torn WAL: every frame gone
    with caplog.at_level(logging.ERROR), Store(crashed) as store:
        assert [s["seq"] for s in store.summaries()] == [1, 2, 3]  # what SQLite kept
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(str(crashed) in e and "summary seq 4..6" in e for e in errors), errors
        assert any("summary seq 4..6" in p for p in store.integrity_problems)
        assert store.write_summary(summary(9)).seq == 7  # never 4 again
    outbox = Outbox(crashed)  # a later opener still sees the problem; uplink numbers go on too
    try:
        assert any("uplink seq 4..6" in p for p in outbox.db.integrity_problems)
        assert max(r.seq for r in outbox.pending()) == 7
    finally:
        outbox.close()


def test_garbage_wal_frames_are_detected_the_same_way(tmp_path: Path) -> None:
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        store.write_summary(summary(0))
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.write_summary(summary(1))
        crashed = power_cut_copy(db, tmp_path / "after")
    wal = Path(f"{crashed}-wal")
    data = bytearray(wal.read_bytes())
    data[WAL_HEADER_BYTES + 24 :] = b"\x5a" * (len(data) - WAL_HEADER_BYTES - 24)  # frame body
    wal.write_bytes(bytes(data))
    con = sqlite3.connect(crashed)
    assert con.execute("SELECT COUNT(*) FROM summaries").fetchone()[0] == 1  # rolled back
    con.close()
    with Store(crashed) as store:
        assert store.integrity_problems and "summary seq 2..2" in store.integrity_problems[0]
        assert store.write_summary(summary(2)).seq == 3
