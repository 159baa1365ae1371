"""A one-line progress display for ``carbonedge run`` on files, when stderr is a terminal.

Every half second: per source, frames done of the frames the file announces (or just frames for a
live camera), percent and frames per second. Nothing is printed when stderr is not a terminal
(a service, a pipe, CI), so logs stay clean.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from carbonedge.runtime.site import Site

__all__ = ["Progress"]


class Progress:
    """Draws the site's progress on ``stream`` from a daemon thread until ``stop()``."""

    def __init__(self, site: Site, stream: TextIO | None = None, every_s: float = 0.5) -> None:
        self.site = site
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    def line(self) -> str:
        parts = []
        elapsed_s = max(time.monotonic() - self._t0, 1e-9)
        for source_id, runner in self.site.runners().items():
            pipeline = runner.pipeline
            if pipeline is None:
                parts.append(f"{source_id}: starting")
                continue
            frames = pipeline.result.frames
            total = getattr(pipeline.source, "frame_count", 0) or 0
            fps = frames / elapsed_s
            if total > 0:
                share = min(frames / total, 1.0)
                bar = "#" * int(share * 20)
                parts.append(f"{source_id} [{bar:<20}] {frames}/{total} {share:4.0%} {fps:.0f} FPS")
            else:
                parts.append(f"{source_id}: {frames} frames {fps:.0f} FPS")
        return "  ".join(parts)

    def start(self) -> Progress:
        if not self.stream.isatty():
            return self
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.every_s):
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()
