"""The ``carbonedge`` command: run, check, demo, doctor, bench. The only place that sets up logging.

Every expected failure (bad config, missing model, unreadable video) ends with one line on stderr,
``carbonedge: error: ...``, and exit status 2; no traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from carbonedge.runtime import __version__
from carbonedge.runtime.base.errors import CarbonEdgeError, ConfigError

# Subcommands that live next to the code they drive. Each module has
# ``register(subparsers)``, which adds its parser and sets ``handler=fn(args) -> int``; keep the
# module's heavy imports inside the handler so ``carbonedge --help`` stays fast.
_COMMAND_MODULES: tuple[str, ...] = (
    "carbonedge.runtime.audit_cli",
    "carbonedge.runtime.uplink.cli",
    "carbonedge.emissions.cli",
    "carbonedge.runtime.report",
    "carbonedge.runtime.calibrate.cli",
    "carbonedge.runtime.uplink.hj212.cli",
    "carbonedge.runtime.quantize_cli",
    "carbonedge.runtime.config_cli",
    "carbonedge.runtime.count_cli",
    "carbonedge.runtime.export_cli",
    "carbonedge.runtime.tune_cli",
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="carbonedge", description="Edge runtime for city carbon monitoring."
    )
    p.add_argument("--version", action="version", version=f"carbonedge {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    p.add_argument("--debug", action="store_true", help="log everything and show tracebacks")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a site config until its sources end or SIGTERM")
    run.add_argument("config", type=Path)
    run.add_argument("--max-frames", type=int, default=None, help="stop each source after N frames")
    run.add_argument(
        "--annotate", type=Path, default=None, metavar="OUT.mp4",
        help="also write an annotated MP4 (several cameras: OUT.<camera>.mp4); drawn on its own "
        "thread, frames it cannot keep up with are left out of the video, never out of the counts",
    )  # fmt: skip
    check = sub.add_parser(
        "check", help="validate a site config, open every model and source, report each; exit 1 "
        "if any failed"
    )  # fmt: skip
    check.add_argument("config", type=Path)
    check.add_argument("--config-only", action="store_true",
                       help="only validate the config (open no model or source)")  # fmt: skip
    demo = sub.add_parser("demo", help="run the slice on the built-in synthetic scene (or --video)")
    demo.add_argument("--video", type=Path, default=None, help="real footage; uses the YOLOX model")
    demo.add_argument("--line-y", type=float, default=None, help="counting line row in px (video)")
    demo.add_argument("--model", default="yolox_nano_416.onnx", help="model for --video")
    demo.add_argument("--duration-s", type=float, default=60.0, help="synthetic scene length")
    demo.add_argument("--out", type=Path, default=Path("carbonedge-out"), help="output folder")
    sub.add_parser("doctor", help="show compiled kernels, onnxruntime and the models found")
    bench = sub.add_parser(
        "bench", help="headline vs the peer pipeline, then each kernel vs its reference"
    )
    bench.add_argument("--quick", action="store_true", help="fewer, smaller cases")
    bench.add_argument("--only", default="", help="only benchmark modules whose name contains this")
    bench.add_argument("--no-headline", action="store_true", help="kernel tables only")
    bench.add_argument("--skip", action="append", default=[],
                       help="leave out this bench module (repeatable)")  # fmt: skip
    bench.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from carbonedge.runtime.config import load_site_config
    from carbonedge.runtime.progress import Progress
    from carbonedge.runtime.site import Site
    from carbonedge.runtime.store.quarantine import open_or_quarantine
    from carbonedge.runtime.uplink.forwarder import start_forwarder
    from carbonedge.runtime.uplink.hj212.link import start_link
    from carbonedge.runtime.uplink.live_events import start_live_events

    config = load_site_config(args.config)
    if args.annotate is not None:
        from carbonedge.runtime.annotate_config import with_annotate_path

        if args.annotate.suffix.lower() != ".mp4":
            raise ConfigError(f"--annotate {args.annotate}: expected a .mp4 file name")
        config = with_annotate_path(config, args.annotate)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # finish the frame, flush the interval, exit
    open_or_quarantine(config.output.sqlite_path)  # corrupt: moved aside, a fresh one started
    site = Site(config, max_frames=args.max_frames, stop=stop)
    forwarder = start_forwarder(config)  # None without an uplink; sends what is queued meanwhile
    if forwarder is not None:
        forwarder.health_provider = site.health  # device health messages carry the devices
        site.uplink_health = forwarder.health  # /healthz: degraded when nothing is delivered
        site.metrics.on_scrape(
            lambda m: m.set("carbonedge_uplink_backlog_messages", forwarder.backlog())
        )
    try:
        live_events = start_live_events(config, forwarder)  # None unless uplink.live_events
    except ConfigError:
        if forwarder is not None:
            forwarder.stop()
        raise
    if live_events is not None:
        site.on_crossings = live_events.publish
    hj212_link = start_link(config, site.health)  # None without an hj212 section
    progress = Progress(site).start()  # only when stderr is a terminal
    try:
        results = site.run()
    finally:
        progress.stop()
        if live_events is not None:
            logging.getLogger(__name__).info(
                "live events: %d crossings published, %d not (link down)",
                live_events.sent, live_events.dropped,
            )  # fmt: skip
        if forwarder is not None:  # flush up to uplink.flush_timeout_s; the rest stays queued
            forwarder.stop()
        if hj212_link is not None:  # packets not answered yet stay queued in the store
            hj212_link.stop()
    failed = 0
    for r in results:
        if r.error is not None:  # already logged when it happened
            failed += 1
            continue
        sys.stdout.write(
            f"{r.source_id}: {r.frames} frames ({r.fps:.1f} FPS), "
            f"{_counted(r, config.cameras.get(r.source_id))}, "
            f"{r.summary_count} summaries, {r.frame_errors} frame errors, "
            f"{r.decode_errors} undecodable frames skipped, "
            f"detector skipped on {r.gated_fraction:.0%} of frames (motion gating)"
            + (
                f", {r.strided_frames} frames between detection strides (detect_fps)"
                if r.strided_frames
                else ""
            )  # fmt: skip
            + (
                f", {r.annotate_dropped} frames left out of the annotated video"
                if r.annotate_dropped
                else ""
            )
            + (
                f", {r.unwritten} items NOT written to the store ({r.spilled} in the spill file)"
                if r.unwritten
                else ""
            )
            + (
                f", FILE ENDED EARLY at frame {r.ended_early[0]} of {r.ended_early[1]} expected"
                if r.ended_early
                else ""
            )
            + "\n"
        )
    if failed:
        return 2
    unwritten = any(r.unwritten for r in results) or any(s.unwritten for s in site.sensors)
    return 3 if unwritten else 0  # spilled or lost: say so (logged with the counts)


def _counted(result, camera) -> str:
    """``12 crossings``; for a fire camera its alarms (and its crossings when it has lines)."""
    crossings = f"{result.crossings} crossings"
    if camera is None or getattr(camera, "fire", None) is None:
        return crossings
    sections = [s.section("fire") for s in result.summaries]
    sections = [f for f in sections if f]
    started = sum(f["alarms_started"] for f in sections)
    active = bool(sections) and sections[-1]["alarm_active"]
    older = result.summary_count > len(result.summaries)  # only the recent ones are kept
    fire = (f"{started} fire alarm{'s' if started != 1 else ''} started"
            + (f" in the last {len(sections)} intervals" if older else "")
            + (" (alarm active at the end)" if active else ""))  # fmt: skip
    return f"{fire}, {crossings}" if camera.lines else fire


def _cmd_check(args: argparse.Namespace) -> int:
    from carbonedge.runtime.config import load_site_config

    config = load_site_config(args.config)
    cameras = config.cameras.values()
    lines = sum(len(c.lines) for c in cameras)
    zones = sum(len(c.zones) for c in cameras)
    detectors = sorted({c.detector.type for c in cameras})
    emissions = sorted({c.emissions.method for c in cameras if c.emissions})
    sys.stdout.write(
        f"{args.config}: ok (device {config.device_id}, {len(config.cameras)} cameras, "
        f"detector {', '.join(detectors)}, {lines} counting lines, {zones} zones, "
        f"{sum(c.ground_plane is not None for c in cameras)} ground planes"
        f"{', emissions ' + ', '.join(emissions) if emissions else ''})\n"
    )
    if args.config_only:
        return 0
    from carbonedge.runtime.site_check import check_site

    items = check_site(config)
    for item in items:
        sys.stdout.write(item.line() + "\n")
    failed = sum(not item.ok for item in items)
    sys.stdout.write(f"{args.config}: {len(items) - failed} of {len(items)} checks ok"
                     + (f", {failed} FAILED\n" if failed else "\n"))  # fmt: skip
    return 1 if failed else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from carbonedge.runtime import demo
    from carbonedge.runtime.progress import JobProgress

    with JobProgress("demo") as progress:  # stderr: frames done / total, FPS, ETA
        if args.video is not None:
            progress.phase(f"counting {args.video.name} with {args.model}")
            outcome = demo.run_video(args.video, args.out, line_y_px=args.line_y, model=args.model)
        else:
            progress.phase(f"synthetic scene, {args.duration_s:g} s")
            outcome = demo.run_synthetic(args.out, duration_s=args.duration_s)
    demo.print_outcome(outcome, sys.stdout, args.out)
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from carbonedge.runtime import doctor

    return doctor.main()


def _cmd_bench(args: argparse.Namespace) -> int:
    # benchmarks sit above everything (they import the CLI's pieces): found by name when run
    bench_main = importlib.import_module("carbonedge.benchmarks.__main__").main
    argv = ["--quick"] * args.quick + ["--no-headline"] * args.no_headline + ["--only", args.only]
    argv += [arg for name in args.skip for arg in ("--skip", name)]
    return bench_main(argv + (["--json", str(args.json)] if args.json is not None else []))


class _TerseFormatter(logging.Formatter):
    """``carbonedge: warning: message``: the default, one line per problem, no timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        return f"carbonedge: {record.levelname.lower()}: {record.getMessage()}"


def _configure_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler()
    if args.verbose or args.debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_TerseFormatter())
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler])


def configure_process() -> None:
    """Process-wide settings that only entry points may make.

    Numba's JIT cache goes to the user cache (``~/.cache/carbonedge/numba``) unless
    ``NUMBA_CACHE_DIR`` is set: by default Numba writes it next to the installed sources, into
    site-packages, where ``pip uninstall`` leaves it behind as a stray ``carbonedge/kernels`` folder
    that shadows a later editable install of the same package.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cache_dir = os.path.join(base, "carbonedge", "numba")
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError:
        return  # no writable home (a locked-down service): Numba picks its own fallback
    if os.access(cache_dir, os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = cache_dir


def quiet_ffmpeg(debug: bool) -> None:
    """FFmpeg's own messages (``[h264 @ 0x...] Invalid NAL unit size``, 30 lines for one
    truncated MP4) stay off the terminal unless ``--debug``: the video source says in one line
    what went wrong (``ended early at frame N of M``, ``is not a readable video``). OpenCV reads
    ``OPENCV_FFMPEG_LOGLEVEL`` when it first opens a capture; a value already set is kept."""
    if not debug:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def main(argv: list[str] | None = None) -> int:
    configure_process()
    from carbonedge.runtime.audit_cli import normalise_argv

    args = _parser().parse_args(normalise_argv(list(sys.argv[1:] if argv is None else argv)))
    _configure_logging(args)
    quiet_ffmpeg(args.debug)
    commands = {
        "run": _cmd_run,
        "check": _cmd_check,
        "demo": _cmd_demo,
        "doctor": _cmd_doctor,
        "bench": _cmd_bench,
    }
    handler = commands.get(args.command) or args.handler
    try:
        return handler(args)
    except CarbonEdgeError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"carbonedge: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with --debug
        if args.debug:
            raise
        sys.stderr.write(
            f"carbonedge: internal error: {type(exc).__name__}: {exc} (rerun with --debug for "
            "the traceback, and please report it)\n"
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
