"""Image folder, snapshot URL (a real HTTP server on loopback), GStreamer and V4L2 sources, and the
freeze detector on its own."""

from __future__ import annotations

import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.devices.health import DeviceState
from carbonedge.devices.sources import create_source
from carbonedge.devices.sources.freeze import FreezeDetector, FreezeSettings
from carbonedge.devices.sources.gstreamer import GStreamerConfig
from carbonedge.devices.sources.image_folder import ImageFolderConfig
from carbonedge.devices.sources.opencv_capture import has_backend
from carbonedge.devices.sources.snapshot import SnapshotConfig
from carbonedge.devices.sources.v4l2 import V4l2Config
from carbonedge.runtime.base.errors import SourceOpenError

SECRET = "pa55-word"


def noise(seed: int, shape=(48, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def test_image_folder_in_name_order_skips_unreadable(tmp_path: Path, caplog) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"snap_{i:03d}.png"), noise(i))
    (tmp_path / "snap_001b.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    old = time.time() - 60
    for p in tmp_path.iterdir():
        os.utime(p, (old, old))
    source = create_source(ImageFolderConfig(id="f", path=tmp_path, settle_s=0))
    with source:
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    assert [np.array_equal(f.image, noise(i)) for i, f in enumerate(frames)] == [True] * 3
    assert source.decode_errors == 1 and "snap_001b.jpg" in caplog.text
    assert frames[0].t_wall_s == pytest.approx(old, abs=1)
    assert source.state == DeviceState.CLOSED


def test_image_folder_watch_sees_new_files_and_never_drops(tmp_path: Path) -> None:
    folder, staging = tmp_path / "in", tmp_path / "staging"
    folder.mkdir()
    staging.mkdir()
    config = ImageFolderConfig(id="f", path=folder, watch=True, poll_interval_s=0.05,
                               settle_s=0, queue_frames=2, first_frame_timeout_s=0)  # fmt: skip
    with create_source(config) as source:
        for i in range(6):  # more than the queue holds: the producer waits, nothing is dropped
            # written elsewhere and moved in, as an uploading camera does: with settle_s=0 a
            # half-written PNG could be read (an unreadable image, counted and skipped)
            cv2.imwrite(str(staging / f"{i:02d}.png"), noise(i))
            os.replace(staging / f"{i:02d}.png", folder / f"{i:02d}.png")
        time.sleep(0.5)
        frames = [source.read() for _ in range(6)]
    assert [f.index for f in frames] == list(range(6))
    assert source.dropped_frames == 0


class _Camera(BaseHTTPRequestHandler):
    """Serves /snap.jpg: a new picture each time (or the same one when frozen), Basic auth."""

    frozen = False
    count = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        import base64

        expected = "Basic " + base64.b64encode(f"viewer:{SECRET}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_error(401)
            return
        type(self).count += 1
        seed = 0 if type(self).frozen else type(self).count
        body = cv2.imencode(".png", noise(seed))[1].tobytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def camera_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Camera)
    _Camera.frozen, _Camera.count = False, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_snapshot_url_polls_with_basic_auth_and_flags_freeze(camera_http, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    port = camera_http.server_address[1]
    config = SnapshotConfig(id="s", url=f"http://viewer:{SECRET}@127.0.0.1:{port}/snap.jpg",
                            interval_s=0.05, freeze_after_s=1.0)  # fmt: skip
    with create_source(config) as source:
        frames = [source.read() for _ in range(5)]
        assert len({f.image.tobytes() for f in frames}) == 5
        assert source.state == DeviceState.STREAMING
        _Camera.frozen = True
        deadline = time.monotonic() + 10
        while source.state != DeviceState.FROZEN and time.monotonic() < deadline:
            source.read()
        assert source.state == DeviceState.FROZEN
        _Camera.frozen = False
        while source.state != DeviceState.STREAMING and time.monotonic() < deadline:
            source.read()
        assert source.state == DeviceState.STREAMING
    assert SECRET not in caplog.text and "viewer" not in repr(config)


def test_snapshot_wrong_password_is_retried_without_leaking_it(camera_http, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    port = camera_http.server_address[1]
    config = SnapshotConfig(id="s", url=f"http://viewer:wrong-{SECRET}@127.0.0.1:{port}/snap.jpg",
                            first_frame_timeout_s=0.5, backoff_initial_s=0.05)  # fmt: skip
    with create_source(config) as source:
        time.sleep(0.5)
        snapshot = source.health.snapshot()
    assert snapshot["counters"]["read_errors"] >= 1 and "HTTP 401" in snapshot["last_error"]
    assert "***@127.0.0.1" in caplog.text and SECRET not in caplog.text
    assert SECRET not in str(snapshot)


@pytest.mark.skipif(has_backend(cv2.CAP_GSTREAMER), reason="this OpenCV has GStreamer")
def test_gstreamer_without_backend_fails_once_with_a_clear_message() -> None:
    config = GStreamerConfig(
        id="g", pipeline=f"rtspsrc location=rtsp://u:{SECRET}@cam/x ! decodebin ! appsink"
    )
    source = create_source(config)
    with pytest.raises(SourceOpenError, match="no GStreamer support") as info:
        source.open()
    source.close()
    assert SECRET not in str(info.value) and source.state == DeviceState.FAILED


def test_v4l2_missing_device_keeps_retrying(tmp_path: Path) -> None:
    config = V4l2Config(id="usb", device=str(tmp_path / "video9"), first_frame_timeout_s=0.3,
                        backoff_initial_s=0.05, backoff_max_s=0.1)  # fmt: skip
    with create_source(config) as source:
        time.sleep(0.4)
        snapshot = source.health.snapshot()
    assert snapshot["state"] == "connecting"
    assert "no such device" in snapshot["last_error"]
    assert snapshot["counters"]["reconnects"] >= 2


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([noise(i, (120, 160, 3)) for i in range(40)], ""),
        ([noise(0, (120, 160, 3))] * 40, "unchanged for"),
        ([np.full((120, 160, 3), 3, np.uint8)] * 40, "black frames for"),
        ([np.full((120, 160, 3), 128, np.uint8) + (i % 2) for i in range(40)], "uniform frames"),
        # a slow fade: consecutive frames differ by less than the threshold, the reference does not
        ([np.clip(noise(0, (120, 160, 3)).astype(int) + i // 4, 0, 255).astype(np.uint8)
          for i in range(40)], ""),
    ],
    ids=["moving", "still", "black", "uniform", "slow-fade"],
)  # fmt: skip
def test_freeze_detector(frames, expected) -> None:
    detector = FreezeDetector(FreezeSettings(after_s=2.0, check_interval_s=0.1))
    verdicts = [detector.update(f, i * 0.1) for i, f in enumerate(frames)]
    assert verdicts[-1].startswith(expected) if expected else not any(verdicts)
    if expected:
        assert not verdicts[10]  # not before after_s
