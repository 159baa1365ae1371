"""Tracker + line counter per frame: ours vs roboflow ``trackers`` ByteTrack + supervision LineZone.

Both pipelines get the same precomputed detections (no detector is timed): the synthetic road
scene's ground-truth boxes with seeded box jitter, score noise, missed detections, class flips and
false positives, at a few traffic densities, plus a many-objects case (four scenes side by side,
about 50 boxes per frame). Ours is ``ByteTrack.update`` -> ``LineCounter.update`` (and
``pop_removed`` -> ``forget``, as the pipeline does); the peer is
``trackers.ByteTrackTracker.update`` -> ``sv.LineZone.trigger`` on ``sv.Detections``, with the
same score thresholds, confirmation (2 hits), lost buffer (1 s) and bottom-centre anchor; the
peer keeps its own matching rule (IoU >= 0.1, no score fusion), ours its defaults.

A row times the whole sequence with a fresh tracker and counter per run, alternating ours and the
peer, best of ``repeats`` runs each; ``ours ms`` and ``reference ms`` are per frame. The case text
carries the crossings each side counted and the scene's true count: two counters that disagree
would make the timing meaningless, so disagreements are visible in the table.

Each case also has a row against our own NumPy/scipy references (``ReferenceByteTrack`` +
``ReferenceLineCounter``, the implementation before the per-frame steps became Numba kernels;
same counts by construction), and each compiled kernel (``bytetrack_step``, ``line_observe``,
``linear_sum_assignment``) has a row against its reference alone. The peer rows are skipped,
with a warning, when the peer packages are not installed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.kernels import linear_sum_assignment
from carbonedge.kernels import reference as ref
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.counting._line_ref import ReferenceLineCounter
from carbonedge.vision.counting.line import LineConfig, LineCounter
from carbonedge.vision.tracking._bytetrack_ref import ReferenceByteTrack
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

logger = logging.getLogger(__name__)

CLASS_NAMES = ("car", "van", "bus", "truck", "motorcycle")  # the synthetic scene's classes
_FPS = 15.0
# tiles sit side by side, one synthetic scene (640 px wide) each, with a gap: vehicles clipped at
# a tile's side edge must not touch the next tile's, or tracks hop between tiles
_TILE_STRIDE_PX = 800


@dataclass(frozen=True)
class DetectionSequence:
    """Per-frame detections of a scene, the counting line and the true crossings.

    Attributes:
        frames: per frame (xyxy (N, 4) float32 px, confidence (N,) float32, class_id (N,) int32).
        line_px: ((x0, y), (x1, y)) counting line, drawn left to right (moving down = "in").
        true_in, true_out: bottom-centre crossings of the line in the ground truth.
    """

    name: str
    frames: list[tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32]]]
    line_px: tuple[tuple[float, float], tuple[float, float]]
    true_in: int
    true_out: int

    @property
    def mean_boxes(self) -> float:
        return float(np.mean([len(f[0]) for f in self.frames])) if self.frames else 0.0


def _noisy(
    boxes: NDArray[np.float64], class_id: NDArray[np.int64], rng: np.random.Generator, w_px: float
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32]]:
    """Detector-like noise on true boxes: 3 % missed, jitter 2 % of size + 0.5 px, 10 % low
    scores, 3 % class flips, Poisson(0.3) false positives per tile with random scores."""
    keep = rng.random(len(boxes)) >= 0.03
    boxes, class_id = boxes[keep], class_id[keep]
    size = np.repeat(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 2, 1)
    boxes = boxes + rng.normal(0.0, 1.0, boxes.shape) * (0.02 * size[:, [0, 2, 1, 3]] + 0.5)
    n = len(boxes)
    conf = np.where(rng.random(n) < 0.1, rng.uniform(0.15, 0.5, n), rng.uniform(0.55, 0.95, n))
    flip = rng.random(n) < 0.03
    class_id = np.where(flip, rng.integers(0, len(CLASS_NAMES), n), class_id)
    n_fp = rng.poisson(0.3 * w_px / _TILE_STRIDE_PX)
    xy = rng.uniform([0, 0], [w_px - 60, 300], (n_fp, 2))
    fp = np.concatenate([xy, xy + rng.uniform(15, 60, (n_fp, 2))], axis=1)
    boxes = np.concatenate([boxes, fp])
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0.0, w_px)
    conf = np.concatenate([conf, rng.uniform(0.1, 0.7, n_fp)])
    class_id = np.concatenate([class_id, rng.integers(0, len(CLASS_NAMES), n_fp)])
    return boxes.astype(np.float32), conf.astype(np.float32), class_id.astype(np.int32)


def make_sequence(
    vehicles_per_minute: float, duration_s: float, *, tiles: int = 1, lanes: int = 2, seed: int = 7
) -> DetectionSequence:
    """Noisy detections of ``tiles`` synthetic scenes (seeds seed..seed+tiles-1) side by side."""
    scenes = [
        SyntheticScene(
            SyntheticSceneConfig(
                id=f"s{k}",
                duration_s=duration_s,
                fps=_FPS,
                seed=seed + k,
                vehicles_per_minute=vehicles_per_minute,
                lanes_per_direction=lanes,
            )
        ).ground_truth
        for k in range(tiles)
    ]
    class_index = {name: i for i, name in enumerate(CLASS_NAMES)}
    classes = [{v.vehicle_id: class_index[v.class_name] for v in gt.vehicles} for gt in scenes]
    rng = np.random.default_rng([seed, tiles, int(vehicles_per_minute)])
    frames = []
    for i in range(scenes[0].n_frames):
        boxes, cls = [], []
        for k, gt in enumerate(scenes):
            for vid, box in gt.boxes_at(i / _FPS):
                boxes.append(
                    (box[0] + k * _TILE_STRIDE_PX, box[1], box[2] + k * _TILE_STRIDE_PX, box[3])
                )
                cls.append(classes[k][vid])
        frames.append(
            _noisy(
                np.asarray(boxes, np.float64).reshape(-1, 4),
                np.asarray(cls, np.int64),
                rng,
                float(tiles * _TILE_STRIDE_PX),
            )
        )
    crossings = [c for gt in scenes for c in gt.crossings()]
    y_px = scenes[0].counting_line_px[0][1]
    line = ((0.0, y_px), (float(tiles * _TILE_STRIDE_PX), y_px))
    true_in = sum(1 for _, d, _ in crossings if d == "down")
    return DetectionSequence(
        f"{vehicles_per_minute:g} veh/min x{tiles}", frames, line, true_in, len(crossings) - true_in
    )


# --- the two pipelines: each returns a callable that runs the whole sequence -------------------
def ours_runner(
    seq: DetectionSequence,
    tracker_cls: Callable[..., ByteTrack] = ByteTrack,
    counter_cls: Callable[..., LineCounter] = LineCounter,
) -> Callable[[], tuple[int, int]]:
    """ByteTrack + LineCounter over ``seq`` (or the given classes with their API, such as the
    NumPy references); the callable returns (in, out) crossings."""
    dets = [Detections(xyxy, conf, cls) for xyxy, conf, cls in seq.frames]
    image = np.zeros((1, 1, 3), np.uint8)
    frames = [Frame("s", i, i / _FPS, i / _FPS, image, fps=_FPS) for i in range(len(dets))]
    line = LineConfig(id="l", start_px=seq.line_px[0], end_px=seq.line_px[1])

    def run() -> tuple[int, int]:
        tracker = tracker_cls(ByteTrackConfig(), _FPS)
        counter = counter_cls(line, device_id="d", source_id="s", class_names=CLASS_NAMES)
        for det, frame in zip(dets, frames, strict=True):
            counter.update(tracker.update(det), frame)
            removed = tracker.pop_removed()
            if removed:
                counter.forget(removed)
        counter.flush()  # crossings still waiting for their class vote
        return sum(counter.counts["in"].values()), sum(counter.counts["out"].values())

    return run


def peer_tracker(fps: float):  # -> trackers.ByteTrackTracker
    """The peer's tracker with our default thresholds and a 1 s lost buffer at ``fps``."""
    from trackers import ByteTrackTracker

    return ByteTrackTracker(
        lost_track_buffer=30,  # in 30 fps frames (trackers scales it by fps / 30): 1 s, like ours
        frame_rate=fps,
        track_activation_threshold=0.6,  # ours: new_track_score
        minimum_consecutive_frames=2,  # ours: min_hits
        high_conf_det_threshold=0.5,  # ours: high_score
    )


def peer_line_zone(line_px: tuple[tuple[float, float], tuple[float, float]]):  # -> sv.LineZone
    """The peer's line on our ``line_px``, bottom-centre anchor; its in/out are ours."""
    import supervision as sv

    # LineZone calls a crossing towards the left of start->end "in"; reversing the segment makes
    # its "in" ours (crossing to the right of our start->end, i.e. moving down the image)
    start, end = sv.Point(*line_px[1]), sv.Point(*line_px[0])
    return sv.LineZone(start=start, end=end, triggering_anchors=(sv.Position.BOTTOM_CENTER,))


def peer_runner(seq: DetectionSequence) -> Callable[[], tuple[int, int]]:
    """trackers.ByteTrackTracker + sv.LineZone over ``seq``; returns (in, out) in our sense."""
    import supervision as sv

    dets = [
        sv.Detections(xyxy=xyxy, confidence=conf, class_id=cls) for xyxy, conf, cls in seq.frames
    ]

    def run() -> tuple[int, int]:
        tracker = peer_tracker(_FPS)
        zone = peer_line_zone(seq.line_px)
        for det in dets:
            zone.trigger(tracker.update(det))
        return zone.in_count, zone.out_count

    return run


def time_sequences(
    name: str,
    case: str,
    ours: Callable[[], object],
    reference: Callable[[], object],
    n_frames: int,
    *,
    reference_name: str,
    repeats: int,
) -> Row:
    """Whole-sequence runs of ``ours`` and ``reference`` alternated, best of ``repeats`` each;
    the row holds milliseconds per frame."""
    best_ours = best_ref = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        reference()
        t2 = time.perf_counter()
        best_ours, best_ref = min(best_ours, t1 - t0), min(best_ref, t2 - t1)
    per_frame_ms = 1e3 / max(n_frames, 1)
    return Row(name, case, best_ours * per_frame_ms, best_ref * per_frame_ms, reference_name)


def _row(seq: DetectionSequence, repeats: int) -> Row:
    ours, peer = ours_runner(seq), peer_runner(seq)
    ours_in, ours_out = ours()  # warm-up run (Numba kernels, caches) doubles as the count check
    peer_in, peer_out = peer()
    case = (
        f"{seq.name}, {len(seq.frames)} frames, {seq.mean_boxes:.0f} boxes/frame; "
        f"in/out ours {ours_in}/{ours_out} peer {peer_in}/{peer_out} "
        f"truth {seq.true_in}/{seq.true_out}"
    )
    return time_sequences(
        "bytetrack+line",
        case,
        ours,
        peer,
        len(seq.frames),
        reference_name="trackers ByteTrack + sv.LineZone",
        repeats=repeats,
    )


def _reference_row(seq: DetectionSequence, repeats: int) -> Row:
    """The compiled pipeline vs the NumPy/scipy references of both kernels (same counts)."""
    ours = ours_runner(seq)
    reference = ours_runner(seq, ReferenceByteTrack, ReferenceLineCounter)
    ours_in, ours_out = ours()
    ref_in, ref_out = reference()
    case = (
        f"{seq.name}, {seq.mean_boxes:.0f} boxes/frame; "
        f"in/out ours {ours_in}/{ours_out} reference {ref_in}/{ref_out}"
    )
    return time_sequences(
        "bytetrack+line", case, ours, reference, len(seq.frames),
        reference_name="numpy/scipy ByteTrack + LineCounter", repeats=repeats,
    )  # fmt: skip


def _kernel_rows(seq: DetectionSequence, repeats: int) -> list[Row]:
    """Each compiled kernel alone vs its reference: the tracker step, the line step (on the
    tracker's output) and the assignment on a tracks x detections cost matrix."""
    dets = [Detections(xyxy, conf, cls) for xyxy, conf, cls in seq.frames]

    def tracking(cls: Callable[..., ByteTrack]) -> Callable[[], list[Detections]]:
        def go() -> list[Detections]:
            tracker = cls(ByteTrackConfig(), _FPS)
            return [tracker.update(d) for d in dets]

        return go

    tracked = tracking(ByteTrack)()
    image = np.zeros((1, 1, 3), np.uint8)
    frames = [Frame("s", i, i / _FPS, i / _FPS, image, fps=_FPS) for i in range(len(dets))]
    line = LineConfig(id="l", start_px=seq.line_px[0], end_px=seq.line_px[1])

    def counting(cls: Callable[..., LineCounter]) -> Callable[[], None]:
        def go() -> None:
            counter = cls(line, device_id="d", source_id="s", class_names=CLASS_NAMES)
            for out, frame in zip(tracked, frames, strict=True):
                counter.update(out, frame)

        return go

    case = f"{seq.name}, {seq.mean_boxes:.0f} boxes/frame, ms per frame"
    rows = [
        time_sequences(
            "bytetrack_step", case, tracking(ByteTrack), tracking(ReferenceByteTrack),
            len(dets), reference_name="numpy/scipy ByteTrack", repeats=repeats,
        ),
        time_sequences(
            "line_observe", case, counting(LineCounter), counting(ReferenceLineCounter),
            len(dets), reference_name="numpy LineCounter", repeats=repeats,
        ),
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    for n_tracks, n_dets in ((8, 6), (60, 50)):
        iou = rng.random((n_tracks, n_dets)) * (rng.random((n_tracks, n_dets)) < 0.1)
        cost = np.minimum(1.0 - iou, 0.8001)  # the tracker's clipped 1 - IoU
        rows.append(
            compare(
                "linear_sum_assignment", f"{n_tracks} tracks x {n_dets} detections",
                lambda c=cost: linear_sum_assignment(c),
                lambda c=cost: ref.linear_sum_assignment(c), reference_name="scipy",
            )
        )  # fmt: skip
    return rows


def _peers_installed() -> bool:
    try:
        import supervision  # noqa: F401
        import trackers  # noqa: F401
    except ImportError as exc:
        logger.warning(
            "bench_tracking: peer rows skipped, the peer packages are missing (%s); "
            "install them with: pip install 'carbonedge[peers]'",
            exc,
        )
        return False
    return True


def run(quick: bool) -> list[Row]:
    """Rows at 36 and 120 vehicles/min and four 240 vehicles/min scenes side by side, against
    the peer and against our NumPy references, then each kernel alone
    (quick: 20 s scenes, 3 runs each; full: 120 s, 5 runs)."""
    duration_s, repeats = (20.0, 3) if quick else (120.0, 5)
    cases = [
        make_sequence(36, duration_s),
        make_sequence(120, duration_s),
        make_sequence(240, duration_s, tiles=4, lanes=3),
    ]
    peers = _peers_installed()
    rows = []
    for seq in cases:
        if peers:
            rows.append(_row(seq, repeats))
        rows.append(_reference_row(seq, repeats))
    return rows + _kernel_rows(cases[1], repeats)
