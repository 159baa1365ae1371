"""``carbonedge outbox recover``: move a corrupt store/outbox aside and salvage what is readable.

Nothing is deleted: the corrupt file (with its ``-wal``/``-shm``) is renamed to
``<name>.corrupt-<UTC time>``, a fresh store is created under the original name, and every row that
can still be read is copied into it (``carbonedge.runtime.store.salvage``: summaries, events,
counters, outbox, dead letters, the HJ 212 queue, the calibration last reported), then brought to
the current schema. Sequence counters never go backwards. A file written by a newer release is
refused before anything is moved.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.store.salvage import salvage, source_version


def recover(path: Path) -> dict[str, Any]:
    """Quarantine ``path``, create a fresh store there, copy readable rows; return a report."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such file to recover")
    version = source_version(path)  # a newer schema: StoreError, nothing moved
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    quarantine = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            part.rename(Path(str(quarantine) + suffix))
    return {"quarantined": str(quarantine), **salvage(quarantine, path, version)}
