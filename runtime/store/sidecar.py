"""The sequence sidecar ``<store>.seq``: the high-water mark of every counter, outside SQLite.

A small JSON file next to the store file (``box.sqlite`` -> ``box.sqlite.seq``), mode 0600::

    {"format": 1,
     "marks": {"summary": {"box-17": 412}, "uplink": {"box-17": 1630}},
     "problems": ["2026-01-01T10:00:00Z box.sqlite: summary seq 410..412 of box-17 lost ..."]}

``marks`` is rewritten after every COMMIT that allocated a number (``Transaction``): read, merged
by taking the larger value per counter and device, written to ``<store>.seq.tmp``, fsynced and
renamed over the old one (the directory is fsynced too), all under an ``flock`` on the directory
so the store's several connections (pipelines, forwarder, ``outbox forward``) never lower each
other's marks. A crash leaves the old or the new file, never a torn one. Written after the
COMMIT, a mark is never above a number that was not committed; so a mark above what the
database holds at open means committed rows were lost (a corrupt or truncated WAL, a file
restored from an older copy): ``db.open_db`` logs it, records it under ``problems`` (read by every
later opener: ``Store.integrity_problems``) and continues numbering above the mark. ``carbonedge
outbox recover`` and the start-up quarantine continue from it too, so a sequence never goes
backwards while this file survives.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
FORMAT = 1
MAX_PROBLEMS = 20  # the newest ones are kept

Marks = dict[str, dict[str, int]]  # counter -> device id -> highest number allocated


def sidecar_path(store_path: Path) -> Path:
    return Path(f"{store_path}.seq")


def read(store_path: Path) -> dict[str, Any] | None:
    """The sidecar's content (``marks``, ``problems``); None when it does not exist. A file that
    cannot be parsed is logged at ERROR (naming it) and read as None."""
    path = sidecar_path(store_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.error("%s: cannot read the sequence sidecar (%s)", path, exc.strerror)
        return None
    try:
        data = json.loads(text)
        marks = {
            str(counter): {str(d): int(n) for d, n in devices.items() if int(n) >= 0}
            for counter, devices in data["marks"].items()
        }
        problems = [str(p) for p in data.get("problems", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.error("%s: the sequence sidecar is unreadable (%s); ignored", path, exc)
        return None
    return {"marks": marks, "problems": problems}


def read_marks(store_path: Path) -> Marks:
    data = read(store_path)
    return data["marks"] if data else {}


def merge(into: Marks, other: Marks) -> Marks:
    """``into`` raised to ``other`` (the larger value per counter and device); returns ``into``."""
    for counter, devices in other.items():
        mine = into.setdefault(counter, {})
        for device, n in devices.items():
            mine[device] = max(mine.get(device, 0), int(n))
    return into


def update(store_path: Path, marks: Marks, problem: str | None = None) -> None:
    """Raise the sidecar's marks to ``marks`` (and add ``problem``); durable when it returns.
    ``OSError`` propagates (the caller decides whether that is fatal)."""
    store_path = Path(store_path)
    path = sidecar_path(store_path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)  # released when dir_fd is closed
        current = read(store_path) or {"marks": {}, "problems": []}
        merge(current["marks"], marks)
        if problem is not None:
            current["problems"] = (current["problems"] + [problem])[-MAX_PROBLEMS:]
        text = json.dumps({"format": FORMAT, **current}, sort_keys=True)
        _write_durably(path, text.encode("utf-8"), dir_fd)
    finally:
        os.close(dir_fd)


def _write_durably(path: Path, data: bytes, dir_fd: int) -> None:
    tmp = Path(f"{path}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an older tmp file of another mode
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    os.fsync(dir_fd)
