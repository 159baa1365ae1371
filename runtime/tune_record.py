"""``carbonedge tune --minutes N``: N minutes of a camera's own source recorded to a file first.

A live camera gives N real minutes; a file source gives its first N minutes of media time. The
frames go into an MJPG AVI (quality 95) in a temporary folder, which the reference and every
candidate then read alike.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["record_minutes"]


def record_minutes(source_config: Any, minutes: float, out: Path) -> Path:
    """Write ``minutes`` of the source ``source_config`` describes to ``out`` (an .avi)."""
    import cv2

    from carbonedge.devices.sources import create_source
    from carbonedge.runtime.prefetch import frames_of

    if minutes <= 0:
        raise ConfigError(f"--minutes must be > 0, got {minutes:g}")
    writer = None
    frames, t0 = 0, None
    try:
        with create_source(source_config) as source:
            for frame in frames_of(source, threading.Event()):
                t0 = frame.t_mono_s if t0 is None else t0
                if frame.t_mono_s - t0 >= minutes * 60.0:
                    break
                if writer is None:
                    h, w = frame.shape_hw
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"),
                                             source.fps, (w, h))  # fmt: skip
                    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
                writer.write(frame.image)
                frames += 1
    finally:
        if writer is not None:
            writer.release()
    if frames == 0:
        raise ConfigError(f"camera {source_config.id}: no frames from its source to tune on")
    logger.info("recorded %d frames (%.1f min) of %s to %s", frames, minutes, source_config.id,
                out)  # fmt: skip
    return out
