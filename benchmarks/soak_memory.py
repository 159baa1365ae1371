"""Soak test: ByteTrack + LineCounter over a long synthetic detection stream; memory must stay flat.

``python -m carbonedge.benchmarks.soak_memory --frames 1000000`` feeds an endless, cheaply generated
stream of detections (vehicles keep entering and leaving six lanes, plus detector noise: jitter,
missed boxes, low scores and false positives that start unconfirmed tracks) through the tracker
and one counting line, wired as the pipeline wires them (``pop_removed`` -> ``forget``). Every
``frames / 20`` frames it samples the process RSS and the state the stages hold, and at the end it
prints a table and the RSS growth between 10 % and 100 % of the run. No images are rendered, so
10^6 frames (18.5 h of 15 fps video) take minutes, dominated by the tracker itself.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.counting.line import LineConfig, LineCounter
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

CLASS_NAMES = ("car", "van", "bus", "truck", "motorcycle")
# class -> (box width px, box height px, share of traffic)
_CLASS_BOXES = np.array([[45, 40], [50, 50], [60, 90], [60, 80], [18, 30]], np.float64)
_CLASS_SHARES = np.array([0.55, 0.14, 0.07, 0.10, 0.14])
_GAP_PX = 30.0  # clear space between consecutive vehicles of a lane, px


class TrafficStream:
    """Endless noisy detections of vehicles crossing a 640x360 frame in six lanes.

    Lanes 0-2 run down the image, lanes 3-5 up, each at its own constant speed (3-8 px/frame), so
    vehicles of a lane never overlap; spawns per lane are a minimum headway plus an exponential
    gap, for about ``vehicles_per_minute`` in all (fewer if the lanes cannot hold that many).
    Detector noise as in ``bench_tracking``: 3 % missed, jitter 2 % of size + 0.5 px, 10 % low
    scores, Poisson(0.3) false positives per frame.
    """

    def __init__(
        self, vehicles_per_minute: float = 150.0, fps: float = 15.0, seed: int = 7
    ) -> None:
        self.fps = fps
        self.width_px, self.height_px = 640.0, 360.0
        self.line_y_px = 216.0
        self._rng = np.random.default_rng(seed)
        self._lane_x_px = np.array([140.0, 220.0, 300.0, 360.0, 440.0, 520.0])
        speed = self._rng.uniform(3.0, 8.0, 6)
        self._lane_vy_px = np.where(np.arange(6) < 3, speed, -speed)
        self._min_headway = np.ceil((_CLASS_BOXES[:, 1].max() + _GAP_PX) / speed)
        mean_headway = 6 * 60.0 * fps / max(vehicles_per_minute, 1e-9)
        self._extra_headway = np.maximum(mean_headway - self._min_headway, 1.0)
        self._next_spawn = self._rng.uniform(0, self._min_headway).astype(np.int64)
        self._frame = 0
        self.spawned = 0
        self.true_crossings = 0  # box bottoms (the counter's anchor) that crossed line_y_px
        # active vehicles: lane, top y px, class
        self._lane = np.zeros(0, np.int64)
        self._top = np.zeros(0, np.float64)
        self._cls = np.zeros(0, np.int64)

    def _spawn(self) -> None:
        lanes = np.flatnonzero(self._next_spawn <= self._frame)
        if len(lanes) == 0:
            return
        cls = self._rng.choice(len(CLASS_NAMES), len(lanes), p=_CLASS_SHARES)
        h = _CLASS_BOXES[cls, 1]
        top = np.where(self._lane_vy_px[lanes] > 0, -h, self.height_px)
        self._lane = np.concatenate([self._lane, lanes])
        self._top = np.concatenate([self._top, top])
        self._cls = np.concatenate([self._cls, cls])
        gap = self._rng.exponential(self._extra_headway[lanes])
        self._next_spawn[lanes] = self._frame + self._min_headway[lanes] + gap.astype(np.int64)
        self.spawned += len(lanes)

    def _true_boxes(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Move every vehicle one frame, drop the ones that left; (K, 4) clipped boxes, classes."""
        h = _CLASS_BOXES[self._cls, 1]
        below_before = self._top + h > self.line_y_px
        self._top += self._lane_vy_px[self._lane]
        self.true_crossings += int(
            np.count_nonzero(below_before != (self._top + h > self.line_y_px))
        )
        inside = (self._top + h > 0) & (self._top < self.height_px)
        self._lane, self._top, self._cls, h = (
            self._lane[inside], self._top[inside], self._cls[inside], h[inside]
        )  # fmt: skip
        half_w = _CLASS_BOXES[self._cls, 0] * 0.5
        x = self._lane_x_px[self._lane]
        boxes = np.stack([x - half_w, self._top, x + half_w, self._top + h], axis=1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0.0, self.height_px)
        visible = boxes[:, 3] - boxes[:, 1] >= 2.0
        return boxes[visible], self._cls[visible]

    def next(self) -> Detections:
        """The next frame's detections."""
        self._frame += 1
        self._spawn()
        boxes, cls = self._true_boxes()
        rng, n = self._rng, len(boxes)
        keep = rng.random(n) >= 0.03
        boxes, cls = boxes[keep], cls[keep]
        n = len(boxes)
        wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        boxes = boxes + rng.standard_normal((n, 4)) * (0.02 * np.tile(wh, 2) + 0.5)
        conf = np.where(rng.random(n) < 0.1, rng.uniform(0.15, 0.5, n), rng.uniform(0.55, 0.95, n))
        n_fp = rng.poisson(0.3)
        if n_fp:
            xy = rng.uniform([0.0, 0.0], [self.width_px - 60, self.height_px - 60], (n_fp, 2))
            boxes = np.concatenate(
                [boxes, np.concatenate([xy, xy + rng.uniform(15, 60, (n_fp, 2))], 1)]
            )
            conf = np.concatenate([conf, rng.uniform(0.1, 0.7, n_fp)])
            cls = np.concatenate([cls, rng.integers(0, len(CLASS_NAMES), n_fp)])
        return Detections(boxes.astype(np.float32), conf.astype(np.float32), cls.astype(np.int32))


def rss_mib() -> float:
    """Resident set size of this process in MiB (``/proc/self/status``; elsewhere the peak)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


@dataclass(frozen=True)
class Sample:
    frame: int
    wall_s: float
    rss_mib: float
    held_tracks: int
    line_states: int
    pending_crossings: int
    highest_tracker_id: int
    crossings: int


@dataclass
class SoakResult:
    samples: list[Sample] = field(default_factory=list)
    max_held_tracks: int = 0
    max_line_states: int = 0
    highest_tracker_id: int = 0
    crossings: int = 0
    vehicles: int = 0
    true_crossings: int = 0
    wall_s: float = 0.0


def soak(
    n_frames: int,
    *,
    samples: int = 20,
    vehicles_per_minute: float = 150.0,
    seed: int = 7,
    forget_removed: bool = True,
    forget_after_s: float = 60.0,
) -> SoakResult:
    """Run tracker + one line for ``n_frames`` and sample state and RSS ``samples`` times.

    ``forget_removed=False`` leaves the counter to its own idle eviction (``forget_after_s``).
    """
    stream = TrafficStream(vehicles_per_minute, seed=seed)
    tracker = ByteTrack(ByteTrackConfig(), stream.fps)
    tracker.warmup()
    line = LineConfig(
        id="soak",
        start_px=(0.0, stream.line_y_px),
        end_px=(stream.width_px, stream.line_y_px),
        forget_after_s=forget_after_s,
    )
    counter = LineCounter(line, device_id="soak", source_id="s", class_names=CLASS_NAMES)
    image = np.zeros((1, 1, 3), np.uint8)
    every = max(1, n_frames // max(samples, 1))
    res = SoakResult()
    t0 = time.perf_counter()
    for i in range(n_frames):
        t_s = i / stream.fps
        frame = Frame("s", i, t_s, t_s, image, fps=stream.fps)
        tracked = tracker.update(stream.next())
        res.crossings += len(counter.update(tracked, frame))
        removed = tracker.pop_removed()
        if removed and forget_removed:
            res.crossings += len(counter.forget(removed))
        if len(tracked):
            res.highest_tracker_id = max(res.highest_tracker_id, int(tracked.tracker_id.max()))
        res.max_held_tracks = max(res.max_held_tracks, tracker.held_track_count)
        res.max_line_states = max(res.max_line_states, counter.tracked_state_count)
        if (i + 1) % every == 0 or i + 1 == n_frames:
            res.samples.append(
                Sample(
                    i + 1,
                    time.perf_counter() - t0,
                    rss_mib(),
                    tracker.held_track_count,
                    counter.tracked_state_count,
                    counter.pending_count,
                    res.highest_tracker_id,
                    res.crossings,
                )
            )
    res.crossings += len(counter.flush())
    res.vehicles = stream.spawned
    res.true_crossings = stream.true_crossings
    res.wall_s = time.perf_counter() - t0
    return res


def format_report(res: SoakResult, n_frames: int) -> str:
    """Markdown table of the samples plus the RSS growth from 10 % to 100 % of the run."""
    lines = [
        "| frame | wall s | RSS MiB | held tracks | line states | pending | top id | crossings |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in res.samples:
        lines.append(
            f"| {s.frame} | {s.wall_s:.1f} | {s.rss_mib:.1f} | {s.held_tracks} | "
            f"{s.line_states} | {s.pending_crossings} | {s.highest_tracker_id} | {s.crossings} |"
        )
    at_10 = min(res.samples, key=lambda s: abs(s.frame - n_frames / 10))
    last = res.samples[-1]
    lines += [
        "",
        f"frames: {n_frames}, wall {res.wall_s:.1f} s ({n_frames / res.wall_s:.0f} frames/s), "
        f"vehicles spawned {res.vehicles}, crossings {res.crossings} "
        f"(true {res.true_crossings}), "
        f"highest tracker id {res.highest_tracker_id}",
        f"max held tracks {res.max_held_tracks}, max line states {res.max_line_states}",
        f"RSS at frame {at_10.frame}: {at_10.rss_mib:.1f} MiB, at frame {last.frame}: "
        f"{last.rss_mib:.1f} MiB, growth {last.rss_mib - at_10.rss_mib:+.1f} MiB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks.soak_memory")
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames to run (>= 20)")
    parser.add_argument("--vehicles-per-minute", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.frames < 20:
        parser.error("--frames must be >= 20")
    res = soak(args.frames, vehicles_per_minute=args.vehicles_per_minute, seed=args.seed)
    sys.stdout.write(format_report(res, args.frames) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
