"""The bounded hand-off queue (carbonedge.runtime.base.handoff) and the decode-ahead that uses it
in blocking mode (carbonedge.runtime.prefetch)."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import make_frame

from carbonedge.devices.sources.base import FrameSource
from carbonedge.runtime.base.handoff import HandoffQueue
from carbonedge.runtime.base.types import Frame
from carbonedge.runtime.prefetch import frames_of


def test_drop_oldest_keeps_the_newest_and_counts_drops() -> None:
    q: HandoffQueue[int] = HandoffQueue(3, drop_oldest=True)
    assert all(q.put(i) for i in range(10))  # never blocks
    assert (len(q), q.dropped) == (3, 7)
    q.close()
    assert [q.get(), q.get(), q.get(), q.get()] == [7, 8, 9, None]  # drained, then None


def test_blocking_mode_waits_for_room_and_drops_nothing() -> None:
    q: HandoffQueue[int] = HandoffQueue(2, drop_oldest=False)
    got: list[int] = []

    def producer() -> None:
        for i in range(50):
            assert q.put(i)
        q.close()

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.1)
    assert len(q) == 2 and thread.is_alive()  # full: the producer waits
    while (item := q.get(timeout_s=5)) is not None:
        got.append(item)
    thread.join(5)
    assert got == list(range(50)) and q.dropped == 0


def test_closing_from_the_consumer_side_wakes_a_blocked_producer() -> None:
    q: HandoffQueue[int] = HandoffQueue(1, drop_oldest=False)
    q.put(0)
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(q.put(1)))
    thread.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    q.close(discard=True)
    thread.join(2)
    assert answers == [False] and time.monotonic() - t0 < 0.4  # woken, not polled
    assert len(q) == 0 and q.get(timeout_s=0) is None and q.closed


def test_get_times_out_with_none_and_bad_maxlen_is_rejected() -> None:
    q: HandoffQueue[int] = HandoffQueue(1, drop_oldest=True)
    t0 = time.monotonic()
    assert q.get(timeout_s=0.05) is None and time.monotonic() - t0 >= 0.04
    with pytest.raises(ValueError, match="maxlen must be >= 1"):
        HandoffQueue(0, drop_oldest=True)


class _FileLike(FrameSource):
    """A finite source: ``n`` frames, then optionally an error; counts how far it was read."""

    def __init__(self, n: int, error: Exception | None = None) -> None:
        self.n, self.error, self.read_n = n, error, 0

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.read_n == self.n:
            if self.error is not None:
                raise self.error
            return None
        self.read_n += 1
        return make_frame(index=self.read_n - 1)


def test_prefetch_delivers_every_frame_in_order_to_a_slow_consumer() -> None:
    indices = []
    for frame in frames_of(_FileLike(40), threading.Event(), depth=2):
        time.sleep(0.002)  # slower than the reader: the queue is full, the reader waits
        indices.append(frame.index)
    assert indices == list(range(40))


def test_prefetch_reader_stays_at_most_depth_ahead_and_stops_with_the_consumer() -> None:
    source = _FileLike(10_000)
    frames = frames_of(source, threading.Event(), depth=3)
    assert next(frames).index == 0
    time.sleep(0.1)
    assert source.read_n <= 1 + 3 + 1  # one taken, three queued, one waiting in put
    t0 = time.monotonic()
    frames.close()  # the consumer leaves: the blocked reader wakes and ends
    assert time.monotonic() - t0 < 1.0
    assert not any(t.name == "decode-source" for t in threading.enumerate())


def test_prefetch_raises_the_source_error_after_the_frames_before_it() -> None:
    got = []
    with pytest.raises(OSError, match="disk gone"):
        for frame in frames_of(_FileLike(5, OSError("disk gone")), threading.Event()):
            got.append(frame.index)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_stops_when_asked() -> None:
    stop = threading.Event()
    got = []
    for frame in frames_of(_FileLike(100), stop):
        got.append(frame.index)
        if frame.index == 9:
            stop.set()
    assert got == list(range(10))
