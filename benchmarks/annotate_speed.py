"""Counting speed with and without the annotated video (issue 29): ``carbonedge run --annotate``.

Not a test and not a ``bench_*`` module (it runs the whole highway clip several times):

    CARBONEDGE_SHARED_DIR=../shared CARBONEDGE_MODEL_DIR=../shared/models \\
        python -m carbonedge.benchmarks.annotate_speed [--rounds 2] [--max-frames N]

Runs ``runtime/examples/highway.yaml`` (YOLOX-nano, the 320x240 60 fps highway clip) as ``run``
does, alternating plain and ``--annotate`` rounds in the same process, and prints the frames per
second of each, their ratio, the crossings (must be equal: drawing never changes the counting)
and how many frames the writer left out of the video.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from carbonedge.runtime.annotate_config import with_annotate_path
from carbonedge.runtime.cli import configure_process
from carbonedge.runtime.config import load_site_config
from carbonedge.runtime.site import Site

EXAMPLE = Path(__file__).resolve().parents[1] / "runtime" / "examples" / "highway.yaml"


def _one(config, annotate: Path | None, max_frames: int | None) -> tuple[float, int, int, int]:
    """(frames/s, crossings, frames written to the video, frames left out) of one run."""
    if annotate is not None:
        config = with_annotate_path(config, annotate)
    site = Site(config, max_frames=max_frames)
    (result,) = site.run()
    if result.error:
        raise SystemExit(f"run failed: {result.error}")
    written = result.frames - result.annotate_dropped if annotate is not None else 0
    return result.fps, result.crossings, written, result.annotate_dropped


def _writer_ms_per_frame(config, folder: Path, frames: int = 300) -> float:
    """What the writer thread spends per frame (draw 8 boxes, the line, the header; encode)."""
    import cv2
    import numpy as np

    from carbonedge.runtime.annotate_video import open_mp4
    from carbonedge.runtime.base.types import Detections
    from carbonedge.vision.annotate import annotate_frame

    camera = next(iter(config.cameras.values()))
    cap = cv2.VideoCapture(str(camera.source.path))
    images = [cap.read()[1] for _ in range(frames)]
    cap.release()
    xyxy = np.array([[20 + 35 * i, 60 + 10 * i, 60 + 35 * i, 100 + 10 * i] for i in range(8)],
                    np.float32)  # fmt: skip
    det = Detections(
        xyxy=xyxy,
        confidence=np.full(8, 0.8, np.float32),
        class_id=np.zeros(8, np.int32),
        tracker_id=np.arange(8, dtype=np.int64),
    )
    h, w = images[0].shape[:2]
    writer = open_mp4(folder / "cost.mp4", 60.0, w, h)
    t0 = time.perf_counter()
    for image in images:
        writer.write(
            annotate_frame(
                image,
                det,
                ("car",),
                lines=camera.lines,
                line_counts={},
                header="cam  frame 1  t 0.00 s",
            )
        )
    elapsed_s = time.perf_counter() - t0
    writer.release()
    return elapsed_s / len(images) * 1000.0


def main(argv: list[str] | None = None) -> int:
    configure_process()
    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks.annotate_speed")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows: dict[str, list[tuple[float, int, int, int]]] = {"plain": [], "--annotate": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = load_site_config(EXAMPLE)
        out = base.output.model_copy(update={"sqlite_path": Path(tmp) / "s.sqlite",
                                             "jsonl_path": None})  # fmt: skip
        health = base.health.model_copy(update={"enabled": False})
        config = base.model_copy(update={"output": out, "health": health})
        for i in range(args.rounds):
            for name in ("plain", "--annotate") if i % 2 == 0 else ("--annotate", "plain"):
                video = Path(tmp) / f"a{i}.mp4" if name == "--annotate" else None
                t0 = time.perf_counter()
                rows[name].append(_one(config, video, args.max_frames))
                print(f"round {i + 1} {name}: {rows[name][-1][0]:.1f} FPS "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)  # fmt: skip
        writer_ms = _writer_ms_per_frame(config, Path(tmp))
    print("\n| run | FPS (median) | crossings | video frames | left out of the video |")
    print("|---|---|---|---|---|")
    for name, runs in rows.items():
        fps = statistics.median(r[0] for r in runs)
        print(f"| {name} | {fps:.1f} | {runs[-1][1]} | {runs[-1][2] or '-'} | "
              f"{runs[-1][3] if name != 'plain' else '-'} |")  # fmt: skip
    ratio = statistics.median(r[0] for r in rows["--annotate"]) / statistics.median(
        r[0] for r in rows["plain"]
    )
    print(f"\n--annotate / plain frames per second: {ratio:.2f}")
    pipeline_ms = 1000.0 / statistics.median(r[0] for r in rows["plain"])
    print(
        f"writer thread: {writer_ms:.2f} ms per frame (draw + MP4 encode) vs the pipeline's "
        f"{pipeline_ms:.1f} ms per frame: {writer_ms / pipeline_ms:.0%} of a frame's time, on "
        "another thread"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
