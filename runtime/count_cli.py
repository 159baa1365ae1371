"""``carbonedge count VIDEO``: count a video in one command, from any folder.

``carbonedge count clip.mp4 --line 0,150,320,150 [--line ...] [--out DIR] [--detector TYPE]``
runs the clip through the default detector (``DEFAULT_DETECTOR``; its model found by the usual
model search: ``$CARBONEDGE_MODEL_DIR``, then the user cache), the tracker and the lines, and
writes ``DIR/annotated.mp4`` (boxes, tracks, the lines with their running counts) and
``DIR/crossings.csv`` (one row per crossing: frame, time_s, line, direction, class, track);
at the end it prints each line's in/out counts by class. Without ``--line`` it counts on a
full-width horizontal line across the middle of the frame, and says so. Progress (frames done
of the total) goes to stderr every few seconds.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

#: Seconds between two progress lines on stderr.
PROGRESS_EVERY_S = 3.0
CSV_COLUMNS = ("frame", "time_s", "line", "direction", "class", "track")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("count", help="count a video: annotated MP4, crossings CSV, counts")
    p.add_argument("video", type=Path, help="video file")
    p.add_argument(
        "--line", action="append", default=[], metavar="X1,Y1,X2,Y2",
        help="counting line in pixels of the video (repeat for more lines); default: a "
             "full-width horizontal line across the middle of the frame",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: ./<video name>-count)")  # fmt: skip
    p.add_argument("--detector", default=None, metavar="TYPE",
                   help="detector type with its default settings (default: picodet)")  # fmt: skip
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="stop after N frames")  # fmt: skip
    p.set_defaults(handler=_cmd_count)


def parse_line(text: str, index: int) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` -> four floats; a ConfigError naming ``--line`` number ``index``."""
    from carbonedge.runtime.base.errors import ConfigError

    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ConfigError(f"--line {index} ({text!r}): expected four numbers x1,y1,x2,y2 (pixels)")
    return values  # type: ignore[return-value]


def build_lines(texts: list[str], width: int, height: int) -> tuple[list[Any], str | None]:
    """The counting lines of ``--line`` options checked against the frame; a note when defaulted.

    Raises ConfigError for a line with a point outside the ``width`` x ``height`` frame.
    """
    from carbonedge.calibration.geometry import LineConfig
    from carbonedge.runtime.base.errors import ConfigError

    if not texts:
        y = round(height / 2)
        line = LineConfig(id="line1", start_px=(0.0, float(y)), end_px=(float(width), float(y)))
        return [line], (f"no --line given: counting on a full-width horizontal line at y={y} "
                        f"(the middle of the {width}x{height} frame), id line1")  # fmt: skip
    lines = []
    for i, text in enumerate(texts, start=1):
        x1, y1, x2, y2 = parse_line(text, i)
        inside = 0 <= min(x1, x2) and max(x1, x2) <= width
        if not (inside and 0 <= min(y1, y2) and max(y1, y2) <= height):
            raise ConfigError(
                f"--line {i} ({text}) is outside the {width}x{height} frame: x must be within "
                f"0..{width} and y within 0..{height}"
            )
        if abs(x2 - x1) + abs(y2 - y1) < 1.0:
            raise ConfigError(f"--line {i} ({text}): its two points must be at least 1 px apart")
        lines.append(LineConfig(id=f"line{i}", start_px=(x1, y1), end_px=(x2, y2)))
    return lines, None


def _create_detector(detector_type: str | None) -> Any:
    from pydantic import TypeAdapter, ValidationError

    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.config import DetectorConfig, format_validation_error
    from carbonedge.vision.detectors import create_detector
    from carbonedge.vision.detectors.base import DEFAULT_DETECTOR

    spec = dict(DEFAULT_DETECTOR) if detector_type is None else {"type": detector_type}
    try:
        config = TypeAdapter(DetectorConfig).validate_python(spec)
    except ValidationError as exc:
        raise ConfigError(f"--detector: {format_validation_error(exc)}") from None
    return create_detector(config)


class _Progress:
    """``count: 1200/5400 frames (22 %)`` on stderr every ``every_s`` while the run goes on."""

    def __init__(self, pipeline: Any, total: int, out: TextIO, every_s: float) -> None:
        self.pipeline, self.total, self.out, self.every_s = pipeline, total, out, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="count-progress", daemon=True)

    def line(self) -> str:
        done = self.pipeline.result.frames + self.pipeline.result.frame_errors
        if self.total > 0:
            return f"count: {done}/{self.total} frames ({100.0 * done / self.total:.0f} %)\n"
        return f"count: {done} frames\n"

    def _loop(self) -> None:
        import time

        t0 = time.monotonic()
        while not self._stop.wait(self.every_s):
            done = self.pipeline.result.frames + self.pipeline.result.frame_errors
            fps = done / max(time.monotonic() - t0, 1e-9)
            left_s = (self.total - done) / fps if fps > 0 and done < self.total else None
            eta = f", ETA {left_s:.0f} s" if left_s is not None else ""
            self.out.write(f"{self.line()[:-1]}, {fps:.0f} FPS{eta}\n")
            self.out.flush()

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.out.write(self.line())  # the last one: where it ended
        self.out.flush()


def write_csv(path: Path, events: list[Any], t0_wall_s: float) -> int:
    """One row per crossing, in frame order; returns the number of rows."""
    import csv

    rows = sorted(events, key=lambda e: (e.frame_index, e.line_id, e.tracker_id))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for e in rows:
            w.writerow([e.frame_index, f"{e.t_wall_s - t0_wall_s:.3f}", e.line_id, e.direction,
                        e.class_name, e.tracker_id])  # fmt: skip
    return len(rows)


def format_counts(lines: list[Any], counts: dict[str, dict[str, dict[str, int]]]) -> str:
    """Per line: ``line1 (0,150)-(320,150)`` then ``in 12 (car 10, truck 2)`` and ``out ...``."""
    out = []
    for line in lines:
        (x1, y1), (x2, y2) = line.start_px, line.end_px
        out.append(f"{line.id} ({x1:g},{y1:g})-({x2:g},{y2:g})")
        per_dir = counts.get(line.id, {})
        for d in ("in", "out"):
            by_class = per_dir.get(d, {})
            detail = ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()) if v) or "-"
            out.append(f"  {d:<4}{sum(by_class.values()):>5}  ({detail})")
    return "\n".join(out) + "\n"


def count_video(
    video: Path, out_dir: Path, *, line_texts: list[str], detector_type: str | None = None,
    max_frames: int | None = None, annotate: bool = True, progress: TextIO | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> tuple[Any, list[Any], list[Any]]:  # fmt: skip
    """Count ``video``; returns (SourceResult, lines, crossings) and writes ``out_dir``'s files.

    ``annotate=False`` skips the video (timing comparisons); ``progress`` gets the progress lines
    and the note about a default line.
    """
    from datetime import datetime, timezone

    from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
    from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)  # any fixed time: time_s = wall - start
    config = VideoFileConfig(id=_source_id(video), path=video, start_wall=start)
    with VideoFileSource(config) as probe:  # the source's own checks and messages; frame size
        first = probe.read()
        total = probe.frame_count
    if first is None:
        from carbonedge.runtime.base.errors import DeviceError

        raise DeviceError(f"{video}: no frame could be decoded")
    height, width = first.shape_hw
    lines, note = build_lines(line_texts, width, height)
    detector = _create_detector(detector_type)  # a missing model: the model search's one line
    if note and progress is not None:
        progress.write(f"count: {note}\n")
    events: list[Any] = []
    camera = CameraPlan(lines=lines, annotate_path=out_dir / "annotated.mp4" if annotate else None)
    pipeline = SourcePipeline(
        device_id="count", source=VideoFileSource(config), detector=detector, camera=camera,
        interval_s=900.0, on_events=events.extend,
    )  # fmt: skip
    total = min(total, max_frames) if max_frames is not None and total else (max_frames or total)
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from carbonedge.runtime.base.errors import ConfigError

            raise ConfigError(f"--out {out_dir}: cannot make the folder ({exc})") from None
        detector.warmup()
        if progress is not None:
            with _Progress(pipeline, total, progress, progress_every_s):
                result = pipeline.run(max_frames=max_frames)
        else:
            result = pipeline.run(max_frames=max_frames)
    finally:
        detector.close()
    write_csv(out_dir / "crossings.csv", events, start.timestamp())
    return result, lines, events


def _source_id(video: Path) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", video.stem)[:60] or "video"


def _cmd_count(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.progress import progress_every_s

    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError("--max-frames must be at least 1")
    out_dir = args.out if args.out is not None else Path.cwd() / f"{_source_id(args.video)}-count"
    result, lines, events = count_video(
        args.video, out_dir, line_texts=args.line, detector_type=args.detector,
        max_frames=args.max_frames, progress=sys.stderr,
        progress_every_s=progress_every_s(PROGRESS_EVERY_S),
    )  # fmt: skip
    if result.error is not None:
        raise ConfigError(f"{args.video}: {result.error}")
    sys.stdout.write(
        f"{args.video}: {result.frames} frames in {result.elapsed_s:.1f} s "
        f"({result.fps:.1f} FPS), {len(events)} crossings\n\n"
    )
    sys.stdout.write(format_counts(lines, result.counts()))
    sys.stdout.write(f"\nannotated video: {out_dir / 'annotated.mp4'}\n"
                     f"crossings: {out_dir / 'crossings.csv'}\n")  # fmt: skip
    return 0
