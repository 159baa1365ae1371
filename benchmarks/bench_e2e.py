"""End to end on the real highway clip: our pipeline vs the pipeline users build today.

Same model (YOLOX-nano 416, ``../shared/models``), same clip (``highway_cdnet_320x240.avi``, 1699
frames at 60 fps, hand count 27 at y = 150 px), same onnxruntime settings (2 intra-op threads, 1
inter-op thread, all graph optimisations), in one process, passes interleaved (the order flips
every repetition so a noisy neighbour slows both alike).

- **Ours**: ``SourcePipeline`` with ``VideoFileSource``, ``YoloxDetector`` (vehicle classes, score
  0.3), ByteTrack, one line at y = 150 px and no store: the per-source pipeline of ``carbonedge
  run``, without its motion gate (the default gate skips none of this clip's frames: the scene
  never stops changing).
- **Peer** (``peer_e2e.py``): the supervision/Roboflow tutorial pipeline: ``cv2.VideoCapture`` read
  ahead on a thread into a queue as deep as ours (``peer_frames``: both sides decode ahead); the
  YOLOX demo's letterbox (``cv2.resize`` + NumPy pad + transpose + float32);
  ``InferenceSession.run``; YOLOX decode in NumPy (grids and strides computed once); score = obj *
  best vehicle-class score; one class-agnostic ``cv2.dnn.NMSBoxes`` over the vehicle classes
  (per-class NMS, as many tutorials do it, double-counts car/truck box pairs on this clip:
  ../shared/media/MEDIA.md); roboflow ``trackers`` ByteTrack and supervision ``LineZone`` wired as
  in ``bench_tracking``.

Model time is the wall time inside ``session.run`` (the call is wrapped on both sides); non-model
time is the rest of the pass (waiting for decoded frames, pre/post-processing, tracking,
counting, pipeline bookkeeping). Each repetition is a pair of passes run back to back; a row
holds the milliseconds per frame of the pair with the median ratio, and its case text every pair's
ratio, each side's range, the counts and the load average (the machine may be shared). Where the
non-model time goes: ``python -m carbonedge.benchmarks.e2e_diagnose --stages`` (or ``--profile``).
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Callable

from carbonedge.benchmarks._harness import Row
from carbonedge.benchmarks.e2e_common import (  # re-exported: the benchmarks and tests use them
    CLIP,
    COCO_VEHICLE_IDS,
    HAND_COUNT_FRAMES,
    INTRA_OP_THREADS,
    LINE_Y_PX,
    MODEL_FILE,
    PREFETCH_DEPTH,
    SCORE_THRESHOLD,
    VEHICLES,
    CallTimer,
    PassTimes,
    shared_paths,
    truth_before,
)
from carbonedge.benchmarks.peer_e2e import (
    PeerE2E,
    peer_frames,
    peer_postprocess,
    yolox_grids,
    yolox_preprocess,
)

__all__ = [
    "CLIP", "COCO_VEHICLE_IDS", "HAND_COUNT_FRAMES", "LINE_Y_PX", "MODEL_FILE", "PREFETCH_DEPTH",
    "SCORE_THRESHOLD", "CallTimer", "OursE2E", "PassTimes", "PeerE2E", "interleaved",
    "peer_frames", "peer_postprocess", "run", "shared_paths", "truth_before", "yolox_grids",
    "yolox_preprocess",
]  # fmt: skip

logger = logging.getLogger(__name__)


# --- ours ----------------------------------------------------------------------------------------
class OursE2E:
    """The project's pipeline as a user runs it; one detector (and session) for every pass."""

    name = "carbonedge"

    def __init__(
        self, model: Path, clip: Path, name: str = "carbonedge", **detector_settings
    ) -> None:
        """``detector_settings``: more ``YoloxConfig`` fields (``input_hw``, ``roi``, ...). By
        default the whole frame in the square 416x416 input, as the peer runs it: these rows
        compare the pipelines around one model call; the default crop and fitted input are
        measured whole-process in ``bench_user``."""
        detector_settings = {"roi": None, "input_fit": False, **detector_settings}
        from carbonedge.vision.detectors.onnx_session import SessionConfig
        from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector

        self.clip, self.name = clip, name
        self.detector = YoloxDetector(
            YoloxConfig(
                model=str(model),
                classes=VEHICLES,
                score_threshold=SCORE_THRESHOLD,
                session=SessionConfig(intra_op_threads=INTRA_OP_THREADS),
                **detector_settings,
            )
        )
        self.detector.warmup()
        self.model_timer = CallTimer()
        self.detector.session.run = self.model_timer.wrap(self.detector.session.run)

    def pipeline(self, read_timer: CallTimer | None = None):  # -> SourcePipeline
        """A fresh source and pipeline (fresh tracker and counters) over the clip."""
        from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
        from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
        from carbonedge.vision.counting.line import LineConfig
        from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

        source = VideoFileSource(VideoFileConfig(id="highway", path=self.clip))
        if read_timer is not None:
            source.read = read_timer.wrap(source.read)  # type: ignore[method-assign]
        line = LineConfig(id="y150", start_px=(0.0, LINE_Y_PX), end_px=(320.0, LINE_Y_PX))
        return SourcePipeline(
            device_id="bench",
            source=source,
            detector=self.detector,
            camera=CameraPlan(tracker=ByteTrackConfig(lost_buffer_s=1.0), lines=[line]),
            interval_s=10.0,
        )  # fmt: skip

    def run(self, max_frames: int, on_first_frame: Callable[[], None] | None = None) -> PassTimes:
        """One pass; ``on_first_frame`` is called once the first frame has been handled."""
        read_timer = CallTimer()
        pipeline = self.pipeline(read_timer)
        read_threads: set[str] = set()
        read = pipeline.source.read

        def noted_read(*args, **kwargs):
            read_threads.add(threading.current_thread().name)
            return read(*args, **kwargs)

        pipeline.source.read = noted_read  # type: ignore[method-assign]
        if on_first_frame is not None:
            handle = pipeline._handle_frame
            pending = [on_first_frame]

            def handle_first(*args, **kwargs):
                handle(*args, **kwargs)
                if pending and pipeline.result.frames >= 1:
                    pending.pop()()

            pipeline._handle_frame = handle_first  # type: ignore[method-assign]
        self.model_timer.seconds = 0.0
        t0 = time.perf_counter()
        result = pipeline.run(max_frames=max_frames)
        total_s = time.perf_counter() - t0
        per_dir = result.counts()["y150"]
        count = sum(n for d in per_dir.values() for n in d.values())
        off_main = bool(read_threads) and threading.main_thread().name not in read_threads
        return PassTimes(
            result.frames, total_s, self.model_timer.seconds, read_timer.seconds, count, off_main
        )


# --- the comparison (the peer: peer_e2e.py) -----------------------------------------------------
def interleaved(
    sides: list[OursE2E | PeerE2E], max_frames: int, repeats: int
) -> dict[str, list[PassTimes]]:
    """``repeats`` passes of each side, alternating, the order flipped every repetition."""
    passes: dict[str, list[PassTimes]] = {side.name: [] for side in sides}
    for r in range(repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:
            passes[side.name].append(side.run(max_frames))
    return passes


def _spread(values: list[float], fmt: str = ".0f") -> str:
    return f"{min(values):{fmt}}-{max(values):{fmt}}" if len(values) > 1 else f"{values[0]:{fmt}}"


def _median_pair(
    pairs: list[tuple[PassTimes, PassTimes]], ratio: Callable[[PassTimes, PassTimes], float]
) -> tuple[PassTimes, PassTimes]:
    """The (ours, peer) pair with the median ``ratio`` (the lower middle one for an even count).

    The two passes of a pair ran back to back, so a neighbour's load hits both about alike; the
    median of paired ratios is steadier than a ratio of two independent best times."""
    return sorted(pairs, key=lambda pair: ratio(*pair))[(len(pairs) - 1) // 2]


def _where(passes: list[PassTimes]) -> str:
    """Where a side's video reads ran: on its decode-ahead thread in every pass, or not."""
    return "decode thread" if all(p.reads_off_main for p in passes) else "NOT on a decode thread"


def _non_model_ms(p: PassTimes) -> float:
    return p.per_frame_ms(p.non_model_s)


def rows_from(
    passes: dict[str, list[PassTimes]], load: tuple[float, float] | None = None
) -> list[Row]:
    """Rows from the median pair of passes of each metric; the case text gives every pair's
    ratio, the ranges over passes and the counts. ``load``: 1-minute load average before/after."""
    pairs = list(zip(passes[OursE2E.name], passes[PeerE2E.name], strict=True))
    ours, peer = passes[OursE2E.name], passes[PeerE2E.name]
    reference = "cv2+numpy+onnxruntime+trackers+sv.LineZone"
    head = f"highway 320x240, {ours[0].frames} frames, median of {len(pairs)} pairs"
    if load is not None:
        head += f", load avg {load[0]:.1f}->{load[1]:.1f}"

    def fps_ratio(o: PassTimes, p: PassTimes) -> float:
        return o.fps / p.fps if p.fps > 0 else float("inf")

    def non_model_ratio(o: PassTimes, p: PassTimes) -> float:
        return _non_model_ms(p) / _non_model_ms(o) if _non_model_ms(o) > 0 else float("inf")

    def model_ratio(o: PassTimes, p: PassTimes) -> float:
        return p.model_s / o.model_s if o.model_s > 0 else float("inf")

    def pair_ratios(ratio: Callable[[PassTimes, PassTimes], float]) -> str:
        return "/".join(f"{ratio(o, p):.2f}" for o, p in pairs)

    # the model does the same work on both sides: with one model time for both (the median over
    # every pass) the ratio depends only on the steadier non-model times
    one_model_ms = statistics.median(p.per_frame_ms(p.model_s) for p in ours + peer)
    nm_ours = statistics.median(_non_model_ms(p) for p in ours)
    nm_peer = statistics.median(_non_model_ms(p) for p in peer)
    equal_model_ratio = (one_model_ms + nm_peer) / (one_model_ms + nm_ours)
    counts_o = "/".join(str(p.count) for p in ours)
    counts_p = "/".join(str(p.count) for p in peer)
    fps_case = (
        f"{head}, yolox-nano 416, {INTRA_OP_THREADS} threads; FPS ours "
        f"{_spread([p.fps for p in ours])} peer {_spread([p.fps for p in peer])}, pair ratios "
        f"{pair_ratios(fps_ratio)}, at one model time ({one_model_ms:.1f} ms) "
        f"{equal_model_ratio:.2f}; count ours {counts_o} peer {counts_p} "
        f"truth {truth_before(ours[0].frames)}+-1"
    )
    non_model_case = (
        f"{head}, non-model ms/frame ours {_spread([_non_model_ms(p) for p in ours], '.2f')} "
        f"peer {_spread([_non_model_ms(p) for p in peer], '.2f')}, pair ratios "
        f"{pair_ratios(non_model_ratio)}; video reads ours "
        f"{_spread([p.per_frame_ms(p.read_s) for p in ours], '.2f')} ({_where(ours)}) peer "
        f"{_spread([p.per_frame_ms(p.read_s) for p in peer], '.2f')} ({_where(peer)})"
    )
    model_ms = [[p.per_frame_ms(p.model_s) for p in side] for side in (ours, peer)]
    model_case = (
        f"{head}, session.run ms/frame ours {_spread(model_ms[0], '.1f')} "
        f"peer {_spread(model_ms[1], '.1f')}, pair ratios "
        f"{pair_ratios(model_ratio)}"
    )
    o, p = _median_pair(pairs, fps_ratio)
    rows = [Row("e2e", fps_case, o.per_frame_ms(o.total_s), p.per_frame_ms(p.total_s), reference)]
    o, p = _median_pair(pairs, non_model_ratio)
    rows.append(Row("e2e non-model", non_model_case, _non_model_ms(o), _non_model_ms(p), reference))
    o, p = _median_pair(pairs, model_ratio)
    model_row = Row("e2e model", model_case, o.per_frame_ms(o.model_s), p.per_frame_ms(p.model_s),
                    "onnxruntime (same options)")  # fmt: skip
    return [*rows, model_row]


def run(quick: bool) -> list[Row]:
    """Quick: the first 160 frames, 1 pair of passes (a smoke run: ``carbonedge bench --quick``
    and its test); full: the whole clip, 3 pairs (an odd count, so that the median pair is a real
    pair)."""
    try:
        import supervision  # noqa: F401
        import trackers  # noqa: F401
    except ImportError as exc:
        logger.warning(
            "bench_e2e skipped: the peer packages are missing (%s); "
            "install them with: pip install 'carbonedge[peers]'",
            exc,
        )
        return []
    paths = shared_paths()
    if paths is None:
        return []
    max_frames, repeats = (160, 1) if quick else (1_000_000, 3)
    sides: list[OursE2E | PeerE2E] = [OursE2E(*paths), PeerE2E(*paths)]
    for side in sides:
        side.run(30)  # warm-up: Numba caches, first-call allocations, the decoder
    load_before = os.getloadavg()[0]
    passes = interleaved(sides, max_frames, repeats)
    return rows_from(passes, (load_before, os.getloadavg()[0]))
