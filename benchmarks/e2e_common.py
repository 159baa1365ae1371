"""What both sides of the end-to-end comparison share (``bench_e2e``, ``bench_user``,
``headline``): the clip, model and settings, the hand count, the pass record and the call timer."""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from carbonedge.runtime.base.errors import ModelError, SourceOpenError

logger = logging.getLogger(__name__)

MODEL_FILE = "yolox_nano_416.onnx"
CLIP = Path("media") / "traffic" / "highway_cdnet_320x240.avi"
LINE_Y_PX = 150.0
VEHICLES = ("car", "bus", "truck", "motorcycle")
COCO_VEHICLE_IDS = (2, 5, 7, 3)  # car, bus, truck, motorcycle in COCO-80 order
SCORE_THRESHOLD = 0.3
INTRA_OP_THREADS = 2
PREFETCH_DEPTH = 4  # frames decoded ahead on both sides: runtime.prefetch.frames_of's depth
# ../shared/media/MEDIA.md, hand count at y = 150: frames at which each vehicle reaches the line
HAND_COUNT_FRAMES = (
    *(150, 285, 365, 428, 665, 770, 820, 870, 915, 1000, 1090, 1185, 1215, 1355, 1465, 1510, 1680),
    *(265, 790, 855, 890, 1055, 1110, 1405, 1525, 1640, 1655),
)


@dataclass(frozen=True)
class PassTimes:
    """One pass of one pipeline over the clip: wall time split by where it went."""

    frames: int
    total_s: float
    model_s: float  # inside session.run
    read_s: float  # inside the source's read (decode + frame wrapping)
    count: int  # crossings of the line, both directions
    reads_off_main: bool = False  # every source read ran on another thread (the prefetch thread)

    @property
    def fps(self) -> float:
        return self.frames / self.total_s if self.total_s > 0 else 0.0

    def per_frame_ms(self, seconds: float) -> float:
        return 1e3 * seconds / max(self.frames, 1)

    @property
    def non_model_s(self) -> float:
        return self.total_s - self.model_s


class CallTimer:
    """Accumulates the time spent in the callables it wraps: wall time by default, or the calling
    thread's CPU time with ``clock=time.thread_time`` (blind to a busy neighbour's preemption)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.seconds = 0.0
        self.clock = clock

    def wrap(self, fn: Callable) -> Callable:
        clock = self.clock

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += clock() - t0

        return timed


def shared_paths() -> tuple[Path, Path] | None:
    """(model, clip) from ``$CARBONEDGE_MODEL_DIR`` / ``$CARBONEDGE_SHARED_DIR`` (default
    ``../shared`` next to the repository), or None with a logged reason; in CI (``CI=true``)
    missing data is an error, as in the tests."""
    from carbonedge.vision.detectors.model_files import locate_model

    shared = Path(
        os.environ.get(
            "CARBONEDGE_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"
        )
    )
    try:
        model = locate_model(MODEL_FILE)
    except ModelError:
        model = shared / "models" / MODEL_FILE
    clip = shared / CLIP
    missing = [str(p) for p in (model, clip) if not p.is_file()]
    if not missing:
        return model, clip
    reason = f"bench_e2e skipped: {', '.join(missing)} not found (set CARBONEDGE_SHARED_DIR)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise SourceOpenError(f"{reason}; CI must run with the real data")
    logger.warning("%s", reason)
    return None


def truth_before(max_frames: int) -> int:
    """Hand-counted vehicles that reach the line within the first ``max_frames`` frames."""
    return sum(1 for f in HAND_COUNT_FRAMES if f < max_frames)
