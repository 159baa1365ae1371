"""The headline of ``carbonedge bench``: our pipeline vs the peer's, end to end, in one table.

One run measures, on the highway clip and the YOLOX-nano model of ``bench_e2e`` (same session
options on both sides, passes interleaved, the order flipped every pair):

- end-to-end FPS ratio (median pair) with both line counts against the hand count (27; the
  quick run's 400 frames: 4), so the ratio is read at equal counting accuracy;
- non-model ms per frame (everything outside ``session.run``) and model ms, ours and peer;
- end-to-end FPS ratio with the settings ``carbonedge tune`` chose on the clip's frames of the run
  (YOLOX-nano family; the note names the choice, and warns when tune saw under 10 crossings);
- INT8 vs FP32 (ours, the same pipeline): FPS ratio and line-count difference; the INT8 model
  is quantized once on frames of the clip (``vision/quantize.py``) and cached;
- streams per box: 320x240 streams at 10 FPS sustained (``e2e_diagnose.sustained_streams``);
- peak RSS and start-up time (process start to the first frame handled, and to ``--help``),
  each side in a fresh process of its own.

Ratios are the headline; the machine line gives the CPU, cores, load average and versions, as
absolute times on a shared box move with the neighbours' load.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from carbonedge.benchmarks import bench_e2e
from carbonedge.benchmarks.bench_e2e import OursE2E, PassTimes, PeerE2E

logger = logging.getLogger(__name__)


#: Detector fields of ``carbonedge tune``'s choice that the tuned row carries over to its pipeline
#: (the model, classes, threshold and session stay those of every other row).
TUNED_FIELDS: tuple[str, ...] = ("input_hw", "input_fit", "roi", "roi_margin_px", "detect_fps")


@dataclass(frozen=True)
class Settings:
    """How much of each measurement one run does."""

    e2e_frames: int  # frames of the clip per pass (the clip has 1699)
    pairs: int  # interleaved (ours, peer) pairs of passes
    int8: bool = True
    stream_duration_s: float = 20.0
    max_streams: int = 32
    footprint_frames: int = 1_000_000  # frames per start-up/RSS child process
    tune: bool = True  # the tuned row: settings chosen by `carbonedge tune` on the clip

    @classmethod
    def for_run(cls, quick: bool) -> Settings:
        if quick:
            return cls(e2e_frames=400, pairs=3, stream_duration_s=6.0, footprint_frames=400)
        return cls(e2e_frames=1_000_000, pairs=3)


@dataclass(frozen=True)
class Metric:
    """One headline row: what, ours, the peer's, ours vs peer (> 1: ours better), details."""

    metric: str
    ours: str
    peer: str
    ratio: float | None
    note: str


def machine_info() -> dict[str, object]:
    """CPU model, cores, load average and the versions that set the speed."""
    import numpy
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
    }


def _median_ratio(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _count_note(name: str, passes: list[PassTimes]) -> str:
    return f"{name} {'/'.join(str(p.count) for p in passes)}"


def e2e_metrics(ours: OursE2E, peer: PeerE2E, s: Settings) -> list[Metric]:
    """FPS, non-model and model ms per frame, ours vs peer, from interleaved pairs of passes."""
    passes = bench_e2e.interleaved([ours, peer], s.e2e_frames, s.pairs)
    o, p = passes[ours.name], passes[peer.name]
    frames, truth = o[0].frames, bench_e2e.truth_before(o[0].frames)
    fps_ratio = _median_ratio([a.fps / b.fps for a, b in zip(o, p, strict=True)])
    counts = f"count {_count_note('ours', o)}, {_count_note('peer', p)}, hand count {truth}"
    same = all(a.count == b.count for a, b in zip(o, p, strict=True))
    nm_o = [a.per_frame_ms(a.non_model_s) for a in o]
    nm_p = [b.per_frame_ms(b.non_model_s) for b in p]
    md_o = [a.per_frame_ms(a.model_s) for a in o]
    md_p = [b.per_frame_ms(b.model_s) for b in p]
    overlap = "video decode on the prefetch thread" if all(a.reads_off_main for a in o) else (
        "video decode NOT on the prefetch thread"
    )  # fmt: skip
    head = f"highway 320x240, {frames} frames, {s.pairs} pairs"
    return [
        Metric(
            "end-to-end FPS (median pair ratio)",
            f"{statistics.median(a.fps for a in o):.1f}",
            f"{statistics.median(b.fps for b in p):.1f}",
            fps_ratio,
            f"{head}; {counts}; {'equal counts' if same else 'counts differ'}",
        ),
        Metric(
            "non-model ms/frame",
            f"{statistics.median(nm_o):.2f}",
            f"{statistics.median(nm_p):.2f}",
            _median_ratio([b / a for a, b in zip(nm_o, nm_p, strict=True) if a > 0]),
            f"everything outside session.run; ours {min(nm_o):.2f}-{max(nm_o):.2f}, peer "
            f"{min(nm_p):.2f}-{max(nm_p):.2f}; {overlap}",
        ),
        Metric(
            "model ms/frame (session.run)",
            f"{statistics.median(md_o):.2f}",
            f"{statistics.median(md_p):.2f}",
            _median_ratio([b / a for a, b in zip(md_o, md_p, strict=True) if a > 0]),
            f"same model and session options ({bench_e2e.INTRA_OP_THREADS} threads) on both sides",
        ),
    ]


def _int8_model(model: Path, clip: Path, detector) -> Path:
    """The INT8 model of ``model``, quantized on 32 frames spread over ``clip`` (cached): the one
    ``bench_model`` measures when it is there, else with ``quantize_model``'s defaults."""
    import numpy as np

    try:
        from carbonedge.benchmarks.bench_model import _int8_model as model_bench_int8
    except ImportError:
        model_bench_int8 = None
    if model_bench_int8 is not None:
        return model_bench_int8(model, clip, detector)
    from carbonedge.runtime.model_check import read_frames
    from carbonedge.vision.detectors.model_variants import variant_path
    from carbonedge.vision.quantize import quantize_model

    h, w = detector.input_hw
    out = variant_path(model, f"{h}x{w}-int8-qdq-u8s8")
    if out.is_file():
        return out
    frames = read_frames(clip, 32, step=max(1, 1699 // 32))
    tensors = [np.array(detector._preprocess(image)[0]) for image in frames]
    return quantize_model(model, tensors, out, input_hw=(h, w))


def tune_highway(model: Path, clip: Path, frames: int) -> tuple[dict[str, object], str]:
    """``carbonedge tune`` on the first ``frames`` of the clip, for a one-camera site with the
    headline's YOLOX-nano model and the clip's truth line: (the chosen settings among
    ``TUNED_FIELDS``, a note naming the choice and its speed-up over tune's reference)."""
    import tempfile

    from carbonedge.benchmarks.bench_tuned import one_camera_site
    from carbonedge.runtime.tune import tune_camera
    from carbonedge.runtime.tune_result import FEW_CROSSINGS

    y = bench_e2e.LINE_Y_PX
    line = {"id": "y150", "start_px": [0, y], "end_px": [320, y]}
    detector = {"type": "yolox", "model": str(model),
                "session": {"intra_op_threads": bench_e2e.INTRA_OP_THREADS}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="carbonedge-headline-tune-") as tmp:
        config = one_camera_site("highway", clip, [line], detector, Path(tmp))
        result = tune_camera(config, "highway", clip, max_frames=frames, repeats=1, models=1)
    chosen = result.chosen
    settings = {k: chosen.candidate.detector[k] for k in TUNED_FIELDS
                if k in chosen.candidate.detector}  # fmt: skip
    crossings = len(result.reference.crossings)
    note = (f"`carbonedge tune` on {result.frames} frames chose {chosen.candidate.name} "
            f"({result.speedup(chosen):.2f}x its reference, {chosen.matched} of {crossings} "
            f"reference crossings kept)")  # fmt: skip
    if crossings < FEW_CROSSINGS:  # what tune's own table warns about
        note += (
            f"; WARNING: {crossings} reference crossings are too few to tell the candidates "
            f"apart (tune warns under {FEW_CROSSINGS}): the full run tunes on the whole clip"
        )
    return settings, note


def tuned_metric(peer: PeerE2E, model: Path, clip: Path, s: Settings) -> Metric | None:
    """End-to-end FPS of ours with the settings ``carbonedge tune`` chose on the clip (the
    YOLOX-nano model of every row, one model family) vs the peer as published."""
    if not s.tune:
        return None
    try:
        settings, how = tune_highway(model, clip, s.e2e_frames)
        tuned = OursE2E(model, clip, name="tuned", **settings)
    except Exception as exc:  # noqa: BLE001 - a variant needs optional tools (onnx); say why
        logger.warning("tuned row not measured: %s", exc)
        return Metric("end-to-end FPS, ours tuned", "not measured", "", None, str(exc)[:160])
    tuned.run(30)
    passes = bench_e2e.interleaved([tuned, peer], s.e2e_frames, s.pairs)
    o, p = passes["tuned"], passes[peer.name]
    truth = bench_e2e.truth_before(o[0].frames)
    return Metric(
        "end-to-end FPS, ours tuned (median pair ratio)",
        f"{statistics.median(a.fps for a in o):.1f}",
        f"{statistics.median(b.fps for b in p):.1f}",
        _median_ratio([a.fps / b.fps for a, b in zip(o, p, strict=True)]),
        f"ours {', '.join(f'{k}={v}' for k, v in settings.items())}: {how}; peer as published "
        f"(416); count {_count_note('ours', o)}, {_count_note('peer', p)}, hand count {truth}; "
        f"non-model ms ours {statistics.median(a.per_frame_ms(a.non_model_s) for a in o):.2f}",
    )


def int8_metric(fp32: OursE2E, model: Path, clip: Path, s: Settings) -> Metric:
    """INT8 vs FP32 on our pipeline: FPS ratio (median pair) and the line-count difference."""
    name = "INT8 vs FP32 FPS (ours)"
    if not s.int8:
        return Metric(name, "not measured", "", None, "skipped in this run")
    try:
        int8 = OursE2E(_int8_model(model, clip, fp32.detector), clip, name="int8")
    except Exception as exc:  # noqa: BLE001 - quantization needs optional tools; report why
        logger.warning("INT8 not measured: %s", exc)
        return Metric(name, "not measured", "", None, f"{type(exc).__name__}: {exc}"[:160])
    int8.run(30)
    passes = bench_e2e.interleaved([int8, fp32], s.e2e_frames, s.pairs)
    q, f = passes["int8"], passes[fp32.name]
    ratio = _median_ratio([a.fps / b.fps for a, b in zip(q, f, strict=True)])
    diff = statistics.median(a.count - b.count for a, b in zip(q, f, strict=True))
    model_ratio = _median_ratio([b.model_s / a.model_s for a, b in zip(q, f, strict=True)])
    return Metric(
        name,
        f"INT8 {statistics.median(a.fps for a in q):.1f} FPS",
        f"FP32 {statistics.median(b.fps for b in f):.1f} FPS",
        ratio,
        f"count INT8 - FP32 {diff:+g} ({_count_note('INT8', q)}, {_count_note('FP32', f)}, "
        f"hand count {bench_e2e.truth_before(q[0].frames)}); session.run ratio "
        f"{model_ratio:.2f}x; QDQ per-channel U8S8, 32 frames of the clip",
    )


def streams_metric(ours: OursE2E, s: Settings) -> Metric:
    """320x240 streams at 10 FPS that one box sustains (one shared detector)."""
    from carbonedge.benchmarks.e2e_diagnose import sustained_streams

    max_lag_s = max(0.5, 0.05 * s.stream_duration_s)  # 5 % short of 10 FPS fails
    good, lines = sustained_streams(
        duration_s=s.stream_duration_s, max_lag_s=max_lag_s, max_streams=s.max_streams, ours=ours
    )
    trials = "; ".join(line.split(", session.run")[0].strip() for line in lines[:-1])
    return Metric(
        "streams per box (320x240 at 10 FPS)",
        str(good),
        "",
        None,
        f"trials of {s.stream_duration_s:g} s, pass = lag <= {max_lag_s:g} s: {trials}",
    )


# --- start-up time and peak RSS, each side in a fresh process ----------------------------------
def _child(side: str, frames: int) -> int:
    """In a fresh process: build one side, run ``frames`` frames; print a JSON line with the
    wall-clock time the first frame was handled, the count and the peak RSS."""
    from carbonedge.runtime.cli import configure_process

    configure_process()
    paths = bench_e2e.shared_paths()
    if paths is None:
        return 2
    first: list[float] = []
    runner = OursE2E(*paths) if side == "ours" else PeerE2E(*paths)
    result = runner.run(frames, on_first_frame=lambda: first.append(time.time()))
    rss_mb = _peak_rss_mb()
    out = {"first_frame_wall_s": first[0] if first else None, "frames": result.frames,
           "count": result.count, "peak_rss_mb": rss_mb}  # fmt: skip
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MB: ``VmHWM`` (Linux; ``ru_maxrss`` would also
    count the parent's pages shared at fork), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, else KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _run_child(side: str, frames: int) -> dict:
    cmd = [sys.executable, "-m", "carbonedge.benchmarks.headline", "--child", side, str(frames)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} child failed: {proc.stderr.strip()[-300:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["startup_s"] = out["first_frame_wall_s"] - t0
    return out


def _help_s(repeats: int = 3) -> float:
    """Best wall time of ``carbonedge --help`` in a fresh process."""
    exe = shutil.which("carbonedge")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "carbonedge.runtime.cli", "--help"]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, timeout=120)
        best = min(best, time.perf_counter() - t0)
    return best


def footprint_metrics(s: Settings) -> list[Metric]:
    """Start-up to the first frame and peak RSS of each side, each in its own process."""
    ours, peer = _run_child("ours", s.footprint_frames), _run_child("peer", s.footprint_frames)
    frames = f"{ours['frames']} frames, count ours {ours['count']} peer {peer['count']}"
    return [
        Metric(
            "peak RSS MB (whole process)",
            f"{ours['peak_rss_mb']:.0f}",
            f"{peer['peak_rss_mb']:.0f}",
            peer["peak_rss_mb"] / ours["peak_rss_mb"],
            f"VmHWM of a fresh process running {frames}",
        ),
        Metric(
            "start-up s (process start to first frame handled)",
            f"{ours['startup_s']:.2f}",
            f"{peer['startup_s']:.2f}",
            peer["startup_s"] / ours["startup_s"],
            "imports, model load and warm-up, first frame tracked and counted",
        ),
        Metric("start-up s (carbonedge --help)", f"{_help_s():.2f}", "", None, "best of 3"),
    ]


# --- the table -----------------------------------------------------------------------------------
def collect(settings: Settings) -> dict[str, object] | None:
    """Every headline metric in one run; None (logged) when the model or clip is missing."""
    paths = bench_e2e.shared_paths()
    if paths is None:
        return None
    machine = machine_info()
    ours, peer = OursE2E(*paths), PeerE2E(*paths)
    for side in (ours, peer):
        side.run(30)  # warm-up: Numba caches, first-call allocations, the decoder
    metrics = e2e_metrics(ours, peer, settings)
    tuned = tuned_metric(peer, *paths, settings)
    if tuned is not None:
        metrics.append(tuned)
    metrics.append(int8_metric(ours, *paths, settings))
    metrics.append(streams_metric(ours, settings))
    metrics += footprint_metrics(settings)
    machine["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return {"machine": machine, "settings": asdict(settings),
            "metrics": [asdict(m) for m in metrics]}  # fmt: skip


def format_headline(result: dict[str, object]) -> str:
    """Markdown: one machine line, then one row per metric (ratio > 1: ours better)."""
    m = result["machine"]
    assert isinstance(m, dict)
    lines = [
        f"machine: {m['cpu']}, {m['usable_cores']} usable of {m['logical_cores']} logical cores, "
        f"load avg {m['load_avg_1m']} -> {m.get('load_avg_1m_after', '?')}, "
        f"onnxruntime {m['onnxruntime']}, numpy {m['numpy']}, Python {m['python']}",
        "",
        "| metric | ours | peer | ours vs peer | note |",
        "|---|---:|---:|---:|---|",
    ]
    for row in result["metrics"]:  # type: ignore[union-attr]
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(
            f"| {row['metric']} | {row['ours']} | {row['peer']} | {ratio} | {row['note']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m carbonedge.benchmarks.headline [--quick] [--json FILE]`` (and the children)."""
    import argparse

    from carbonedge.runtime.cli import configure_process

    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks.headline")
    parser.add_argument("--quick", action="store_true", help="400 frames, short stream trials")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], int(args.child[1]))
    configure_process()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    result = collect(Settings.for_run(args.quick))
    if result is None:
        sys.stdout.write("headline: no model/clip, nothing measured\n")
        return 0
    sys.stdout.write(format_headline(result) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
