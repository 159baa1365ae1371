"""End to end on the real highway clip: our pipeline vs the pipeline users build today.

Same model (YOLOX-nano 416, ``../shared/models``), same clip (``highway_cdnet_320x240.avi``, 1699
frames at 60 fps, hand count 27 at y = 150 px), same onnxruntime settings (2 intra-op threads, 1
inter-op thread, all graph optimisations), in one process, passes interleaved (the order flips
every repetition so a noisy neighbour slows both alike).

- **Ours**: ``SourcePipeline`` with ``VideoFileSource``, ``YoloxDetector`` (vehicle classes, score
  0.3), ByteTrack, one line at y = 150 px and no store: the per-source pipeline of ``carbonedge
  run``, without its motion gate (the default gate skips none of this clip's frames: the scene
  never stops changing).
- **Peer**: the supervision/Roboflow tutorial pipeline: ``cv2.VideoCapture`` read ahead on a
  thread into a queue as deep as ours (``peer_frames``: both sides decode ahead); the YOLOX demo's
  letterbox (``cv2.resize`` + NumPy pad + transpose + float32); ``InferenceSession.run``; YOLOX
  decode in NumPy (grids and strides computed once); score = obj * best vehicle-class score; one
  class-agnostic ``cv2.dnn.NMSBoxes`` over the vehicle classes (per-class NMS, as many tutorials
  do it, double-counts car/truck box pairs on this clip: ../shared/media/MEDIA.md); roboflow
  ``trackers`` ByteTrack and supervision ``LineZone`` wired as in ``bench_tracking``.

Model time is the wall time inside ``session.run`` (the call is wrapped on both sides); non-model
time is the rest of the pass (waiting for decoded frames, pre/post-processing, tracking,
counting, pipeline bookkeeping). Each repetition is a pair of passes run back to back; a row
holds the milliseconds per frame of the pair with the median ratio, and its case text every pair's
ratio, each side's range, the counts and the load average (the machine may be shared). Where the
non-model time goes: ``python -m carbonedge.benchmarks.e2e_diagnose --stages`` (or ``--profile``).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row
from carbonedge.runtime.base.errors import ModelError, SourceOpenError

logger = logging.getLogger(__name__)

MODEL_FILE = "yolox_nano_416.onnx"
CLIP = Path("media") / "traffic" / "highway_cdnet_320x240.avi"
LINE_Y_PX = 150.0
VEHICLES = ("car", "bus", "truck", "motorcycle")
COCO_VEHICLE_IDS = (2, 5, 7, 3)  # car, bus, truck, motorcycle in COCO-80 order
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.45  # ours: YoloOnnxConfig.nms_iou default; the YOLOX demo uses 0.45 too
INTRA_OP_THREADS = 2
PREFETCH_DEPTH = 4  # frames decoded ahead on both sides: runtime.prefetch.frames_of's depth
STRIDES = (8, 16, 32)
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


# --- the peer ------------------------------------------------------------------------------------
class PeerE2E:
    """cv2 + NumPy + onnxruntime + trackers ByteTrack + supervision LineZone, tutorial style."""

    name = "peer"

    def __init__(self, model: Path, clip: Path) -> None:
        import onnxruntime as ort

        self.clip = clip
        options = ort.SessionOptions()
        options.intra_op_num_threads = INTRA_OP_THREADS
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.input_hw = tuple(self.session.get_inputs()[0].shape[2:4])
        self.session.run(None, {self.input_name: np.zeros((1, 3, *self.input_hw), np.float32)})
        self.grids, self.expanded_strides = yolox_grids(self.input_hw)
        self.vehicle_ids = np.asarray(COCO_VEHICLE_IDS)
        self.model_timer = CallTimer()
        self.session.run = self.model_timer.wrap(self.session.run)

    def run(self, max_frames: int, on_first_frame: Callable[[], None] | None = None) -> PassTimes:
        """One pass; ``on_first_frame`` is called once the first frame is counted. The frames are
        read ahead on a ``peer-decode`` thread (``peer_frames``), as ours are on ``decode-...``."""
        import cv2
        import supervision as sv

        from carbonedge.benchmarks.bench_tracking import peer_line_zone, peer_tracker

        self.model_timer.seconds = 0.0
        read_timer, read_threads = CallTimer(), set()
        t0 = time.perf_counter()
        cap = cv2.VideoCapture(str(self.clip))
        if not cap.isOpened():
            raise SourceOpenError(f"{self.clip}: the peer cannot open the clip")
        tracker = peer_tracker(cap.get(cv2.CAP_PROP_FPS))
        zone = None
        frames = 0
        images = peer_frames(cap, max_frames, read_timer, read_threads)
        try:
            for image in images:
                if zone is None:
                    zone = peer_line_zone(((0.0, LINE_Y_PX), (float(image.shape[1]), LINE_Y_PX)))
                blob, ratio = yolox_preprocess(image, self.input_hw)
                output = self.session.run(None, {self.input_name: blob})[0]
                xyxy, confidence, class_id = self.postprocess(output[0], ratio)
                detections = sv.Detections(xyxy=xyxy, confidence=confidence, class_id=class_id)
                zone.trigger(tracker.update(detections))
                frames += 1
                if frames == 1 and on_first_frame is not None:
                    on_first_frame()
        finally:
            images.close()  # stops and joins the reader before the capture goes
            cap.release()
        total_s = time.perf_counter() - t0
        count = zone.in_count + zone.out_count if zone is not None else 0
        off_main = bool(read_threads) and threading.main_thread().name not in read_threads
        return PassTimes(frames, total_s, self.model_timer.seconds, read_timer.seconds, count,
                         off_main)  # fmt: skip

    def postprocess(
        self, output: NDArray[np.float32], ratio: float
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
        """YOLOX demo decode + best vehicle class + class-agnostic ``cv2.dnn.NMSBoxes``."""
        return peer_postprocess(
            output, ratio, self.grids, self.expanded_strides, self.vehicle_ids, SCORE_THRESHOLD
        )


def peer_frames(
    cap,  # cv2.VideoCapture
    max_frames: int,
    read_timer: CallTimer,
    read_threads: set[str],
    depth: int = PREFETCH_DEPTH,
) -> Iterator[NDArray[np.uint8]]:
    """The peer's decode-ahead, as a user writes it: ``cap.read()`` on a ``peer-decode`` thread
    into a ``queue.Queue(maxsize=depth)`` that blocks when full (no frame dropped), the images
    yielded in order. At most ``max_frames`` reads; each is timed by ``read_timer`` on the reader
    thread (ours: ``source.read`` on ``decode-...``) and its thread name added to ``read_threads``.
    A reader error is raised in the consumer; leaving early stops and joins the reader."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    read = read_timer.wrap(cap.read)

    def put(item: object) -> bool:  # False once the consumer has gone
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for _ in range(max_frames):
                read_threads.add(threading.current_thread().name)
                ok, image = read()
                if not ok or not put(image):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)
        finally:
            put(_END)

    thread = threading.Thread(target=reader, name="peer-decode", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # a reader blocked in put() gives up
        thread.join(timeout=5.0)


_END = object()  # peer_frames: the reader has finished


def peer_postprocess(
    output: NDArray[np.float32],
    ratio: float,
    grids: NDArray[np.float32],
    expanded_strides: NDArray[np.float32],
    vehicle_ids: NDArray[np.int64],
    score_threshold: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """The peer's postprocess of one (A, 85) output: the YOLOX demo decode in NumPy, score = obj *
    best vehicle-class score, one class-agnostic ``cv2.dnn.NMSBoxes``; xyxy in image px."""
    import cv2

    output = output.copy()  # (A, 85); the demo decodes in place
    output[:, :2] = (output[:, :2] + grids) * expanded_strides
    output[:, 2:4] = np.exp(output[:, 2:4]) * expanded_strides
    scores = output[:, 4:5] * output[:, 5:][:, vehicle_ids]
    best = scores.argmax(axis=1)
    confidence = scores[np.arange(len(scores)), best]
    keep = confidence > score_threshold
    cxcywh, confidence, best = output[keep, :4], confidence[keep], best[keep]
    xyxy = np.empty_like(cxcywh)
    xyxy[:, :2] = cxcywh[:, :2] - cxcywh[:, 2:] / 2
    xyxy[:, 2:] = cxcywh[:, :2] + cxcywh[:, 2:] / 2
    xyxy /= ratio
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    indices = cv2.dnn.NMSBoxes(xywh, confidence, score_threshold, NMS_IOU)
    indices = np.asarray(indices, np.int64).reshape(-1)
    return xyxy[indices], confidence[indices], vehicle_ids[best[indices]]


def yolox_grids(input_hw: tuple[int, int]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The YOLOX demo's ``demo_postprocess`` grids (A, 2) and strides (A, 1)."""
    grids, strides = [], []
    for stride in STRIDES:
        h, w = input_hw[0] // stride, input_hw[1] // stride
        xv, yv = np.meshgrid(np.arange(w), np.arange(h))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((h * w, 1), stride))
    return (
        np.concatenate(grids).astype(np.float32),
        np.concatenate(strides).astype(np.float32),
    )


def yolox_preprocess(
    image: NDArray[np.uint8], input_hw: tuple[int, int]
) -> tuple[NDArray[np.float32], float]:
    """The YOLOX demo's ``preproc``: top-left letterbox, pad 114, HWC->CHW float32 (0-255)."""
    import cv2

    padded = np.ones((input_hw[0], input_hw[1], 3), np.uint8) * 114
    ratio = min(input_hw[0] / image.shape[0], input_hw[1] / image.shape[1])
    size = (int(image.shape[1] * ratio), int(image.shape[0] * ratio))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded[: size[1], : size[0]] = resized
    blob = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32)
    return blob[None], ratio


# --- the comparison ------------------------------------------------------------------------------
def interleaved(
    sides: list[OursE2E | PeerE2E], max_frames: int, repeats: int
) -> dict[str, list[PassTimes]]:
    """``repeats`` passes of each side, alternating, the order flipped every repetition."""
    passes: dict[str, list[PassTimes]] = {side.name: [] for side in sides}
    for r in range(repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:
            passes[side.name].append(side.run(max_frames))
    return passes


def truth_before(max_frames: int) -> int:
    """Hand-counted vehicles that reach the line within the first ``max_frames`` frames."""
    return sum(1 for f in HAND_COUNT_FRAMES if f < max_frames)


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
