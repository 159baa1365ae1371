"""A real PostgreSQL for the platform-store tests (and ``benchmarks/platform_load.py``).

``LocalPostgres`` runs Debian's ``postgres`` (``.ci/install-rigs`` installs the ``postgresql``
package) from a fresh ``initdb`` in a temporary folder, on 127.0.0.1 and a free port, with its
unix socket in that folder; as root it runs as the ``postgres`` OS user (postgres refuses root).
``stop``/``start`` keep the data folder and port (a restart). The pytest fixture ``postgres`` is
session-scoped; each test asks ``pg_database`` for a database of its own.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from rigs import free_port, in_ci, skip_or_fail, wait_for_port


def import_psycopg():
    """psycopg for a test module: skip the module outside CI when it is missing, fail in CI."""
    try:
        import psycopg
    except ImportError:
        if in_ci():
            raise
        pytest.skip("psycopg is not installed: pip install -e '.[test]'", allow_module_level=True)
    return psycopg


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``postgres`` (newest Debian version first)."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(folder) / "postgres", os.X_OK):
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class LocalPostgres:
    """One PostgreSQL cluster in a temporary folder; ``dsn(dbname)`` to connect."""

    def __init__(self, bin_dir: Path, *, fsync: bool = True) -> None:
        self.bin_dir, self.port, self.fsync = bin_dir, free_port(), fsync
        self.root = Path(tempfile.mkdtemp(prefix="carbonedge-pg-"))
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        self.proc: subprocess.Popen | None = None
        self._as: dict = {}
        if os.geteuid() == 0:  # postgres refuses to run as root: the postgres OS user
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.root.chmod(0o755)
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync", "--locale=C"],
            check=True, capture_output=True, **self._as,
        )  # fmt: skip

    def start(self) -> LocalPostgres:
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if self._as:
                os.chown(self.log, self._as["user"], self._as["group"])
            self.proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=60"],
                stdout=log, stderr=log, **self._as,
            )  # fmt: skip
        finally:
            os.close(log)
        wait_for_port(self.port, 30.0, self.proc)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, *, immediate: bool = False) -> None:
        """SIGINT (fast shutdown) or SIGQUIT (immediate: crash-like, recovery at next start)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(3 if immediate else 2)
            self.proc.wait(30)
        self.proc = None

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(name="postgres", scope="session")
def postgres_fixture():
    """A running PostgreSQL for the whole session (skip outside CI, fail in CI, when missing)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        skip_or_fail("psycopg (pip install 'psycopg[binary]') is not installed")
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        skip_or_fail("PostgreSQL (Debian package postgresql) is not installed")
    pg = LocalPostgres(bin_dir, fsync=False).start()
    yield pg
    pg.close()


@pytest.fixture(name="pg_dsn")
def pg_dsn_fixture(postgres: LocalPostgres) -> str:
    """A fresh database of the session's PostgreSQL for one test."""
    return postgres.create_database()


def signed_summary(device: str, seq: int, *, key: bytes, site: str, camera: str = "cam-1",
                   start_s: float, created_s: float, cars: int = 3, co2_g: float | None = 250.0,
                   merged_seqs: list[int] | None = None) -> bytes:  # fmt: skip
    """The wire bytes of one signed one-minute summary as a box sends it (``build_envelope``):
    two lines (``stop-line`` in/out, ``exit`` in), an ``emissions`` total when ``co2_g``."""
    from carbonedge.runtime.base.events import IntervalSummary, utc_iso
    from carbonedge.runtime.uplink.envelope import build_envelope

    counts = {"stop-line": {"in": {"car": cars, "bus": 1}, "out": {"car": cars + 1, "truck": 1}},
              "exit": {"in": {"car": 2}}}  # fmt: skip
    sections = {}
    if co2_g is not None:
        sections["emissions"] = {"method": "copert", "tables": "t", "total": {
            "vehicles": cars * 2 + 5, "km": 1.5, "co2_g": [co2_g, co2_g * 0.8, co2_g * 1.2],
            "nox_g": [2.5, 2.0, 3.0], "pm25_g": [0.05, 0.04, 0.06], "co_g": [4.0, 3.0, 5.0]},
            "by_class": {}}  # fmt: skip
    summary = IntervalSummary(device_id=device, source_id=camera, seq=seq,
                              interval_start_s=start_s, interval_end_s=start_s + 60.0,
                              counts=counts, frames=1500, detector="yolox",
                              sections=sections)  # fmt: skip
    body = summary.to_dict()
    return build_envelope(kind="interval_summary", site_id=site, device_id=device,
                          msg_id=body["id"], seq=seq, created_at=utc_iso(created_s), body=body,
                          key=key, merged_seqs=merged_seqs)  # fmt: skip
