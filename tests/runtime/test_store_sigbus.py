"""A full disk must not kill the box with SIGBUS: SQLite writes its WAL index (``-shm``) through
a memory mapping, and on a filesystem with 1 KiB blocks (ext4 below 512 MiB) parts of that file
were holes, so a write through the mapping on a full disk was a fatal signal, not an error
(``carbonedge run`` died in a COMMIT in the chaos run). ``open_db`` now allocates the file's
blocks (``runtime/store/wal_index.py``). A real ext4 image with 1 KiB blocks, loop-mounted:
needs root and loop devices (skipped with the reason otherwise)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uplink"))
from chaos_rigs import LoopImage, LoopUnavailable, loop_unavailable  # noqa: E402

CREATE = """
import sys
from carbonedge.runtime.store.db import open_db
db = open_db(sys.argv[1])
db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
db.close()  # a clean close: the next opener starts a new WAL and a new WAL index
"""
# The box at its next start: store open, then the disk fills (another writer) until only a few
# KiB are left, enough for the WAL's first frames but not for the holes of the WAL index.
WRITE_ON_A_FULL_DISK = """
import os, sqlite3, sys
from carbonedge.runtime.store.db import open_db
store = sys.argv[1]
folder = os.path.dirname(store)
db = open_db(store)
with open(os.path.join(folder, "spare"), "wb") as f:
    f.write(b"\\1" * 16384)
    os.fsync(f.fileno())
try:
    with open(os.path.join(folder, "filler"), "wb") as f:
        while True:
            f.write(b"\\0" * 1024)
            f.flush()
except OSError:
    pass
os.remove(os.path.join(folder, "spare"))
os.sync()
try:
    db.execute("INSERT INTO t VALUES (1, ?)", (b"x" * 100,))
    print("written")
except sqlite3.Error as exc:  # an error is fine: the box retries it
    print(f"refused: {exc}")
"""


@pytest.fixture(name="small_block_disk")
def small_block_disk_fixture(tmp_path: Path):
    reason = loop_unavailable()
    if reason is not None:
        pytest.skip(f"SIGBUS test: {reason}")
    image = LoopImage(tmp_path / "disk.img", tmp_path / "mnt", size_mb=16, block_size=1024)
    try:
        image.create()
    except LoopUnavailable as exc:
        pytest.skip(f"SIGBUS test: cannot loop-mount an ext4 image ({exc})")
    yield image
    image.umount()


def test_a_write_on_a_full_small_block_disk_is_an_error_not_sigbus(
    small_block_disk: LoopImage,
) -> None:
    store = small_block_disk.mountpoint / "box.sqlite"
    subprocess.run([sys.executable, "-c", CREATE, str(store)], check=True)
    done = subprocess.run([sys.executable, "-c", WRITE_ON_A_FULL_DISK, str(store)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != -signal.SIGBUS, "killed by SIGBUS on a full disk"
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(("written", "refused: ")), done.stdout
