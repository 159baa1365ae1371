"""Rigs for the device tests: GStreamer's RTSP server and socat pty pairs, on loopback/tmp_path.

Both skip with a reason outside CI when the rig is missing and fail in CI (tests/rigs.py).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rigs import free_port, require_executable, skip_or_fail, stop_process, wait_for_port

RTSP_SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspServer:
    """The test RTSP server (rtsp_server.py) on one fixed port, restartable by the test."""

    def __init__(self, clip: Path, port: int, log_path: Path, moving_s: float) -> None:
        self.clip, self.port, self.log_path, self.moving_s = clip, port, log_path, moving_s
        self.proc: subprocess.Popen | None = None

    def url(self, mount: str = "live") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SERVER_SCRIPT), "--port", str(self.port),
             "--clip", str(self.clip), "--moving-s", str(self.moving_s)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(self.port, 15.0, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; server log:\n{self.log_path.read_text()}") from None

    def kill(self) -> None:
        """SIGKILL, as a camera losing power: no RTSP TEARDOWN, connections just drop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def _require_gst_rtsp_server() -> None:
    require_executable(SYSTEM_PYTHON)
    check = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import GstRtspServer"],
        capture_output=True, text=True,
    )  # fmt: skip
    if check.returncode != 0:
        skip_or_fail("GStreamer's RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) is missing")


@pytest.fixture()
def rtsp_server(shared_dir: Path, tmp_path: Path) -> Iterator[RtspServer]:
    """A running test RTSP server serving the highway clip (see rtsp_server.py for the mounts)."""
    _require_gst_rtsp_server()
    clip = shared_dir / "media" / "traffic" / "highway_cdnet_320x240.avi"
    server = RtspServer(clip, free_port(), tmp_path / "rtsp_server.log", moving_s=3.0)
    server.start()
    yield server
    server.stop()


class PtyPair:
    """Two linked pseudo-terminals made by socat: the driver opens ``device``, the test ``test``."""

    def __init__(self, folder: Path) -> None:
        self.device, self.test = folder / "ttyDEVICE", folder / "ttyTEST"
        self.socat = require_executable("socat")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.socat, "pty,raw,echo=0,link=" + str(self.device),
             "pty,raw,echo=0,link=" + str(self.test)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5.0
        while not (self.device.exists() and self.test.exists()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("socat did not create the pty pair")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture()
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    pair = PtyPair(tmp_path)
    pair.start()
    yield pair
    pair.stop()
