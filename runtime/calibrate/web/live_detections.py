"""Live detections for the calibration page: the camera's own detector on its current frames.

The page polls ``GET /api/detections`` (about once a second while "Live detections" is on) and
draws the boxes over the snapshot, so a technician sees whether a drawn line cuts where the
vehicles really pass. The source and the detector (the camera's ``detector:`` from the site
config, the same one a run uses) open on the first request and stay open; each request reads
the next frames (at most ``MAX_FRAMES_PER_CALL`` or ``BUDGET_S`` of reading; more on the first,
so a motion detector learns its background) and returns the last frame's detections.
A source that ends starts again from its beginning (a file); one that fails is reopened on the
next request. ``close`` releases both.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from carbonedge.runtime.base.errors import CarbonEdgeError, DeviceError

logger = logging.getLogger(__name__)

__all__ = ["LiveDetections"]

MAX_FRAMES_PER_CALL = 8
FIRST_CALL_FRAMES = 45  # a motion detector's warm-up (30 frames by default) and a few more
BUDGET_S = 0.5


class LiveDetections:
    """The camera's detector on its live frames, one request at a time (thread-safe)."""

    def __init__(self, source_config: Any, detector_config: Any) -> None:
        self.source_config, self.detector_config = source_config, detector_config
        self._lock = threading.Lock()
        self._source: Any = None
        self._detector: Any = None
        self.frames_read = 0

    def latest(self) -> dict[str, Any]:
        """``{"frame_index", "boxes": [{"xyxy", "class_name", "confidence"}], "frames_read"}``."""
        with self._lock:
            first = self._source is None
            if first:
                self._open()
            frame, detections = None, None
            limit = FIRST_CALL_FRAMES if first else MAX_FRAMES_PER_CALL
            deadline = time.monotonic() + (BUDGET_S if not first else 10 * BUDGET_S)
            try:
                for _ in range(limit):
                    got = self._read()
                    if got is None:
                        break
                    frame = got
                    detections = self._detector.detect(frame)
                    if time.monotonic() > deadline:
                        break
            except Exception:
                self._close_source()  # opened again on the next request
                raise
            if frame is None or detections is None:
                raise DeviceError(f"source {self.source_config.id!r}: no frame for detections")
            names = self._detector.class_names
            boxes = [
                {"xyxy": [round(float(v), 1) for v in detections.xyxy[i]],
                 "class_name": names[c] if 0 <= (c := int(detections.class_id[i])) < len(names)
                 else f"class_{c}",
                 "confidence": round(float(detections.confidence[i]), 3)}
                for i in range(len(detections))
            ]  # fmt: skip
            return {"frame_index": frame.index, "boxes": boxes, "frames_read": self.frames_read}

    def _open(self) -> None:
        from carbonedge.devices.sources.base import create_source
        from carbonedge.vision.detectors import create_detector

        if self._detector is None:
            self._detector = create_detector(self.detector_config)
            self._detector.warmup()
        source = create_source(self.source_config)
        try:
            source.open()
        except CarbonEdgeError:
            raise
        except Exception as exc:  # a plugin's foreign error: name the source
            raise DeviceError(f"source {self.source_config.id!r}: cannot open ({exc})") from exc
        self._source = source

    def _read(self) -> Any:
        frame = self._source.read()
        if frame is None:  # a file ended (or a camera dropped): start again on the next request
            self._close_source()
            self._open()
            frame = self._source.read()
        if frame is not None:
            self.frames_read += 1
        return frame

    def _close_source(self) -> None:
        if self._source is not None:
            try:
                self._source.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                logger.debug("closing %s: %s", self.source_config.id, exc)
        self._source = None

    def close(self) -> None:
        with self._lock:
            self._close_source()
            if self._detector is not None:
                self._detector.close()
                self._detector = None
