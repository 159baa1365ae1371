"""Helpers for tests that start real components (Mosquitto, GStreamer's RTSP server, socat).

``.ci/install-rigs`` installs them. Outside CI a missing one skips the test with the reason; in CI
(``CI=true``) it fails, so an integration test can never pass by skipping there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(message: str) -> None:
    if in_ci():
        pytest.fail(f"{message} (CI must have it: .ci/install-rigs installs it)")
    pytest.skip(f"{message}; run .ci/install-rigs (as root) to install it")


def require_executable(name: str, *extra_dirs: str) -> str:
    """Path of executable ``name`` (also looked up in ``extra_dirs``, e.g. /usr/sbin)."""
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in extra_dirs if os.access(Path(d) / name, os.X_OK)), None
    )
    if found is None:
        skip_or_fail(f"{name} is not installed")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    """Block until 127.0.0.1:``port`` accepts a connection (or fail naming the process output)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s} s")


def stop_process(proc: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """Terminate ``proc`` (then kill it) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
