"""Progress of long jobs on stderr: frames done of the total, frames per second and time left.

Two users:

- ``Progress(site)`` for ``carbonedge run``: per source, frames done of the frames the file
  announces (or just frames for a live camera), percent, FPS and ETA; drawn only when stderr is a
  terminal (a service, a pipe or CI keeps clean logs).
- ``JobProgress(label)`` for the batch commands (``demo --video``, ``count``, ``audit``,
  ``quantize``): the video files open in this process right now (``video_file.open_files()``)
  with frames read of the frames announced, plus the job's current phase (``phase("quantizing")``)
  and the time spent. On a terminal one line is redrawn twice a second; otherwise a plain line is
  written every ``every_s`` (``$CARBONEDGE_PROGRESS_EVERY_S``, default 5 s), so a log shows the
  job is alive.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from carbonedge.runtime.site import Site

__all__ = ["JobProgress", "Progress", "format_task", "progress_every_s"]

#: Environment variable: seconds between two plain progress lines (not on a terminal).
EVERY_ENV = "CARBONEDGE_PROGRESS_EVERY_S"
PLAIN_EVERY_S = 5.0
TTY_EVERY_S = 0.5


def progress_every_s(default_s: float = PLAIN_EVERY_S) -> float:
    """``$CARBONEDGE_PROGRESS_EVERY_S`` when set to a positive number, else ``default_s``."""
    try:
        value = float(os.environ.get(EVERY_ENV, ""))
    except ValueError:
        return default_s
    return value if value > 0 else default_s


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def format_task(name: str, done: int, total: int, elapsed_s: float, bar: bool = True) -> str:
    """``name [#####     ] 850/1700  50% 120 FPS ETA 0:07`` (no total: ``name 850 frames``)."""
    fps = done / elapsed_s if elapsed_s > 0 else 0.0
    if total <= 0:
        return f"{name} {done} frames {fps:.0f} FPS"
    share = min(done / total, 1.0)
    eta = f" ETA {_clock((total - done) / fps)}" if fps > 0 and done < total else ""
    drawn = f" [{'#' * int(share * 20):<20}]" if bar else ""
    return f"{name}{drawn} {done}/{total} {share:4.0%} {fps:.0f} FPS{eta}"


class _Ticker:
    """Calls ``self.line()`` from a daemon thread and writes it until ``stop()``."""

    def __init__(self, stream: TextIO | None, every_s: float | None, tty_only: bool) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.tty_only = tty_only
        self.every_s = every_s or (TTY_EVERY_S if self.tty else progress_every_s())
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    def line(self) -> str:
        raise NotImplementedError

    def elapsed_s(self) -> float:
        return max(time.monotonic() - self._t0, 1e-9)

    def start(self):  # -> Self
        if self.tty_only and not self.tty:
            return self
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()
        return self

    def _write(self, text: str) -> None:
        try:
            if self.tty:
                self.stream.write("\r\x1b[K" + text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: progress is not worth a failure
            self._done.set()

    def _run(self) -> None:
        while not self._done.wait(self.every_s):
            text = self.line()
            if text:
                self._write(text)

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self.tty:
                self._write("")

    def __enter__(self):  # -> Self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Progress(_Ticker):
    """``carbonedge run``: the site's sources, on a terminal only."""

    def __init__(self, site: Site, stream: TextIO | None = None, every_s: float = 0.5) -> None:
        super().__init__(stream, every_s, tty_only=True)
        self.site = site

    def line(self) -> str:
        parts = []
        for source_id, runner in self.site.runners().items():
            pipeline = runner.pipeline
            if pipeline is None:
                parts.append(f"{source_id}: starting")
                continue
            done = pipeline.result.frames + pipeline.result.frame_errors
            total = getattr(pipeline.source, "frame_count", 0) or 0
            started = getattr(runner, "started_s", None) or self._t0
            parts.append(format_task(source_id, done, total, time.monotonic() - started))
        return "  ".join(parts)


class JobProgress(_Ticker):
    """A batch job: its phase, the video files it has open, the time spent (module docstring)."""

    def __init__(self, label: str, stream: TextIO | None = None,
                 every_s: float | None = None) -> None:  # fmt: skip
        super().__init__(stream, every_s, tty_only=False)
        self.label = label
        self._phase = ""
        self._phase_t0 = self._t0

    def phase(self, text: str) -> None:
        """What the job does now (``"clip 3 of 12: x.mp4"``, ``"quantizing the model"``)."""
        self._phase, self._phase_t0 = text, time.monotonic()

    def line(self) -> str:
        from carbonedge.devices.sources.video_file import open_files

        now = time.monotonic()
        parts = [f"{self.label}:"]
        if self._phase:
            parts.append(f"{self._phase} ({_clock(now - self._phase_t0)})")
        for source in open_files():
            done, total = source.progress()
            started = source.opened_s or now
            parts.append(format_task(source.config.path.name, done, total, now - started,
                                     bar=self.tty))  # fmt: skip
        parts.append(f"[{_clock(now - self._t0)} elapsed]")
        return " ".join(parts)
