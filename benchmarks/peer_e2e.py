"""The peer pipeline of the end-to-end comparison (``bench_e2e``): the supervision/Roboflow
tutorial pipeline as users build it today, around the same YOLOX-nano model as ours."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks.e2e_common import (
    COCO_VEHICLE_IDS,
    INTRA_OP_THREADS,
    LINE_Y_PX,
    PREFETCH_DEPTH,
    SCORE_THRESHOLD,
    CallTimer,
    PassTimes,
)
from carbonedge.runtime.base.errors import SourceOpenError

NMS_IOU = 0.45  # ours: YoloOnnxConfig.nms_iou default; the YOLOX demo uses 0.45 too
STRIDES = (8, 16, 32)  # YOLOX's output levels (the demo's grids)


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
