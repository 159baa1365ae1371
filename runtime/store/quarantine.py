"""A corrupt store at start: moved aside (never deleted) and a fresh one started in its place.

``carbonedge run`` calls ``open_or_quarantine`` before anything else opens the store: a file that
fails the open checks (``OutboxCorruptError``) is renamed with its ``-wal``/``-shm`` to
``<name>.corrupt-<UTC time>`` (kept for ``carbonedge outbox recover``, which salvages its rows
into the running store's place later or into a copy), one ERROR line says so, and a fresh store is
created whose counters continue from the sequence sidecar ``<store>.seq`` (``integrity.py``), so
the platform never sees a number twice. Without this a corrupt file made the service exit 2 on
every start, for ever, under the shipped systemd unit (``Restart=always``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from carbonedge.runtime.store.db import RECOVER_HINT, open_db
from carbonedge.runtime.uplink.errors import OutboxCorruptError

logger = logging.getLogger(__name__)


def move_aside(path: Path) -> Path:
    """Rename ``path`` and its ``-wal``/``-shm`` to ``<name>.corrupt-<UTC time>``; the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    quarantine = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{quarantine}{suffix}"))
    return quarantine


def open_or_quarantine(path: Path) -> Path | None:
    """Check the store at ``path`` opens; a corrupt one is moved aside and replaced by a fresh
    one. Returns where the corrupt file went (None: it was fine)."""
    path = Path(path)
    try:
        open_db(path).close()
        return None
    except OutboxCorruptError:
        quarantine = move_aside(path)
        logger.error(
            "%s: the store is corrupt; moved aside to %s (kept, not deleted) and a fresh store "
            "started, numbering on from %s.seq; salvage the old rows with: %s %s",
            path, quarantine.name, path.name, RECOVER_HINT, quarantine,
        )  # fmt: skip
    open_db(path).close()
    return quarantine
