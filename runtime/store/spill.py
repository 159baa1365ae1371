"""The spill file: what the store could not take at shutdown, kept for the next start.

When the store still fails after ``output.shutdown_flush_s`` at shutdown, each ``QueuedWriter``
appends what it holds to ``<store stem>.spill.jsonl`` (in ``output.spill_dir``, by default next to
the store; put it on another filesystem so a full disk does not take it too), one JSON line per
item, flushed and fsynced. The next start replays the file into the store before anything else
and deletes it once every line is committed. Replaying is idempotent: summaries and events are
stored by id, so a line replayed twice (a crash during the replay) is stored once.

    {"item": "interval_summary", "fields": {...}}   the IntervalSummary's fields
    {"item": "events", "bodies": [{...}, ...]}       the events' stored bodies (to_dict)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.base.events import IntervalSummary

logger = logging.getLogger(__name__)

__all__ = ["replay_spill", "spill_path", "write_spill"]

_APPEND_LOCK = threading.Lock()  # several pipelines may spill at once


def spill_path(sqlite_path: Path, spill_dir: Path | None = None) -> Path:
    """Where the spill file of the store at ``sqlite_path`` lives."""
    sqlite_path = Path(sqlite_path)
    folder = Path(spill_dir) if spill_dir is not None else sqlite_path.parent
    return folder / f"{sqlite_path.stem}.spill.jsonl"


def _line(item: Any) -> str:
    if isinstance(item, IntervalSummary):
        fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        fields["sections"] = dict(item.sections)
        return json.dumps({"item": "interval_summary", "fields": fields}, separators=(",", ":"))
    return json.dumps({"item": "events", "bodies": [e.to_dict() for e in item]},
                      separators=(",", ":"))  # fmt: skip


def write_spill(path: Path, items: Iterable[Any]) -> int:
    """Append ``items`` (summaries and event lists) to ``path``, fsynced; the number written.
    ``OSError`` when the file cannot be written (nothing of this call counts as kept then)."""
    lines = [_line(item) + "\n" for item in items]
    if not lines:
        return 0
    path = Path(path)
    with _APPEND_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        if new:  # the file's name must survive a power cut too
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return len(lines)


class _SpilledEvent:
    """An event read back from the spill file: its stored body, as ``Store.write_events`` needs."""

    __slots__ = ("_body", "device_id", "id", "source_id")

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body
        self.id, self.device_id, self.source_id = body["id"], body["device_id"], body["source_id"]

    def to_dict(self) -> dict[str, Any]:
        return self._body


def replay_spill(store: Any, path: Path) -> dict[str, int]:
    """Write the spill file at ``path`` into ``store``, then delete it; ``{"summaries": n,
    "events": n}`` replayed. A store error leaves the file for the next start (``StoreError``);
    an unreadable line is a ``StoreError`` naming the file and the line."""
    path = Path(path)
    counts = {"summaries": 0, "events": 0}
    if not path.exists():
        return counts
    with open(path, encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                if line["item"] == "interval_summary":
                    store.write_summary(IntervalSummary(**line["fields"]))
                    counts["summaries"] += 1
                else:
                    events = [_SpilledEvent(b) for b in line["bodies"]]
                    store.write_events(events)
                    counts["events"] += len(events)
            except (ValueError, KeyError, TypeError) as exc:
                if not text.endswith("\n"):  # the last line, torn by a crash while spilling
                    logger.warning("%s:%d: torn last line skipped", path, n)
                    continue
                raise StoreError(f"{path}:{n}: not a spill line ({exc})") from None
    path.unlink()
    logger.warning("%s: replayed %d summaries and %d events into the store",
                   path, counts["summaries"], counts["events"])  # fmt: skip
    return counts
