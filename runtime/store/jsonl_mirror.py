"""The JSON-lines copy of the summaries (``output.jsonl_path``): fsynced, made whole at open.

One line per stored summary, in sequence order per device, written AFTER the SQLite COMMIT and
fsynced before ``Store.write_summary`` returns. So the copy may lag SQLite by the summaries of one
crash window (committed, not yet appended) or of a failed append (disk full); it never holds a line
SQLite does not (apart from rows a corrupt WAL lost, which stay here). The lag is closed from
SQLite: at open and after every append, every summary whose ``seq`` is above the last one in the
file is appended (``catch_up``). A torn last line (a power cut mid-write) is cut off at open.
A new or empty file starts at the summaries stored from then on (no back-fill of history).
The file is created mode 0600.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
TAIL_BYTES = 1 << 20  # where the last line of each device is looked for at open


class JsonlMirror:
    """Appends summary lines to ``path``; ``last_seq``: device -> the last seq in the file."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")
        self.last_seq = _cut_torn_tail_and_read_last(self.path)
        if not self.last_seq:  # new or empty file: from now on
            self.last_seq = dict(db.execute("SELECT device_id, MAX(seq) FROM summaries GROUP BY 1"))
        added = self.catch_up(db)
        if added:
            logger.warning("%s: %d summaries stored in SQLite were missing here; appended",
                           self.path, added)  # fmt: skip

    def catch_up(self, db: sqlite3.Connection) -> int:
        """Append (fsynced) every stored summary above ``last_seq``; the number appended.
        ``OSError`` propagates (the caller logs it; the next call tries again)."""
        devices = [r[0] for r in db.execute("SELECT DISTINCT device_id FROM summaries")]
        lines = []
        for device in devices:
            rows = db.execute(
                "SELECT seq, body FROM summaries WHERE device_id = ? AND seq > ? ORDER BY seq",
                (device, self.last_seq.get(device, 0)),
            ).fetchall()
            lines += [(device, int(seq), body) for seq, body in rows]
        if not lines:
            return 0
        self._file.write("".join(body + "\n" for _, _, body in lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        for device, seq, _ in lines:
            self.last_seq[device] = max(self.last_seq.get(device, 0), seq)
        return len(lines)

    def close(self) -> None:
        self._file.close()


def _cut_torn_tail_and_read_last(path: Path) -> dict[str, int]:
    """Cut an unterminated last line off; device -> the highest seq in the file's tail."""
    size = path.stat().st_size
    with open(path, "rb+") as f:
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read()
        if tail and not tail.endswith(b"\n"):
            keep = tail.rfind(b"\n") + 1
            f.truncate(size - len(tail) + keep)
            logger.warning("%s: cut off a torn last line (%d bytes)", path, len(tail) - keep)
            tail = tail[:keep]
            os.fsync(f.fileno())
    last: dict[str, int] = {}
    for line in tail.splitlines():
        try:
            body = json.loads(line)
            device, seq = str(body["device_id"]), int(body["seq"])
        except (ValueError, KeyError, TypeError):
            continue  # the first, partial line of the tail window, or not a summary
        last[device] = max(last.get(device, 0), seq)
    return last
