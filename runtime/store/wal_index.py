"""The WAL index (``<store>-shm``) gets all its disk blocks when the store opens, not later.

SQLite maps the ``-shm`` file into memory and writes it through the mapping. It extends the file
one byte per 4 KiB memory page, which allocates the whole page only where a filesystem block is
as large as the page. On a filesystem with smaller blocks (ext4 below 512 MiB is formatted with
1 KiB blocks by default) the rest of each page stays a hole, and a later write through the
mapping must allocate it: on a full disk that write cannot fail with an error, the kernel kills
the process with SIGBUS instead (found by ``benchmarks/chaos.py``: ``carbonedge run`` died in a
COMMIT while the disk filled; reproduced by ``tests/runtime/test_store_sigbus.py``).
``allocate_wal_index`` asks the filesystem for every block of the file's 32 KiB regions
(``fallocate``, which never touches the data already there), so writes through the mapping never
need a new block. Only a WAL index that grows past what was allocated (a WAL beyond ~4000 frames,
which the automatic checkpoint prevents) or that is rebuilt on a disk already full at start can
still need one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["allocate_wal_index"]

REGION_BYTES = 32768  # SQLite maps the WAL index in 32 KiB regions
_warned: set[str] = set()


def _fallocate():
    """libc's ``fallocate`` (Linux; no emulation that writes into the file), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = getattr(libc, "fallocate64", None) or libc.fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


_FALLOCATE = _fallocate()


def allocate_wal_index(store_path: Path) -> bool:
    """Allocate every block of ``<store_path>-shm`` (rounded up to whole 32 KiB regions);
    True when done. A filesystem without ``fallocate``, or a full one, is logged once per store
    at WARNING (the store works, but a full disk may then end the process with SIGBUS)."""
    shm = f"{store_path}-shm"
    if _FALLOCATE is None:
        return False
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:  # not in WAL mode, or no connection has read yet
        return False
    try:
        size = os.fstat(fd).st_size
        length = max(REGION_BYTES, -(-size // REGION_BYTES) * REGION_BYTES)
        if _FALLOCATE(fd, 0, 0, length) == 0:
            return True
        err = ctypes.get_errno()
    finally:
        os.close(fd)
    if shm not in _warned:
        _warned.add(shm)
        logger.warning(
            "%s: cannot allocate the WAL index's disk blocks (%s); if this filesystem has "
            "blocks smaller than 4 KiB, a full disk may end the process with SIGBUS (format it "
            "with 4 KiB blocks: mkfs.ext4 -b 4096)", shm, os.strerror(err),
        )  # fmt: skip
    return False
