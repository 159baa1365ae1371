"""Base of every threaded source: decode thread, reconnects, state, freeze detection, close.

A subclass says how to connect, grab one image and release; ``LiveSource`` does the rest:
  - one decode thread per source hands frames over through a bounded ``HandoffQueue`` (live
    streams keep the newest ``queue_frames`` and count drops; finite ones block, nothing lost);
  - frames are stamped with the monotonic and the wall clock when they are grabbed, and indexed
    without a reset across reconnects;
  - a failed connect or a broken stream reconnects with capped exponential backoff, for ever
    unless ``give_up_after_s`` is set (a camera may come back after hours);
  - ``health`` (``DeviceHealth``) tracks connecting / streaming / stalled / frozen / failed /
    closed, last-seen and counters (frames, dropped_frames, reconnects, decode_errors, errors);
  - ``close()`` returns within ``close_timeout_s`` even when the thread is blocked in a stalled
    read: the thread is told to stop, releases its device itself when the read returns, and is a
    daemon, so it never keeps the process alive.
Every message about the device goes through ``redact`` (no credentials in logs or errors).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.devices.health import DeviceHealth, DeviceState
from carbonedge.devices.redact import redact
from carbonedge.devices.sources.base import FrameSource, SourceConfig
from carbonedge.devices.sources.freeze import FreezeDetector, FreezeSettings
from carbonedge.runtime.base.backoff import Backoff
from carbonedge.runtime.base.errors import DeviceError, SourceOpenError
from carbonedge.runtime.base.handoff import HandoffQueue
from carbonedge.runtime.base.model import BackoffInitialS, BackoffMaxS
from carbonedge.runtime.base.types import Frame

logger = logging.getLogger(__name__)

_FALLBACK_FPS = 25.0


class PermanentSourceError(SourceOpenError):
    """A source that cannot work with this configuration or build; retrying is pointless."""


class EndOfStream(Exception):
    """Raised by ``LiveSource._grab`` when a finite source has no more frames."""


class Grabbed(NamedTuple):
    """One grabbed image and the times it was taken (monotonic and wall clock, seconds)."""

    image: NDArray[np.uint8]
    t_mono_s: float
    t_wall_s: float

    @classmethod
    def now(cls, image: NDArray[np.uint8]) -> Grabbed:
        return cls(image, time.monotonic(), time.time())


class LiveSourceConfig(SourceConfig):
    """Settings every threaded source shares (subclasses add ``type`` and the device fields)."""

    fps: float | None = Field(None, gt=0, le=1000, description="override the device's frame rate")
    queue_frames: int = Field(4, ge=1, le=256, description="frames buffered for the consumer")
    first_frame_timeout_s: float = Field(
        10.0, ge=0, le=300, description="open() waits this long for a first frame (its fps)"
    )
    stall_after_s: float = Field(5.0, gt=0, le=3600, description="no frame this long: stalled")
    backoff_initial_s: BackoffInitialS = 0.5
    backoff_max_s: BackoffMaxS = 30.0
    give_up_after_s: float | None = Field(
        None, gt=0, description="failing this long: failed for good (default: retry for ever)"
    )
    freeze_after_s: float = Field(10.0, gt=0, le=86400, description="unchanged/blind this long")
    freeze_change_threshold: float = Field(
        0.3, ge=0, le=255, description="mean absolute grey difference that counts as a change"
    )
    close_timeout_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how long closing waits for the reader thread to stop",
    )


class LiveSource(FrameSource):
    """A ``FrameSource`` whose frames come from a decode thread (see the module docstring)."""

    #: finite sources (folders) set this False: the producer waits, no frame is dropped
    drop_oldest: bool = True

    def __init__(self, config: LiveSourceConfig) -> None:
        self.config = config
        self.source_id = config.id
        self.fps = config.fps or _FALLBACK_FPS
        self.decode_errors = 0
        self.health = DeviceHealth(config.id, "source", config.stall_after_s)
        self._freeze = FreezeDetector(
            FreezeSettings(after_s=config.freeze_after_s,
                           change_threshold=config.freeze_change_threshold)
        )  # fmt: skip
        self._queue: HandoffQueue[Frame] = HandoffQueue(
            config.queue_frames, drop_oldest=self.drop_oldest
        )
        self._stop = threading.Event()
        self._first_frame = threading.Event()
        self._thread: threading.Thread | None = None
        self._index = 0
        self._delivered_since_connect = False
        self._frozen = False

    # -- subclass hooks ---------------------------------------------------------------------

    @abstractmethod
    def describe(self) -> str:
        """Where the frames come from, for messages (credentials removed)."""

    @abstractmethod
    def _connect(self) -> Any:
        """Open the device and return a handle; raise ``DeviceError`` (message without
        credentials) to retry later, ``PermanentSourceError`` to fail for good. May set
        ``self.fps`` when the config gives none."""

    @abstractmethod
    def _grab(self, handle: Any) -> Grabbed | None:
        """Next image, None when the stream broke (reconnect), ``EndOfStream`` at a finite end."""

    def _release(self, handle: Any) -> None:
        """Close the handle (called on the decode thread)."""

    # -- FrameSource ------------------------------------------------------------------------

    @property
    def state(self) -> DeviceState:
        return self.health.state

    @property
    def dropped_frames(self) -> int:
        return self._queue.dropped

    def open(self) -> None:
        """Start the decode thread; wait up to ``first_frame_timeout_s`` for a first frame.

        Raises ``SourceOpenError`` only when the source failed for good (bad configuration, a
        missing backend); a device that is merely unreachable keeps being retried in the
        background, and ``read()`` blocks until it delivers.
        """
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"source-{self.source_id}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.config.first_frame_timeout_s
        while time.monotonic() < deadline and not self._first_frame.is_set():
            if self.health.state == DeviceState.FAILED:
                break
            self._first_frame.wait(0.05)
        if self.health.state == DeviceState.FAILED and not self._first_frame.is_set():
            raise SourceOpenError(
                f"source {self.source_id!r}: {self.describe()}: {self.health.snapshot()['detail']}"
            )
        if not self._first_frame.is_set():
            logger.warning(
                "source %s: no frame from %s after %.1f s; still trying in the background "
                "(fps %.1f assumed until then)", self.source_id, self.describe(),
                self.config.first_frame_timeout_s, self.fps,
            )  # fmt: skip

    def read(self) -> Frame | None:
        """Next frame (blocks until one arrives); None once closed, failed or at a finite end."""
        if self._thread is None:
            raise SourceOpenError(f"source {self.source_id!r}: read() before open()")
        return self._queue.get()

    def close(self) -> None:
        """Stop the decode thread; returns within ``close_timeout_s`` even if it is blocked."""
        self._stop.set()
        self._queue.close(discard=True)
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(self.config.close_timeout_s)
            if thread.is_alive():
                logger.warning(
                    "source %s: decode thread still blocked in a read of %s; it exits when the "
                    "read returns (daemon thread)", self.source_id, self.describe(),
                )  # fmt: skip
        if self.health.state != DeviceState.FAILED:
            self.health.set_state(DeviceState.CLOSED)

    # -- decode thread ----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s, jitter="equal")
        failing_since, failures = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                self.health.set_state(DeviceState.CONNECTING, self.describe())
                try:
                    handle = self._connect()
                except PermanentSourceError as exc:
                    self._fail(redact(str(exc)))
                    return
                except Exception as exc:  # noqa: BLE001 - any connect failure is retried
                    failures += 1
                    self.health.error(redact(_message(exc)), "connect_errors")
                    # the first failure of a streak and every 20th are warnings: no log flood
                    level = logging.WARNING if failures % 20 == 1 else logging.DEBUG
                    logger.log(level, "source %s: cannot connect (attempt %d): %s",
                               self.source_id, failures, redact(_message(exc)))  # fmt: skip
                else:
                    try:
                        if self._stream(handle):
                            return  # finite end
                    finally:
                        self._release_quietly(handle)
                    if self._delivered_since_connect:
                        backoff.reset()
                        failing_since, failures = time.monotonic(), 0
                if self._stop.is_set():
                    return
                if self._gave_up(failing_since):
                    return
                self.health.count("reconnects")
                self._stop.wait(backoff.next_delay_s())
        finally:
            self._queue.close()

    def _stream(self, handle: Any) -> bool:
        """Grab until the stream breaks (False) or a finite source ends (True)."""
        self._freeze.reset()
        self._delivered_since_connect = self._frozen = False
        while not self._stop.is_set():
            try:
                grabbed = self._grab(handle)
            except EndOfStream:
                self.health.set_state(DeviceState.CLOSED, "end of stream")
                return True
            except Exception as exc:  # noqa: BLE001 - a broken read reconnects
                self.health.error(redact(_message(exc)), "read_errors")
                logger.warning("source %s: read failed: %s", self.source_id, redact(_message(exc)))
                return False
            if grabbed is None:
                self.health.error(f"{self.describe()}: stream ended or timed out", "read_errors")
                logger.warning("source %s: %s stopped delivering; reconnecting", self.source_id,
                               self.describe())  # fmt: skip
                return False
            image = grabbed.image
            if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
                    and image.size > 0):  # fmt: skip
                self.decode_errors += 1
                self.health.count("decode_errors")
                continue
            self._deliver(grabbed)
        return False

    def _deliver(self, grabbed: Grabbed) -> None:
        frame = Frame(self.source_id, self._index, grabbed.t_mono_s, grabbed.t_wall_s,
                      np.ascontiguousarray(grabbed.image), self.fps)  # fmt: skip
        self._index += 1
        self.health.seen(grabbed.t_mono_s, grabbed.t_wall_s)
        self.health.count("frames")
        dropped_before = self._queue.dropped
        self._queue.put(frame)
        if self._queue.dropped > dropped_before:
            self.health.count("dropped_frames", self._queue.dropped - dropped_before)
        verdict = self._freeze.update(grabbed.image, grabbed.t_mono_s)
        if not self._delivered_since_connect or bool(verdict) != self._frozen:
            self._frozen = bool(verdict)
            if self._frozen:
                self.health.count("freezes")
            self.health.set_state(DeviceState.FROZEN if verdict else DeviceState.STREAMING,
                                  verdict)  # fmt: skip
        self._delivered_since_connect = True
        self._first_frame.set()

    def _gave_up(self, failing_since: float) -> bool:
        limit = self.config.give_up_after_s
        if limit is not None and time.monotonic() - failing_since >= limit:
            self._fail(f"no frames for {limit:g} s (give_up_after_s); last error: "
                       f"{self.health.snapshot()['last_error']}")  # fmt: skip
            return True
        return False

    def _fail(self, reason: str) -> None:
        self.health.error(reason, "errors")
        self.health.set_state(DeviceState.FAILED, reason)
        logger.error("source %s: failed for good: %s", self.source_id, reason)

    def _release_quietly(self, handle: Any) -> None:
        try:
            self._release(handle)
        except Exception as exc:  # noqa: BLE001 - releasing a broken device must not kill the thread
            logger.debug("source %s: release failed: %s", self.source_id, redact(_message(exc)))


def _message(exc: BaseException) -> str:
    """``DeviceError`` messages as they are; foreign exceptions with their type name."""
    return str(exc) if isinstance(exc, DeviceError) else f"{type(exc).__name__}: {exc}"
