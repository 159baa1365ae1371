"""The bounded hand-off queue between a producer thread and its consumer.

Each live source and sensor decodes on its own thread and hands items over through a
``HandoffQueue``: live devices keep the newest items and count what they drop (a slow consumer
must see the present, not a growing past); finite ones (files, folders, the decode-ahead of
``runtime.prefetch``) block the producer instead, so nothing is lost. Either side can close it:
the producer at its end (the consumer drains what is left, then gets None), the consumer when it
leaves (``discard=True``: a blocked producer wakes up and its ``put`` answers False).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["HandoffQueue"]

T = TypeVar("T")


class HandoffQueue(Generic[T]):
    """A bounded producer/consumer queue that can be closed from either side.

    Args:
        maxlen: items kept at most.
        drop_oldest: when full, ``put`` drops the oldest item (counted in ``dropped``) if True, or
            waits for room (blocking mode: nothing is dropped) if False.
    """

    def __init__(self, maxlen: int, *, drop_oldest: bool) -> None:
        if maxlen < 1:
            raise ValueError(f"HandoffQueue maxlen must be >= 1, got {maxlen}")
        self.maxlen, self.drop_oldest = maxlen, drop_oldest
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False  # no more items will come (end, failure, close)
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Add ``item``; False if the queue was closed (the item is discarded)."""
        with self._cond:
            while not self.drop_oldest and len(self._items) >= self.maxlen and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return False
            if len(self._items) >= self.maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout_s: float | None = None) -> T | None:
        """Oldest item; None once closed and empty, or after ``timeout_s`` without one."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout_s):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self, *, discard: bool = False) -> None:
        """No more items: readers get what is left (unless ``discard``), then None."""
        with self._cond:
            self._closed = True
            if discard:
                self._items.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)
