"""Hand-off of each camera's latest frame to the live page, at (almost) no cost to counting.

The pipeline thread calls ``LiveSlot.offer(now_s, make_item)`` once per frame. Unless a viewer
asked for the camera in the last ``WATCH_S`` seconds (then up to ``watched_fps`` frames a second
are kept) or ``idle_every_s`` passed since the last kept frame, ``offer`` returns after one
comparison; ``make_item`` (which copies the image and the detections) runs only for a kept frame.
Drawing and JPEG encoding happen on the HTTP thread that asks (``latest_jpeg``), once per kept
frame whoever asks, so a camera nobody looks at costs one copy every ``idle_every_s``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["LiveHub", "LiveSlot", "WATCH_S"]

#: A viewer keeps a camera "watched" this long after its last request.
WATCH_S = 10.0
_JPEG_QUALITY = 80


@dataclass(frozen=True)
class LiveItem:
    """One kept frame, ready to draw: ``render()`` returns the (H, W, 3) uint8 BGR drawing."""

    index: int
    t_s: float
    render: Callable[[], Any]


class LiveSlot:
    """One camera's latest kept frame and its cached JPEG (thread-safe)."""

    def __init__(self, camera_id: str, *, idle_every_s: float = 5.0,
                 watched_fps: float = 5.0) -> None:  # fmt: skip
        self.camera_id = camera_id
        self.idle_every_s, self.min_gap_s = idle_every_s, 1.0 / watched_fps
        self._lock = threading.Lock()
        self._item: LiveItem | None = None
        self._jpeg: tuple[int, bytes] | None = None  # (index, bytes) of the last drawing
        self._last_kept_s = float("-inf")
        self._watched_until_s = float("-inf")
        self._new = threading.Condition(self._lock)
        self.kept = 0  # frames kept (for tests and /api/live)
        self.drawn = 0  # JPEGs drawn

    # --- pipeline thread ----------------------------------------------------------------------
    def offer(self, now_s: float, make_item: Callable[[], LiveItem]) -> bool:
        """Keep this frame when someone watches (rate-limited) or the idle period passed."""
        gap_s = self.min_gap_s if now_s < self._watched_until_s else self.idle_every_s
        if now_s - self._last_kept_s < gap_s:
            return False
        item = make_item()
        with self._new:
            self._item, self._last_kept_s = item, now_s
            self.kept += 1
            self._new.notify_all()
        return True

    # --- HTTP threads -------------------------------------------------------------------------
    def watch(self, now_s: float | None = None) -> None:
        """A viewer asked: keep frames at ``watched_fps`` for the next ``WATCH_S`` seconds."""
        now_s = time.monotonic() if now_s is None else now_s
        first = now_s >= self._watched_until_s
        self._watched_until_s = now_s + WATCH_S
        if first:
            self._last_kept_s = float("-inf")  # the next frame is kept at once

    @property
    def watched(self) -> bool:
        return time.monotonic() < self._watched_until_s

    def latest_jpeg(self) -> tuple[int, bytes] | None:
        """(frame index, JPEG) of the latest kept frame, drawn now if not drawn yet; None: none."""
        import cv2

        with self._lock:
            item, cached = self._item, self._jpeg
        if item is None:
            return None
        if cached is not None and cached[0] == item.index:
            return cached
        ok, jpeg = cv2.imencode(".jpg", item.render(), [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"camera {self.camera_id}: JPEG encoding failed")
        out = (item.index, jpeg.tobytes())
        with self._lock:
            self._jpeg = out
            self.drawn += 1
        return out

    def wait_newer(self, index: int | None, timeout_s: float) -> bool:
        """Block until a frame other than ``index`` is kept (True) or ``timeout_s`` (False)."""
        with self._new:
            return self._new.wait_for(
                lambda: self._item is not None and self._item.index != index, timeout_s
            )


class LiveHub:
    """Every camera's slot, made on first use (thread-safe)."""

    def __init__(self, *, idle_every_s: float = 5.0, watched_fps: float = 5.0) -> None:
        self.idle_every_s, self.watched_fps = idle_every_s, watched_fps
        self._slots: dict[str, LiveSlot] = {}
        self._lock = threading.Lock()

    def slot(self, camera_id: str) -> LiveSlot:
        with self._lock:
            slot = self._slots.get(camera_id)
            if slot is None:
                slot = self._slots[camera_id] = LiveSlot(
                    camera_id, idle_every_s=self.idle_every_s, watched_fps=self.watched_fps
                )
            return slot

    def get(self, camera_id: str) -> LiveSlot | None:
        with self._lock:
            return self._slots.get(camera_id)
