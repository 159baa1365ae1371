"""What the live page shows of a running site: cameras, counts per line/class, health.

``LiveView(site)`` is read from the health server's threads: it only reads the site's live
objects (each camera's running result and the ``LiveHub`` slots) and copies the counts, so a
request never waits on a pipeline.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonedge.runtime.http_limits import is_loopback
from carbonedge.runtime.live.hub import LiveHub, LiveSlot

if TYPE_CHECKING:
    from carbonedge.runtime.site import Site

logger = logging.getLogger(__name__)

__all__ = ["LiveView", "live_token"]


def _copy_counts(counts: dict[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """A copy of line -> direction -> class -> n; the pipeline may add a key meanwhile."""
    for _ in range(5):
        try:
            return {line: {d: dict(c) for d, c in per.items()} for line, per in
                    list(counts.items())}  # fmt: skip
        except RuntimeError:  # "dictionary changed size during iteration": read it again
            continue
    return {}


def live_token(config: Any) -> str:
    """The page token: the calibration page's (same file, same rules: ``calibrate/web/auth``);
    without a ``calibration:`` section, ``web-token`` next to the store."""
    from carbonedge.runtime.calibrate.web.auth import load_or_create_token

    calibration = getattr(config, "calibration", None)
    if calibration is not None:
        return load_or_create_token(calibration.token_file, Path(calibration.records_dir))
    return load_or_create_token(None, Path(config.output.sqlite_path).parent)


def _fps(result: Any, started_s: float) -> float | None:
    """Frames per second so far (the result's own figure once the run ended)."""
    if result is None:
        return None
    if result.elapsed_s > 0:
        return round(result.fps, 1)
    running_s = time.monotonic() - started_s
    return round(result.frames / running_s, 1) if running_s > 0 else None


class LiveView:
    """The live page's window on ``site`` (``Site``); ``token`` is None on loopback."""

    def __init__(self, site: Site, hub: LiveHub, *, host: str) -> None:
        self.site, self.hub = site, hub
        self.token = None if is_loopback(host) else live_token(site.config)

    def camera_ids(self) -> list[str]:
        return list(self.site.runners())

    def slot(self, camera_id: str) -> LiveSlot | None:
        return self.hub.slot(camera_id) if camera_id in self.site.runners() else None

    def status(self) -> dict[str, Any]:
        """JSON for ``/api/live``: device, health, and per camera its counts and figures."""
        health = self.site.health()
        cameras = {}
        for camera_id, runner in self.site.runners().items():
            pipeline = runner.pipeline
            result = pipeline.result if pipeline is not None else None
            camera = self.site.cameras[camera_id]
            source = health.get("sources", {}).get(camera_id, {})
            slot = self.hub.get(camera_id)
            cameras[camera_id] = {
                "state": source.get("state", "starting"),
                "frames": result.frames if result else 0,
                "fps": _fps(result, runner.started_s),
                "crossings": result.crossings if result else 0,
                "lines": [line.id for line in camera.lines],
                "counts": _copy_counts(result.line_counts) if result else {},
                "annotate_dropped": result.annotate_dropped if result else 0,
                "live_frames": slot.kept if slot else 0,
            }
        return {
            "device_id": self.site.config.device_id,
            "status": health.get("status"),
            "reasons": health.get("reasons", []),
            "cameras": cameras,
        }
