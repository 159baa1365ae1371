"""Per-device health: state, last-seen times and error counters of one source or sensor.

Every live source and sensor driver owns one ``DeviceHealth`` and updates it from its worker
thread; the runtime's health endpoint and summaries read ``snapshot()`` (a JSON-ready dict) from
any thread. The record has a fixed size (a few counters, the last error), so a box that runs for
months keeps one per device and nothing grows.

States:
  connecting  opening the device or reconnecting after a failure (backoff running)
  streaming   frames or readings arrive and look healthy
  stalled     connected, but nothing arrived for ``stall_after_s``
  frozen      frames keep arriving but no longer change, or are black/uniform (camera blind)
  calibrating readings arrive during a zero/span (test gas on the sensor: data flagged C)
  failed      given up for good (configuration or a permanent error); the device stops alone
  closed      stopped by the caller
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)


class DeviceState(str, enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    FROZEN = "frozen"
    CALIBRATING = "calibrating"
    FAILED = "failed"
    CLOSED = "closed"


class DeviceHealth:
    """Thread-safe health record of one device.

    Args:
        device_id: the source or sensor id from the config.
        kind: "source" or "sensor" (for reports).
        stall_after_s: silence after which a streaming device reads as ``stalled``; the stall is
            derived when the state is read, so a worker blocked in a read still reports it.
    """

    def __init__(self, device_id: str, kind: str, stall_after_s: float) -> None:
        self.device_id, self.kind, self.stall_after_s = device_id, kind, stall_after_s
        self._lock = threading.Lock()
        self._state = DeviceState.CONNECTING
        self._detail = ""
        self._since_mono_s = time.monotonic()
        self._last_seen_mono_s: float | None = None
        self._last_seen_wall_s: float | None = None
        self._counters: dict[str, int] = {}
        self._last_error = ""
        self._reported_stall = False

    # -- updates (worker thread) ------------------------------------------------------------

    def set_state(self, state: DeviceState, detail: str = "") -> None:
        """Enter ``state`` (logged once per change); ``detail`` says why (no credentials)."""
        with self._lock:
            changed = state != self._state or detail != self._detail
            if state != self._state:
                self._since_mono_s = time.monotonic()
            self._state, self._detail = state, detail
            self._reported_stall = False
        if changed:
            quiet = (DeviceState.CONNECTING, DeviceState.STREAMING, DeviceState.CLOSED)
            level = logging.INFO if state in quiet else logging.WARNING
            logger.log(level, "%s %s: %s%s", self.kind, self.device_id, state.value,
                       f" ({detail})" if detail else "")  # fmt: skip

    def seen(self, t_mono_s: float | None = None, t_wall_s: float | None = None) -> None:
        """A frame or reading arrived (stamps default to now)."""
        with self._lock:
            self._last_seen_mono_s = time.monotonic() if t_mono_s is None else t_mono_s
            self._last_seen_wall_s = time.time() if t_wall_s is None else t_wall_s

    def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to ``counter`` (frames, dropped_frames, reconnects, checksum_errors, ...)."""
        with self._lock:
            self._counters[counter] = self._counters.get(counter, 0) + n

    def error(self, message: str, counter: str = "errors") -> None:
        """Count an error and keep its message (already free of credentials) as the last error."""
        with self._lock:
            self._counters[counter] = self._counters.get(counter, 0) + 1
            self._last_error = message

    # -- reads (any thread) -----------------------------------------------------------------

    @property
    def state(self) -> DeviceState:
        """The current state; ``streaming``/``frozen`` read as ``stalled`` after a silence."""
        with self._lock:
            state, last = self._state, self._last_seen_mono_s
            live = state in (DeviceState.STREAMING, DeviceState.FROZEN, DeviceState.CALIBRATING)
            stalled = live and last is not None and time.monotonic() - last > self.stall_after_s
            report = stalled and not self._reported_stall
            if report:
                self._reported_stall = True
        if report:
            logger.warning("%s %s: stalled (nothing for %.1f s)", self.kind, self.device_id,
                           time.monotonic() - last)  # fmt: skip
        return DeviceState.STALLED if stalled else state

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counters.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready dict: id, kind, state, detail, seconds in state, last-seen, counters."""
        state = self.state
        now_mono, now_wall = time.monotonic(), time.time()
        with self._lock:
            last_mono, last_wall = self._last_seen_mono_s, self._last_seen_wall_s
            return {
                "device_id": self.device_id,
                "kind": self.kind,
                "state": state.value,
                "detail": self._detail,
                "in_state_s": round(now_mono - self._since_mono_s, 3),
                "last_seen_wall_s": last_wall,
                "last_seen_age_s": None if last_mono is None else round(now_mono - last_mono, 3),
                "counters": dict(self._counters),
                "last_error": self._last_error,
                "now_wall_s": now_wall,
            }
