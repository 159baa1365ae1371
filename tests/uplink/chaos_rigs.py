"""Rigs for the fault tests around a real box: ``carbonedge run`` and ``carbonedge ingest`` as
processes, a store on a loop-mounted ext4 image that can lose power, ``/healthz`` probes.

No pytest here: ``benchmarks/chaos.py`` runs the same rigs at a larger scale. What a test cannot
use (no root, no loop device, no mkfs.ext4) is named by ``loop_unavailable()``.

A power cut: ``LoopImage.power_cut()`` copies the image file right after the box was killed with
SIGKILL. The copy holds only what the filesystem had handed to the block device (the kernel's
dirty pages of the mounted filesystem are not in it), which is what a power cut leaves; the copy
is then mounted in place of the original (ext4 replays its journal, SQLite its WAL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEVICE, SITE = "chaos-box", "chaos-site"
KEY = b"chaos-box-hmac-key-0123456789abcdef"


def wait_for(predicate, timeout_s: float, what: str, step_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


# --- the box ----------------------------------------------------------------------------------
def write_keys(folder: Path) -> tuple[Path, Path]:
    """The box's signing key file and the platform's keys folder (both mode 0600)."""
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    box_key, platform_key = folder / "box.key", keys / f"{DEVICE}.key"
    for path in (box_key, platform_key):
        path.write_bytes(KEY + b"\n")
        path.chmod(0o600)
    return box_key, keys


def site_yaml(path: Path, *, source: dict[str, Any], store: Path, jsonl: Path | None,
              broker_port: int, key_file: Path, interval_s: float = 1.0,
              drain_rate_msg_s: float = 50, health_port: int | None = None,
              stalled_after_s: float = 120, keepalive_s: int = 30,
              flush_timeout_s: float = 30, shutdown_flush_s: float = 2,
              spill_dir: Path | None = None, disk_min_free_mb: float = 0) -> Path:  # fmt: skip
    """A one-camera site config with an MQTT uplink to 127.0.0.1:``broker_port``."""
    config: dict[str, Any] = {
        "device_id": DEVICE,
        "detector": {"type": "motion"},
        "cameras": {"road": {"source": source}},
        "summary": {"interval_s": interval_s},
        "output": {"sqlite_path": str(store), "jsonl_path": str(jsonl) if jsonl else None,
                   "shutdown_flush_s": shutdown_flush_s,
                   "spill_dir": str(spill_dir) if spill_dir else None},
        "uplink": {
            "site_id": SITE, "drain_rate_msg_s": drain_rate_msg_s, "health_interval_s": 0,
            "flush_timeout_s": flush_timeout_s, "stalled_after_s": stalled_after_s,
            "signing": {"key_file": str(key_file)},
            "sink": {"type": "mqtt", "host": "127.0.0.1", "port": broker_port,
                     "reconnect_min_s": 0.1, "reconnect_max_s": 1.0, "keepalive_s": keepalive_s},
        },
    }  # fmt: skip
    config["health"] = ({"port": health_port, "disk_min_free_mb": disk_min_free_mb}
                        if health_port is not None else {"enabled": False})  # fmt: skip
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path


def synthetic_source(duration_s: float = 240, fps: float = 4) -> dict[str, Any]:
    """The embedded scene, small and fast: wall times are fixed, so a rerun makes the same ids."""
    return {"type": "synthetic", "duration_s": duration_s, "fps": fps, "width_px": 160,
            "height_px": 120, "seed": 7}  # fmt: skip


def write_clip(path: Path, seconds: float, fps: float = 5.0) -> Path:
    """A tiny MJPG clip (64x48) with a moving block; play it with ``realtime: true``."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(int(seconds * fps)):
        image = np.full((48, 64, 3), 90, np.uint8)
        x = (i * 3) % 56
        image[20:28, x : x + 8] = 230
        writer.write(image)
    writer.release()
    return path


class Box:
    """``carbonedge run CONFIG`` as a process; its output appended to ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Box:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # a fatal signal prints the stacks
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "carbonedge.runtime.cli", "-v", "run", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=env,
            )  # fmt: skip
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL and reap: nothing of the process survives but what it wrote."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"carbonedge run still running after {timeout_s} s: "
                                 f"{self.log.read_text()[-3000:]}") from None  # fmt: skip

    def stop_nowait(self) -> None:
        """SIGTERM: finish the frame, flush the open interval, the store and the uplink."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait."""
        self.stop_nowait()
        return self.wait(timeout_s)


def healthz(port: int) -> tuple[int | None, dict[str, Any] | None]:
    """(HTTP status, body) of the box's ``/healthz``; (None, None) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (OSError, ValueError):
        return None, None


def uplink_reasons(body: dict[str, Any] | None) -> list[str]:
    return [r for r in (body or {}).get("reasons", []) if r.startswith("uplink:")]


def stored_summaries(store: Path) -> dict[str, int]:
    """Summary id -> seq in the box's store (a connection of its own, closed after)."""
    con = sqlite3.connect(store, timeout=30)
    try:
        return dict(con.execute("SELECT id, seq FROM summaries"))
    finally:
        con.close()


# --- the platform -----------------------------------------------------------------------------
class Ingest:
    """``carbonedge ingest`` as a process: subscribes (persistent session), verifies,
    de-duplicates and stores into ``sqlite``; the test reads that file."""

    def __init__(self, broker_port: int, keys: Path, sqlite: Path, log: Path) -> None:
        self.args = [sys.executable, "-m", "carbonedge.runtime.cli", "ingest", "--port",
                     str(broker_port), "--keys-dir", str(keys), "--sqlite", str(sqlite),
                     "--client-id", "chaos-platform"]  # fmt: skip
        self.sqlite, self.log = sqlite, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Ingest:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._subscribed, 30, "carbonedge ingest to subscribe")
        return self

    def _subscribed(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"carbonedge ingest exited: {self.log.read_text()[-2000:]}")
        return self.sqlite.exists() and self._query("SELECT 1") is not None

    def _query(self, sql: str) -> list[tuple] | None:
        try:
            con = sqlite3.connect(f"file:{self.sqlite}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error:
            return None
        try:
            return con.execute(sql).fetchall()
        except sqlite3.Error:
            return None
        finally:
            con.close()

    def summaries(self) -> list[tuple[str, int, str]]:
        """(msg_id, seq, summary id) of every accepted summary, in arrival order."""
        rows = self._query("SELECT msg_id, seq, envelope FROM messages "
                           "WHERE kind = 'interval_summary' ORDER BY arrival") or []  # fmt: skip
        return [(m, s, json.loads(e)["body"]["id"]) for m, s, e in rows]

    def bodies(self) -> list[dict[str, Any]]:
        """The accepted summaries' bodies, in arrival order."""
        rows = self._query("SELECT envelope FROM messages WHERE kind = 'interval_summary' "
                           "ORDER BY arrival") or []  # fmt: skip
        return [json.loads(e)["body"] for (e,) in rows]

    def counts(self) -> dict[str, int]:
        """Verdicts so far: new, duplicate, replay, rejected."""
        return dict(self._query("SELECT name, value FROM ingest_counters") or [])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def check_delivered(ingest: Ingest, stored: dict[str, int]) -> dict[str, int]:
    """Everything the box stored arrived once after de-duplication, first arrivals in sequence
    order, no sequence number reused; the figures (``lost``, ``duplicated``, ...)."""
    got = ingest.summaries()
    ids = [body_id for _, _, body_id in got]
    seqs = [seq for _, seq, _ in got]
    counts = ingest.counts()
    figures = {
        "stored": len(stored), "received": len(set(ids)), "lost": len(set(stored) - set(ids)),
        "duplicated": len(ids) - len(set(ids)), "unknown": len(set(ids) - set(stored)),
        "raw_duplicates": counts.get("duplicate", 0), "replays": counts.get("replay", 0),
        "rejected": counts.get("rejected", 0),
        "out_of_order": sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b <= a),
    }  # fmt: skip
    return figures


# --- a disk that can lose power ---------------------------------------------------------------
def loop_unavailable() -> str | None:
    """Why an ext4 image cannot be loop-mounted here (None: it can)."""
    if os.geteuid() != 0:
        return "mounting a loop device needs root"
    if shutil.which("mkfs.ext4") is None and not Path("/usr/sbin/mkfs.ext4").exists():
        return "mkfs.ext4 is not installed (Debian package e2fsprogs)"
    if shutil.which("mount") is None or shutil.which("losetup") is None:
        return "mount/losetup are not installed (Debian packages mount, util-linux)"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control missing: a container without loop support)"
    return None


class LoopImage:
    """An ext4 filesystem in the file ``image``, loop-mounted at ``mountpoint``."""

    def __init__(
        self, image: Path, mountpoint: Path, size_mb: int = 48, block_size: int | None = None
    ) -> None:
        self.image, self.mountpoint, self.size_mb = image, mountpoint, size_mb
        self.block_size = block_size  # None: mkfs.ext4 decides (1 KiB below 512 MiB)
        self.mounted = False
        self.cuts = 0

    def create(self) -> LoopImage:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb * 2**20)
        mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
        block = ["-b", str(self.block_size)] if self.block_size else []
        _run([mkfs, "-q", "-F", *block, "-E", "lazy_itable_init=0,lazy_journal_init=0",
              str(self.image)])  # fmt: skip
        self.mount()
        return self

    def mount(self) -> None:
        _run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)])
        self.mounted = True

    def umount(self) -> None:
        if self.mounted:
            _run(["umount", str(self.mountpoint)])
            self.mounted = False

    def power_cut(self) -> None:
        """Keep only what reached the block device: copy the image now, drop the mounted
        filesystem (with its page cache), mount the copy in its place."""
        copy = self.image.with_name(self.image.name + ".cut")
        shutil.copyfile(self.image, copy)
        self.umount()
        os.replace(copy, self.image)
        self.mount()
        self.cuts += 1


class LoopUnavailable(RuntimeError):
    """A mount or mkfs command was refused (the message says which and why)."""


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise LoopUnavailable(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
