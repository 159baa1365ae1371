"""Diagnostics for the end-to-end benchmark (``bench_e2e``): where our non-model time goes, and how
many camera streams one box keeps up with.

    python -m carbonedge.benchmarks.e2e_diagnose --stages       # wall time per pipeline stage
    python -m carbonedge.benchmarks.e2e_diagnose --default-stages  # the DEFAULT pipeline's stages
    python -m carbonedge.benchmarks.e2e_diagnose --profile      # cProfile, top functions
    python -m carbonedge.benchmarks.e2e_diagnose --multistream  # streams at 10 FPS sustained
    python -m carbonedge.benchmarks.e2e_diagnose --spinning     # onnxruntime spin-wait on vs off

Same model, clip and session settings as ``bench_e2e`` (YOLOX whole-frame, pinned); nothing here is
run by the benchmark suite. ``--default-stages`` instead times what ``carbonedge run`` builds with
default settings (PicoDet, learned crop, light profiles, road classes...), per stage, main-thread
CPU and wall time, on the 320x240 highway clip and a 1280x720 clip: ``bench_nonmodel``.
"""

from __future__ import annotations

import logging
import os

from carbonedge.benchmarks.bench_e2e import CallTimer, OursE2E, shared_paths


def profile_ours(max_frames: int, top: int) -> str:
    """cProfile of one pass of our pipeline: the functions with the most own time (``tottime``).

    cProfile adds a fixed cost to every Python call, so Python-heavy stages look heavier than they
    are; the ranking, not the absolute time, is the point. ``session.run`` (the model) is listed
    too, as the yardstick.
    """
    import cProfile
    import io
    import pstats

    paths = shared_paths()
    if paths is None:
        return "no model/clip: nothing profiled"
    ours = OursE2E(*paths)
    ours.run(30)
    profiler = cProfile.Profile()
    profiler.enable()
    result = ours.run(max_frames)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    ms = result.per_frame_ms
    head = (
        f"{result.frames} frames under cProfile: {ms(result.total_s):.2f} ms/frame, model "
        f"{ms(result.model_s):.2f}, non-model {ms(result.non_model_s):.2f}, source reads "
        f"{ms(result.read_s):.2f}\n"
    )
    return head + text.getvalue()


def _stage_hooks() -> list[tuple[str, object, str]]:
    """(label, owner, attribute) of the per-frame stages of our pipeline, for ``stage_times``."""
    from carbonedge.runtime.summary import IntervalAggregator
    from carbonedge.vision.analytics.kinematics import Kinematics
    from carbonedge.vision.analytics.scene import SceneAnalytics
    from carbonedge.vision.analytics.unclip import BorderUnclipper
    from carbonedge.vision.counting.line import LineCounter
    from carbonedge.vision.detectors.yolox import YoloxDetector
    from carbonedge.vision.tracking.bytetrack import ByteTrack

    return [
        ("detector.detect (all of it)", YoloxDetector, "detect"),
        ("  preprocess (letterbox_chw)", YoloxDetector, "_preprocess"),
        ("  decode + NMS (decode_nms_yolox)", YoloxDetector, "_decode_nms"),
        ("ByteTrack.update", ByteTrack, "update"),
        ("SceneAnalytics.update (all of it)", SceneAnalytics, "update"),
        ("  Kinematics.update (speeds)", Kinematics, "update"),
        ("  BorderUnclipper.apply", BorderUnclipper, "apply"),
        ("  LineCounter.update", LineCounter, "update"),
        ("SceneAnalytics.forget", SceneAnalytics, "forget"),
        ("IntervalAggregator.add_frame", IntervalAggregator, "add_frame"),
    ]


def stage_times(max_frames: int, *, cpu: bool = False) -> str:
    """Wall time per frame of each stage of one pass of ours (wrapped calls, no profiler);
    "everything else" is the rest of the main thread's time: the frame hand-off from the decode
    thread, the pipeline's own bookkeeping, Python call overhead. ``cpu``: the stages' main-thread
    CPU time instead (steadier while neighbours load the box; the first line stays wall time)."""
    import time

    paths = shared_paths()
    if paths is None:
        return "no model/clip: nothing measured"
    ours = OursE2E(*paths)
    ours.run(30)
    hooks = _stage_hooks()
    timers = [CallTimer(time.thread_time if cpu else time.perf_counter) for _ in hooks]
    saved = [getattr(owner, attr) for _, owner, attr in hooks]
    for timer, (_, owner, attr), original in zip(timers, hooks, saved, strict=True):
        setattr(owner, attr, timer.wrap(original))
    try:
        result = ours.run(max_frames)
    finally:
        for (_, owner, attr), original in zip(hooks, saved, strict=True):
            setattr(owner, attr, original)
    ms = result.per_frame_ms
    kind = "main-thread CPU time" if cpu else "wall time"
    lines = [
        f"{result.frames} frames: total {ms(result.total_s):.2f} ms/frame ({result.fps:.1f} FPS), "
        f"model (session.run) {ms(result.model_s):.2f}, non-model {ms(result.non_model_s):.2f}; "
        f"source reads {ms(result.read_s):.2f} (on the decode thread when it overlaps)",
        f"{'stage (' + kind + ' in the call)':<40} {'ms/frame':>9}",
    ]
    labels = [label for label, _, _ in hooks]
    lines += [f"{label:<40} {ms(t.seconds):>9.3f}" for label, t in zip(labels, timers, strict=True)]
    if cpu:  # session.run's own time is wall time: only the listed stages add up
        staged_s = sum(t.seconds for t in timers[1:3]) + sum(
            t.seconds for label, t in zip(labels[3:], timers[3:], strict=True) if label[0] != " "
        )
        lines.append(f"{'sum of the stages but the model':<40} {ms(staged_s):>9.3f}")
        return "\n".join(lines) + "\n"
    detect_rest_s = timers[0].seconds - result.model_s - sum(t.seconds for t in timers[1:3])
    top_level_s = sum(t.seconds for label, t in zip(labels, timers, strict=True) if label[0] != " ")
    lines += [
        f"{'  rest of detect (Detections, checks)':<40} {ms(detect_rest_s):>9.3f}",
        f"{'everything else on the main thread':<40} {ms(result.total_s - top_level_s):>9.3f}",
    ]
    return "\n".join(lines) + "\n"


# --- onnxruntime's spinning thread pool ---------------------------------------------------------
def spinning_comparison(max_frames: int, pairs: int) -> list[str]:
    """Ours and the peer, each with onnxruntime's intra-op threads spinning (its default) and not
    (``session.intra_op.allow_spinning = 0``), all four passes interleaved: a spinning worker
    keeps a core busy after ``session.run`` returns, which on a 2-core box slows whatever runs
    next (our pre/post-processing, the neighbours)."""
    import statistics
    import time

    import onnxruntime as ort

    from carbonedge.benchmarks.bench_e2e import PeerE2E, interleaved

    paths = shared_paths()
    if paths is None:
        return ["no model/clip: nothing measured"]
    original = ort.SessionOptions
    sides: list = []
    try:
        for spin in ("1", "0"):

            class Options(original):  # type: ignore[misc,valid-type]
                def __init__(self, spin: str = spin) -> None:
                    super().__init__()
                    self.add_session_config_entry("session.intra_op.allow_spinning", spin)

            ort.SessionOptions = Options  # type: ignore[misc]
            peer = PeerE2E(*paths)
            peer.name = f"peer, spinning={spin}"
            sides += [OursE2E(*paths, name=f"ours, spinning={spin}"), peer]
    finally:
        ort.SessionOptions = original  # type: ignore[misc]
    for side in sides:
        side.run(30)
    load = os.getloadavg()[0]
    passes = interleaved(sides, max_frames, pairs)
    lines = [f"{time.strftime('%H:%M:%S')} load avg {load:.1f} -> {os.getloadavg()[0]:.1f}"]
    for name, runs in passes.items():
        ms = [p.per_frame_ms(p.non_model_s) for p in runs]
        model = [p.per_frame_ms(p.model_s) for p in runs]
        lines.append(
            f"{name:<22} FPS {statistics.median(p.fps for p in runs):6.1f} "
            f"({', '.join(f'{p.fps:.0f}' for p in runs)}), non-model ms "
            f"{statistics.median(ms):.2f}, model ms {statistics.median(model):.2f}, counts "
            f"{'/'.join(str(p.count) for p in runs)}"
        )
    return lines


# --- several streams at a fixed frame rate ------------------------------------------------------
def streams_trial(ours: OursE2E, streams: int, fps: float, duration_s: float) -> list[float]:
    """``streams`` copies of the clip, each paced to ``fps`` (``realtime``), each through its own
    ``SourcePipeline`` on its own thread with the one shared detector; each stream's lag in
    seconds: how much longer its run took than its frames last as video."""
    import threading
    import time

    from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource

    lags_s: list[float] = [float("inf")] * streams
    frames = round(fps * duration_s)

    def one(k: int) -> None:
        pipeline = ours.pipeline()
        pipeline.source = VideoFileSource(
            VideoFileConfig(id=f"s{k}", path=ours.clip, fps=fps, realtime=True)
        )
        t0 = time.perf_counter()
        result = pipeline.run(max_frames=frames)
        lags_s[k] = time.perf_counter() - t0 - (result.frames - 1) / fps

    threads = [threading.Thread(target=one, args=(k,)) for k in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return lags_s


def sustained_streams(
    *,
    fps: float = 10.0,
    duration_s: float = 20.0,
    max_lag_s: float = 1.0,
    max_streams: int = 32,
    ours: OursE2E | None = None,
) -> tuple[int, list[str]]:
    """How many streams at ``fps`` the box keeps up with: a trial passes when no stream ended more
    than ``max_lag_s`` behind its video time after ``duration_s`` (a stream that cannot keep up
    falls behind steadily: 5 % short of ``fps`` is 1 s over 20 s); doubling, then bisection.
    Returns the sustained count (0: none measured) and one line per trial. (Each stream replays
    the 60 fps clip as a 10 fps camera.)"""
    if ours is None:
        paths = shared_paths()
        if paths is None:
            return 0, ["no model/clip: nothing measured"]
        ours = OursE2E(*paths)
        ours.run(30)
    lines: list[str] = []

    def passes(k: int) -> bool:
        ours.model_timer.seconds = 0.0
        lags_s = streams_trial(ours, k, fps, duration_s)
        ok = max(lags_s) <= max_lag_s
        in_flight = ours.model_timer.seconds / (duration_s + max(lags_s))  # calls overlap
        lines.append(
            f"{k:>3} streams at {fps:g} FPS for {duration_s:g} s: lag {min(lags_s):.2f}-"
            f"{max(lags_s):.2f} s, session.run calls in flight {in_flight:.1f} on average, "
            f"load avg "
            f"{os.getloadavg()[0]:.1f}: {'kept up' if ok else 'fell behind'}"
        )
        return ok

    good, bad = 0, None
    k = 1
    while k <= max_streams and passes(k):
        good, k = k, k * 2
    bad = min(k, max_streams + 1)
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if passes(mid) else (good, mid)
    lines.append(f"sustained: {good} streams of 320x240 at {fps:g} FPS")
    return good, lines


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from carbonedge.runtime.cli import configure_process

    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks.e2e_diagnose")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--stages", action="store_true", help="time each stage of one pass of ours")
    what.add_argument("--profile", action="store_true", help="cProfile one pass of ours")
    what.add_argument(
        "--default-stages", action="store_true", help="the default pipeline's non-model time"
    )
    what.add_argument(
        "--multistream", action="store_true", help="how many 10 FPS streams this box sustains"
    )
    what.add_argument(
        "--spinning", action="store_true", help="onnxruntime thread spinning on vs off, both sides"
    )
    parser.add_argument("--pairs", type=int, default=3, help="repetitions (--spinning)")
    parser.add_argument(
        "--frames", type=int, default=1_000_000, help="frames (--stages, --profile)"
    )
    parser.add_argument("--top", type=int, default=30, help="functions listed by --profile")
    parser.add_argument(
        "--cpu", action="store_true", help="--stages: main-thread CPU time instead of wall time"
    )
    args = parser.parse_args(argv)
    configure_process()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.default_stages:
        from carbonedge.benchmarks import bench_nonmodel

        return bench_nonmodel.main(["--stages", "--frames", str(args.frames)])
    if args.profile:
        sys.stdout.write(profile_ours(args.frames, args.top))
    elif args.stages:
        sys.stdout.write(stage_times(args.frames, cpu=args.cpu))
    elif args.spinning:
        frames = min(args.frames, 600)
        sys.stdout.write("\n".join(spinning_comparison(frames, args.pairs)) + "\n")
    else:
        for line in sustained_streams()[1]:
            sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
