"""Building blocks shared by every live device worker: capped backoff and a bounded hand-off queue.

Each live source and sensor decodes on its own thread and hands items to the consumer through a
``HandoffQueue``: live devices keep the newest items and count what they drop (a slow consumer
must see the present, not a growing past); finite ones (files, folders) block the producer
instead, so nothing is lost. ``Backoff`` spaces reconnect attempts: exponential, capped, with
jitter so that many boxes restarting after a shared outage do not reconnect in step (ETSI EN 303
645 provision 5.9-3).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Backoff:
    """Delays ``initial_s, 2*initial_s, ...`` capped at ``max_s``, each drawn in [d/2, d]."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s, self.max_s = initial_s, max(initial_s, max_s)
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        delay_s = min(self.max_s, self.initial_s * 2.0 ** min(self._attempt, 30))
        self._attempt += 1
        return self._rng.uniform(delay_s / 2.0, delay_s)

    def reset(self) -> None:
        """After a success: the next failure starts again at ``initial_s``."""
        self._attempt = 0


class HandoffQueue(Generic[T]):
    """A bounded producer/consumer queue that can be closed from either side.

    Args:
        maxlen: items kept at most.
        drop_oldest: when full, ``put`` drops the oldest item (counted in ``dropped``) if True, or
            waits for room if False.
    """

    def __init__(self, maxlen: int, *, drop_oldest: bool) -> None:
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
