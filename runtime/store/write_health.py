"""Whether the store can be written: failures per kind, since when, the last error.

One ``WriteHealth`` per ``Store`` (``write_health(store)``), shared by every ``QueuedWriter`` of
that store (each camera's pipeline, each sensor), read by ``/healthz`` and ``/metrics``. A failure
streak starts at the first failed write and ends at the next write that works; thread-safe.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

__all__ = ["WriteHealth", "write_health"]


class WriteHealth:
    """Failed store writes (counted per kind) and the current failure streak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures_total: dict[str, int] = {}
        self.failing_since_mono_s: float | None = None
        self.last_error: str | None = None

    def failed(self, kind: str, error: str) -> None:
        with self._lock:
            self.failures_total[kind] = self.failures_total.get(kind, 0) + 1
            if self.failing_since_mono_s is None:
                self.failing_since_mono_s = time.monotonic()
            self.last_error = error

    def succeeded(self) -> None:
        with self._lock:
            self.failing_since_mono_s = None

    def snapshot(self) -> dict[str, Any]:
        """``{"failing": bool, "failing_for_s": float | None, "last_error": str | None,
        "failures_total": {kind: n}}``."""
        with self._lock:
            since = self.failing_since_mono_s
            return {
                "failing": since is not None,
                "failing_for_s": None if since is None else round(time.monotonic() - since, 1),
                "last_error": self.last_error,
                "failures_total": dict(self.failures_total),
            }


_BY_STORE: weakref.WeakKeyDictionary[Any, WriteHealth] = weakref.WeakKeyDictionary()
_BY_STORE_LOCK = threading.Lock()


def write_health(store: Any) -> WriteHealth:
    """The ``WriteHealth`` of ``store`` (created on first use; forgotten with the store)."""
    with _BY_STORE_LOCK:
        health = _BY_STORE.get(store)
        if health is None:
            health = _BY_STORE[store] = WriteHealth()
        return health
