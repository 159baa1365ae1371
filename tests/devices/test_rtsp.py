"""RTSP source against a real GStreamer RTSP server on loopback (tests/devices/rtsp_server.py)."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Callable

import pytest
from device_rigs import rtsp_server  # noqa: F401 - pytest fixture

from carbonedge.devices.health import DeviceState
from carbonedge.devices.sources.rtsp import RtspConfig, RtspSource
from carbonedge.runtime.base.errors import SourceOpenError

SECRET = "s3cret-Pw"


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails the test naming ``what`` after ``timeout_s``."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - t0


def make_source(url: str, **overrides) -> RtspSource:
    settings = {"first_frame_timeout_s": 10.0, "backoff_initial_s": 0.25, "backoff_max_s": 2.0,
                "connect_timeout_s": 3.0, "read_timeout_s": 2.0, "stall_after_s": 1.5}  # fmt: skip
    settings.update(overrides)
    return RtspSource(RtspConfig(id="cam", url=url, **settings))


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_streams_frames_stamped_and_indexed(rtsp_server, transport: str) -> None:
    with make_source(rtsp_server.url(), transport=transport) as src:
        frames = [src.read() for _ in range(30)]
        assert src.state == DeviceState.STREAMING
    assert all(f is not None and f.image.shape == (240, 320, 3) for f in frames)
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert all(b.t_mono_s >= a.t_mono_s for a, b in zip(frames, frames[1:], strict=False))
    assert abs(frames[-1].t_wall_s - time.time()) < 10
    assert src.fps == pytest.approx(60.0, rel=0.05)  # the clip's rate, from the stream
    assert src.state == DeviceState.CLOSED


@pytest.mark.slow
def test_back_streaming_within_10_s_after_server_killed_and_restarted(rtsp_server) -> None:
    with make_source(rtsp_server.url()) as src:
        first = src.read()
        assert first is not None
        rtsp_server.kill()
        down_s = wait_for(lambda: src.state != DeviceState.STREAMING, 10, "outage noticed")
        time.sleep(2.0)  # stays down a while: the backoff grows
        frames_before = src.health.counter("frames")
        rtsp_server.start()
        restarted = time.monotonic()
        back_s = wait_for(
            lambda: (
                src.health.counter("frames") > frames_before + 5
                and src.state == DeviceState.STREAMING
            ),
            10.0,
            "streaming again after the restart",
        )
        frame = src.read()
        reconnects = src.health.counter("reconnects")
    print(f"\nRTSP outage noticed after {down_s:.2f} s; back streaming {back_s:.2f} s after the "
          f"server restarted ({time.monotonic() - restarted:.2f} s incl. read); "
          f"{reconnects} reconnect attempts")  # fmt: skip
    assert frame is not None and frame.index > first.index + 5  # indices never reset
    assert reconnects >= 1


@pytest.mark.slow
def test_stream_that_keeps_sending_one_frame_is_flagged_frozen(rtsp_server) -> None:
    """/freeze plays the clip for 3 s, then repeats one frame: frozen with default settings."""
    src = make_source(rtsp_server.url("freeze"), stall_after_s=5.0)
    assert src.config.freeze_after_s == 10.0  # the default is what is tested
    with src:
        assert src.read() is not None
        first = time.monotonic()
        assert src.state == DeviceState.STREAMING
        frozen_s = wait_for(lambda: src.state == DeviceState.FROZEN, 30.0, "flagged frozen")
        frames_at_freeze = src.health.counter("frames")
        time.sleep(1.0)
        still_delivering = src.health.counter("frames") > frames_at_freeze
        detail = src.health.snapshot()["detail"]
    print(f"\nRTSP frozen flagged {frozen_s:.2f} s after the first frame "
          f"(picture still from about 3 s; freeze_after_s=10): {detail}")  # fmt: skip
    assert still_delivering  # frozen, not stalled: frames keep coming
    assert detail.startswith("unchanged for")
    assert time.monotonic() - first < 30.0


def test_credentials_never_reach_logs_or_errors(rtsp_server, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    good = rtsp_server.url().replace("rtsp://", f"rtsp://viewer:{SECRET}@")
    missing = good.replace("/live", "/no-such-mount")
    refused = f"rtsp://viewer:{SECRET}@127.0.0.1:1/live"
    with make_source(good) as src:
        assert src.read() is not None
        assert "viewer" not in repr(src.config) and SECRET not in str(src.health.snapshot())
    for url in (missing, refused):
        src = make_source(url, first_frame_timeout_s=5.0, give_up_after_s=0.5)
        with pytest.raises(SourceOpenError) as info:
            src.open()
        src.close()
        assert SECRET not in str(info.value) and "***@127.0.0.1" in str(info.value)
        assert SECRET not in str(src.health.snapshot())
    out, err = capfd.readouterr()
    assert "***@127.0.0.1" in caplog.text
    assert SECRET not in caplog.text and SECRET not in out and SECRET not in err


def test_close_returns_promptly_on_a_stalled_stream(rtsp_server) -> None:
    """The server is frozen with SIGSTOP: TCP stays open, nothing arrives, reads block."""
    src = make_source(rtsp_server.url(), read_timeout_s=30.0, stall_after_s=1.0)
    src.open()
    try:
        assert src.read() is not None
        os.kill(rtsp_server.proc.pid, signal.SIGSTOP)
        wait_for(lambda: src.state == DeviceState.STALLED, 10, "stalled")
        t0 = time.monotonic()
        src.close()
        close_s = time.monotonic() - t0
    finally:
        os.kill(rtsp_server.proc.pid, signal.SIGCONT)
    print(f"\nclose() on a stalled RTSP stream returned in {close_s:.2f} s")
    assert close_s < 5.0
    assert src.read() is None
