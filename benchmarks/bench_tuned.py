"""Default and ``tune``d settings against the peer on every truth clip (issue 27):
``carbonedge bench --only tuned`` (or ``python -m carbonedge.benchmarks.bench_tuned``).

Per hand-counted truth clip of ``benchmarks/truth``:

1. ``carbonedge tune --truth`` (``runtime.tune.tune_camera``, tolerance 0, one timing pass) on
   the clip itself with its hand count, for a one-camera site that holds the truth file's lines
   and the DEFAULT detector: the reference is that detector on the whole frame at its full input
   size; the chosen settings are the fastest that make no more errors against the hand count
   (same line, direction and class within 1 s) than the reference does (``--reference-only``:
   the fastest that keep every reference crossing, as ``tune`` without a hand count). What was
   tried and chosen is printed per clip.
2. Three sides over the whole clip in this process, timed the way ``carbonedge audit`` times a
   clip (video decode, detection, tracking and counting; FPS = frames / wall seconds): ours with
   DEFAULT settings, ours with the tuned settings, and the peer pipeline of ``bench_accuracy``
   (YOLOX-nano 416 + NumPy decode + OpenCV NMS + trackers ByteTrack + supervision LineZone). Each
   side's crossings are scored against the truth (event F1). ``rounds`` rounds, the order of the
   sides reversed every other round; the FPS is the median, and each ratio is the median of the
   per-round ratios (the sides of one round ran back to back).

Read it this way: tune sees the clip it is then scored on, as a technician tunes on the camera's
own footage, so the tuned F1 is a development figure like every F1 here (the rules were chosen
on these clips). In-process figures; whole processes (``carbonedge run`` against the peer script)
are ``bench_user``'s, on the highway clip.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from carbonedge.benchmarks._harness import Row

logger = logging.getLogger(__name__)

TRUTH_DIR = Path(__file__).parent / "truth"
SIDES: tuple[str, ...] = ("default", "tuned", "peer")


@dataclass
class ClipRow:
    """One truth clip: each side's event score and FPS per round, and what tune chose."""

    truth: str
    true: int
    frames: int
    chosen: str
    chosen_detector: dict[str, Any]
    tune_speedup: float  # tune's own measure: chosen FPS / reference FPS
    reference_crossings: int
    f1: dict[str, float] = field(default_factory=dict)
    counted_matched: dict[str, tuple[int, int]] = field(default_factory=dict)
    fps: dict[str, list[float]] = field(default_factory=dict)

    def fps_median(self, side: str) -> float:
        return statistics.median(self.fps[side]) if self.fps.get(side) else 0.0

    def ratio(self, side: str, to: str = "peer") -> float:
        """Median over rounds of ``side`` FPS / ``to`` FPS (each round's sides back to back)."""
        pairs = [a / b for a, b in zip(self.fps[side], self.fps[to], strict=True) if b > 0]
        return statistics.median(pairs) if pairs else 0.0


def one_camera_site(
    camera_id: str, clip: Path, lines: list[dict[str, Any]], detector: dict[str, Any], folder: Path
) -> Any:
    """A validated ``SiteConfig`` of one camera: ``clip`` as a video file, ``lines`` (LineConfig
    mappings), ``detector``, the store in ``folder`` (what ``tune`` takes; no file written)."""
    from carbonedge.runtime.config import parse_site_config

    site = {
        "device_id": "bench",
        "detector": detector,
        "cameras": {camera_id: {"source": {"type": "video_file", "path": str(clip)},
                                "lines": lines}},
        "output": {"sqlite_path": str(folder / "out.sqlite"), "jsonl_path": None},
        "health": {"enabled": False},
    }  # fmt: skip
    return parse_site_config(site, origin=f"bench site for {clip.name}")


def site_for(truth: Any, clip: Path, folder: Path) -> Any:
    """The one-camera site of a truth file: its lines and the DEFAULT detector."""
    from carbonedge.vision.detectors.base import DEFAULT_DETECTOR

    lines = [line.model_dump(mode="json") for line in truth.lines]
    return one_camera_site("cam", clip, lines, dict(DEFAULT_DETECTOR), folder)


def _ours(clip: Path, truth: Any, detector: dict[str, Any] | None) -> tuple[Any, float]:
    """(audit report, wall s) of one pass of our pipeline over ``clip``."""
    from carbonedge.runtime.audit_traffic import audit_clip

    if detector is not None:
        truth = truth.model_copy(update={"detector": detector})
    t0 = time.perf_counter()
    report = audit_clip(clip, truth)
    return report, time.perf_counter() - t0


def _peer(clip: Path, truth: Any) -> tuple[Any, int, float]:
    """(event score, frames, wall s) of one pass of the peer pipeline over ``clip``."""
    from carbonedge.benchmarks.bench_accuracy import peer_crossings
    from carbonedge.runtime.audit_events import match_events
    from carbonedge.runtime.audit_traffic import truth_crossings

    t0 = time.perf_counter()
    crossings, frames, fps = peer_crossings(clip, truth)
    wall = time.perf_counter() - t0
    return match_events(truth_crossings(truth, fps), crossings), frames, wall


def measure_clip(
    path: Path, media: Path, rounds: int = 2, *, hand_count: bool = True
) -> ClipRow | None:
    """Tune on the clip of truth file ``path`` (scored by its hand count, or by the reference),
    then time and score the three sides; None for a truth file without a clip or vehicles."""
    from carbonedge.runtime.audit_traffic import load_truth
    from carbonedge.runtime.tune import truth_for_camera, tune_camera

    truth = load_truth(path)
    if truth.clip is None or truth.vehicles is None:
        return None
    clip = media / truth.clip
    with tempfile.TemporaryDirectory(prefix="carbonedge-bench-tuned-") as tmp:
        config = site_for(truth, clip, Path(tmp))
        standard = truth_for_camera(path, config, "cam", clip) if hand_count else None
        result = tune_camera(config, "cam", clip, tolerance=0, repeats=1, truth=standard)
    sys.stderr.write(f"tuned: {path.stem}\n{result.table()}\n\n")
    chosen = result.chosen.candidate
    row = ClipRow(path.name, len(truth.vehicles), result.frames, chosen.name,
                  chosen.detector, result.speedup(result.chosen),
                  len(result.reference.crossings))  # fmt: skip
    row.fps = {side: [] for side in SIDES}
    for r in range(rounds):
        for side in SIDES if r % 2 == 0 else tuple(reversed(SIDES)):
            if side == "peer":
                score, frames, wall = _peer(clip, truth)
                counted, matched, f1 = len(score.counted), score.matched, score.f1
            else:
                report, wall = _ours(clip, truth, None if side == "default" else chosen.detector)
                frames, ev = report.frames, report.events
                counted, matched, f1 = len(ev.counted), ev.matched, ev.f1
            row.fps[side].append(frames / wall if wall > 0 else 0.0)
            row.f1[side] = f1  # every pass of a side is deterministic: the last one's
            row.counted_matched[side] = (counted, matched)
    return row


def format_tuned(rows: list[ClipRow]) -> str:
    """Markdown: per clip each side's F1 (counted/matched) and FPS, the ratios, tune's pick."""
    out = [
        "### Default and tuned settings against the peer, per truth clip (in process; event F1 "
        "are development figures)",
        "",
        "| clip | true | F1 default | F1 tuned | F1 peer | FPS default | FPS tuned | FPS peer "
        "| default vs peer | tuned vs peer | tune chose (its speed-up, reference crossings) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    out += [row_line(row) for row in rows]
    if rows:
        sums = {s: [sum(r.counted_matched[s][i] for r in rows) for i in (0, 1)] for s in SIDES}
        true = sum(r.true for r in rows)
        f1 = []
        for s in SIDES:
            counted, matched = sums[s]
            f1.append(f"**{_f1(true, counted, matched):.3f}** ({counted}/{matched})")
        geo = [_geomean([r.ratio(s) for r in rows]) for s in ("default", "tuned")]
        out.append(f"| **all {len(rows)}** | {true} | {' | '.join(f1)} | | | | "
                   f"{geo[0]:.2f}x (geo. mean) | {geo[1]:.2f}x (geo. mean) | |")  # fmt: skip
        below = [Path(r.truth).stem for r in rows if r.f1["tuned"] < r.f1["default"]]
        out += ["", "Tuned F1 below the default's on: " + (", ".join(below) or "no clip")]
    return "\n".join(out)


def row_line(row: ClipRow) -> str:
    """One clip's row of :func:`format_tuned`'s table."""
    f1 = [f"{row.f1[s]:.3f} ({row.counted_matched[s][0]}/{row.counted_matched[s][1]})"
          for s in SIDES]  # fmt: skip
    fps = [f"{row.fps_median(s):.1f}" for s in SIDES]
    return (
        f"| {Path(row.truth).stem} | {row.true} | {' | '.join(f1)} | {' | '.join(fps)} | "
        f"{row.ratio('default'):.2f}x | {row.ratio('tuned'):.2f}x | {row.chosen} "
        f"({row.tune_speedup:.2f}x, {row.reference_crossings}) |"
    )


def _f1(true: int, counted: int, matched: int) -> float:
    return 2.0 * matched / (true + counted) if true + counted else 1.0


def _geomean(values: list[float]) -> float:
    good = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in good) / len(good)) if good else 0.0


def run(quick: bool = False) -> list[Row]:
    """``carbonedge bench``: every truth clip (tens of minutes); nothing under ``--quick``."""
    from carbonedge.runtime.audit_folder import default_media_dir

    media = default_media_dir()
    if quick:
        sys.stdout.write("tuned: skipped with --quick (run `carbonedge bench --only tuned`)\n\n")
        return []
    if not media.is_dir():
        sys.stdout.write(f"tuned: no clips at {media} (set CARBONEDGE_SHARED_DIR): skipped\n\n")
        return []
    rows = measure_folder(TRUTH_DIR, media)
    sys.stdout.write(format_tuned(rows) + "\n\n")
    sys.stdout.flush()
    return []


def measure_folder(
    folder: Path, media: Path, only: str = "", rounds: int = 2, *, hand_count: bool = True
) -> list[ClipRow]:
    rows = []
    for path in sorted(folder.glob("*.yaml")):
        if only in path.name:
            row = measure_clip(path, media, rounds, hand_count=hand_count)
            if row is not None:
                rows.append(row)
                sys.stderr.write(row_line(row) + "\n")  # progress: the clip's row
    return rows


def main(argv: list[str] | None = None) -> int:
    from carbonedge.runtime.audit_folder import default_media_dir
    from carbonedge.runtime.cli import configure_process

    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks.bench_tuned")
    parser.add_argument("--only", default="", help="truth files whose name contains this")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of the three sides")
    parser.add_argument("--media", type=Path, default=None, help="folder of the clips")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--reference-only",
        action="store_true",
        help="tune without the hand count (the reference is the standard)",
    )
    args = parser.parse_args(argv)
    configure_process()
    rows = measure_folder(TRUTH_DIR, args.media or default_media_dir(), args.only, args.rounds,
                          hand_count=not args.reference_only)  # fmt: skip
    sys.stdout.write(format_tuned(rows) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
