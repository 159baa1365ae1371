"""``carbonedge outbox recover``: move a corrupt store/outbox aside and salvage what is readable.

Nothing is deleted: the corrupt file (with its ``-wal``/``-shm``) is renamed to
``<name>.corrupt-<UTC time>``, a fresh store is created under the original name, and every row that
can still be read is copied into it (``carbonedge.runtime.store.salvage``: summaries, events,
counters, outbox, dead letters, the HJ 212 queue, the calibration last reported), then brought to
the current schema. Sequence counters never go backwards: they continue from the highest number
found anywhere, the sequence sidecar ``<name>.seq`` included (it stays in place); the report
counts what was lost from the counters, not only from read errors, and summaries whose outbox
rows were lost are queued again. A file written by a newer release is refused before anything
is moved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.store.quarantine import move_aside
from carbonedge.runtime.store.salvage import salvage, source_version


def recover(path: Path) -> dict[str, Any]:
    """Quarantine ``path``, create a fresh store there, copy readable rows; return a report."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such file to recover")
    version = source_version(path)  # a newer schema: StoreError, nothing moved
    quarantine = move_aside(path)
    return {"quarantined": str(quarantine), **salvage(quarantine, path, version)}
