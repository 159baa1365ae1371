"""The peer of the end-to-end benchmarks decodes ahead as ours does (issue 27 item 5): its frames
come from a ``peer-decode`` thread through a bounded queue as deep as ``runtime.prefetch``'s, in
order and unchanged. (Timing is never asserted.)"""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.benchmarks import bench_e2e
from carbonedge.runtime.prefetch import frames_of


class CountedCapture:
    """A real ``cv2.VideoCapture`` that counts its reads (to see how far the reader runs ahead)."""

    def __init__(self, path: Path) -> None:
        self.cap = cv2.VideoCapture(str(path))
        self.reads = 0

    def read(self):
        self.reads += 1
        return self.cap.read()

    def release(self) -> None:
        self.cap.release()


def _inline_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    images = [cap.read()[1] for _ in range(n)]
    cap.release()
    return images


def test_peer_queue_is_as_deep_as_ours() -> None:
    assert bench_e2e.PREFETCH_DEPTH == inspect.signature(frames_of).parameters["depth"].default


def test_peer_frames_come_in_order_from_a_bounded_reader_thread(shared_dir: Path) -> None:
    clip = shared_dir / bench_e2e.CLIP
    cap = CountedCapture(clip)
    timer, threads = bench_e2e.CallTimer(), set()
    images, ahead = [], []
    for image in bench_e2e.peer_frames(cap, 24, timer, threads):
        ahead.append(cap.reads - len(images) - 1)  # frames read but not yet handed over
        images.append(image)
    cap.release()
    assert threads == {"peer-decode"}  # every cap.read() ran on the reader thread
    assert timer.seconds > 0
    # one frame in the reader's hands (blocked in put) plus a full queue, never more
    assert max(ahead) <= bench_e2e.PREFETCH_DEPTH + 1, ahead
    assert cap.reads == 24  # max_frames reads, not one more
    expected = _inline_frames(clip, 24)
    assert len(images) == 24
    assert all(np.array_equal(a, b) for a, b in zip(images, expected, strict=True))


def test_leaving_early_stops_the_reader(shared_dir: Path) -> None:
    cap = cv2.VideoCapture(str(shared_dir / bench_e2e.CLIP))
    images = bench_e2e.peer_frames(cap, 1000, bench_e2e.CallTimer(), set())
    assert next(images).shape == (240, 320, 3)
    images.close()
    cap.release()
    assert not [t for t in threading.enumerate() if t.name == "peer-decode"]


def test_a_read_error_is_raised_in_the_consumer() -> None:
    class BrokenCapture:  # the error path only: a real capture does not raise here
        def read(self):
            raise OSError("decoder gone")

    with pytest.raises(OSError, match="decoder gone"):
        list(bench_e2e.peer_frames(BrokenCapture(), 5, bench_e2e.CallTimer(), set()))


@pytest.mark.slow  # 20 frames through YOLOX-nano (a few seconds)
def test_a_peer_pass_reads_off_the_main_thread(shared_dir: Path, with_model_dir: Path) -> None:
    peer = bench_e2e.PeerE2E(with_model_dir / bench_e2e.MODEL_FILE, shared_dir / bench_e2e.CLIP)
    result = peer.run(20)
    assert result.frames == 20
    assert result.reads_off_main  # the row's case text says "decode thread" for the peer
    assert result.read_s > 0


def _pass(fps: float, off_main: bool) -> bench_e2e.PassTimes:
    frames = 100
    return bench_e2e.PassTimes(frames, frames / fps, 0.5 * frames / fps, 0.01, 3, off_main)


@pytest.mark.parametrize("peer_off_main", [True, False])
def test_rows_say_where_each_side_decodes(peer_off_main: bool) -> None:
    passes = {
        bench_e2e.OursE2E.name: [_pass(40.0, True), _pass(42.0, True), _pass(41.0, True)],
        bench_e2e.PeerE2E.name: [_pass(30.0, peer_off_main)] * 3,
    }
    rows = bench_e2e.rows_from(passes, (1.0, 2.0))
    assert [r.kernel for r in rows] == ["e2e", "e2e non-model", "e2e model"]
    non_model = rows[1].case
    assert "video reads ours 0.10-0.10 (decode thread) peer" in non_model
    where = "(decode thread)" if peer_off_main else "(NOT on a decode thread)"
    assert non_model.endswith(f"peer 0.10-0.10 {where}"), non_model
    assert "count ours 3/3/3 peer 3/3/3" in rows[0].case
