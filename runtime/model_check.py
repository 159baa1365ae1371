"""What a model change trades: the line count on a clip and the detections, before vs after.

Used by ``carbonedge quantize --check`` and ``benchmarks/bench_model.py``: each detector runs the
per-source pipeline of ``carbonedge run`` (video file source, ByteTrack, one horizontal counting
line) over the same clip, and the speed of two models is timed interleaved in the same run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.types import Detections
from carbonedge.vision.detectors.base import Detector


@dataclass(frozen=True)
class ClipCount:
    """One pass over a clip: frames, crossings of the line (both directions), detections."""

    frames: int
    count: int
    detections: int
    model_s: float  # wall time inside detector.detect

    @property
    def model_ms(self) -> float:
        return 1e3 * self.model_s / max(self.frames, 1)


def count_on_clip(
    detector: Detector, clip: Path, line_y_px: float, *, max_frames: int | None = None
) -> ClipCount:
    """Run ``detector`` + ByteTrack + a full-width line at ``line_y_px`` over ``clip``."""
    from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
    from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
    from carbonedge.vision.counting.line import LineConfig
    from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

    source = VideoFileSource(VideoFileConfig(id="check", path=clip))
    width = _clip_width(clip)
    line = LineConfig(id="line", start_px=(0.0, line_y_px), end_px=(float(width), line_y_px))
    pipeline = SourcePipeline(
        device_id="check",
        source=source,
        detector=detector,
        camera=CameraPlan(tracker=ByteTrackConfig(lost_buffer_s=1.0), lines=[line]),
        interval_s=10.0,
    )  # fmt: skip
    result = pipeline.run(max_frames=max_frames)
    per_dir = result.counts()["line"]
    count = sum(n for d in per_dir.values() for n in d.values())
    return ClipCount(result.frames, count, result.detections, result.inference_s)


def _clip_width(clip: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(clip))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or 1_000_000
    finally:
        cap.release()


def read_frames(clip_or_dir: Path, limit: int, *, step: int = 1) -> list[NDArray[np.uint8]]:
    """Up to ``limit`` BGR frames: every ``step``-th frame of a video, or the images of a folder
    (sorted by name). ``ValueError`` naming the path when nothing can be read."""
    import cv2

    frames: list[NDArray[np.uint8]] = []
    if clip_or_dir.is_dir():
        suffixes = {".jpg", ".jpeg", ".png", ".bmp"}
        for path in sorted(p for p in clip_or_dir.iterdir() if p.suffix.lower() in suffixes):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path}: not a readable image")
            frames.append(image)
            if len(frames) >= limit:
                break
    else:
        cap = cv2.VideoCapture(str(clip_or_dir))
        index = 0
        while len(frames) < limit:
            ok, image = cap.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(image)
            index += 1
        cap.release()
    if not frames:
        raise ValueError(f"{clip_or_dir}: no frames could be read (a video file or image folder)")
    return frames


def match_detections(a: Detections, b: Detections, iou_min: float = 0.5) -> tuple[int, float]:
    """(matched pairs, mean IoU of the pairs): greedy one-to-one matching of ``b`` to ``a`` by
    IoU, same class required."""
    from carbonedge.kernels import box_iou

    if len(a) == 0 or len(b) == 0:
        return 0, 0.0
    iou = box_iou(a.xyxy, b.xyxy)
    iou[a.class_id[:, None] != b.class_id[None, :]] = 0.0
    matched: list[float] = []
    while True:
        i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
        if iou[i, j] < iou_min:
            break
        matched.append(float(iou[i, j]))
        iou[i, :] = 0.0
        iou[:, j] = 0.0
    return len(matched), float(np.mean(matched)) if matched else 0.0


def interleaved_ms(
    sessions: dict[str, tuple[object, NDArray[np.float32]]], rounds: int = 5, inner: int = 10
) -> dict[str, float]:
    """Best-of-``rounds`` ms per ``session.run`` for each (session, input) pair, the sessions
    taking turns (order flipped every round) so a busy neighbour slows them alike."""
    names = list(sessions)
    best = dict.fromkeys(names, float("inf"))
    for name in names:  # warm-up
        session, x = sessions[name]
        session.run(None, {session.get_inputs()[0].name: x})  # type: ignore[attr-defined]
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            session, x = sessions[name]
            feed = {session.get_inputs()[0].name: x}  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            for _ in range(inner):
                session.run(None, feed)  # type: ignore[attr-defined]
            best[name] = min(best[name], (time.perf_counter() - t0) * 1e3 / inner)
    return best
