"""Decode ahead on a thread: a file's frames are read while the previous frame is analysed.

Live sources (``LiveSource``) already decode on their own thread and keep only the latest frames;
a file or the synthetic scene is read here, into a bounded queue that blocks when full, so no frame
is ever dropped and decoding overlaps inference (OpenCV's decoder and ONNX Runtime both release
the GIL, so the two cores are both busy).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from carbonedge.devices.sources.base import FrameSource
from carbonedge.runtime.base.handoff import HandoffQueue
from carbonedge.runtime.base.types import Frame

__all__ = ["frames_of"]


def frames_of(source: FrameSource, stop: threading.Event, *, depth: int = 4) -> Iterator[Frame]:
    """The source's frames in order; decoded on a helper thread unless the source is live."""
    from carbonedge.devices.sources.live import LiveSource

    if isinstance(source, LiveSource):
        yield from _until_stopped(source, stop)
        return
    # blocking mode: a full queue makes the reader wait, no frame is dropped
    q: HandoffQueue[Frame | BaseException] = HandoffQueue(depth, drop_oldest=False)

    def reader() -> None:
        try:
            for frame in source:
                if not q.put(frame):  # closed: the consumer has gone
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            q.put(exc)
        finally:
            q.close()  # the end: the consumer drains what is left, then gets None

    thread = threading.Thread(target=reader, name=f"decode-{source.source_id}", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            if stop.is_set():
                return
            yield item
    finally:
        q.close(discard=True)  # a reader blocked in put() wakes up and returns
        thread.join(timeout=5.0)


def _until_stopped(source: FrameSource, stop: threading.Event) -> Iterator[Frame]:
    for frame in source:
        if stop.is_set():
            return
        yield frame
