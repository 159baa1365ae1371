"""``carbonedge tune SITE.yaml [--camera ID] --clip CLIP | --minutes N``: per camera, the
cheapest detector settings whose line crossings match the full-frame reference on the site's own
footage (``runtime/tune.py``), written to ``SITE.tuned.yaml`` next to the site config
(``runtime/tuned_config.py``), which ``carbonedge run`` then uses (and says so).

    carbonedge tune site.yaml --clip road-tuesday.mp4            # the site's one camera
    carbonedge tune site.yaml --camera north --minutes 5         # 5 minutes of its live source
    carbonedge tune site.yaml --check --clip road-friday.mp4     # do the tuned settings still hold?

Exit status: 0 (tuned; ``--check``: every tuned camera still matches), 1 (``--check``: some do
not), 2 (bad input).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="per camera, the cheapest detector settings that keep the "
                       "full-frame reference's line crossings; written to "
                       "SITE.tuned.yaml")  # fmt: skip
    p.add_argument("config", type=Path, help="the site config (SITE.yaml)")
    p.add_argument("--camera", default=None, help="only this camera (default: every camera)")
    footage = p.add_mutually_exclusive_group(required=True)
    footage.add_argument("--clip", type=Path, help="recorded footage of the camera's view")
    footage.add_argument("--minutes", type=float, help="record this long from the camera's own "
                         "source first (a live camera: real minutes)")  # fmt: skip
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    p.add_argument("--truth", type=Path, default=None,
                   help="a hand count of --clip (the truth format of carbonedge audit): the "
                   "standard instead of the reference; a candidate may miss no more and count "
                   "no more extra than the reference does (with and without the class), "
                   "--tolerance errors beyond that")  # fmt: skip
    p.add_argument("--tolerance", type=int, default=0,
                   help="crossings a candidate may miss or add vs the reference "
                   "(default 0)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=3,
                   help="timing passes of each match, taking turns with the reference")  # fmt: skip
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.75, 0.5],
                   help="input scales tried, of the fitted size (default 1 0.75 0.5)")  # fmt: skip
    p.add_argument("--one-model", action="store_true", help=argparse.SUPPRESS)  # tests: fewer runs
    p.add_argument("--int8", action="store_true",
                   help="also quantize the fastest match on the footage's frames and "
                   "try it")  # fmt: skip
    p.add_argument("--no-zoom", action="store_true",
                   help="do not try the fastest match with its zoom windows off")  # fmt: skip
    p.add_argument("--no-stride", action="store_true",
                   help="do not try detecting on every 2nd, 3rd, ... frame only")  # fmt: skip
    p.add_argument("--check", action="store_true", help="re-run the tuned settings of "
                   "SITE.tuned.yaml against the reference on the footage; exit 1 if they no "
                   "longer match")  # fmt: skip
    p.set_defaults(handler=_cmd_tune)


def _cmd_tune(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.config import load_site_config

    for name in ("max_frames", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.tolerance < 0 or any(not 0 < s <= 1 for s in args.scales):
        raise ConfigError("--tolerance must be >= 0 and --scales in (0, 1]")
    config = load_site_config(args.config, tuned=False)  # the reference: the user's own YAML
    cameras = [args.camera] if args.camera else list(config.cameras)
    if args.clip is not None and len(cameras) > 1:
        raise ConfigError(f"{args.config} has {len(cameras)} cameras: name the one --clip shows "
                          "with --camera (or use --minutes to record each one)")  # fmt: skip
    if args.clip is not None and not args.clip.is_file():
        raise ConfigError(f"--clip {args.clip}: no such file")
    if args.truth is not None and args.clip is None:
        raise ConfigError("--truth counts one recorded clip: give it with --clip")
    if args.truth is not None and not args.truth.is_file():
        raise ConfigError(f"--truth {args.truth}: no such file")
    if args.check:
        return _check(args, config, cameras)
    return _tune(args, config, cameras)


def _footage(args: argparse.Namespace, config, camera_id: str, tmp: Path) -> Path:
    if args.clip is not None:
        return args.clip
    from carbonedge.runtime.tune_record import record_minutes

    return record_minutes(config.cameras[camera_id].source, args.minutes, tmp / f"{camera_id}.avi")


def _tune(args: argparse.Namespace, config, cameras: list[str]) -> int:
    import tempfile

    from carbonedge.runtime.tune import tune_camera
    from carbonedge.runtime.tuned_config import camera_fingerprint, sidecar_path, write_sidecar

    entries = {}
    with tempfile.TemporaryDirectory(prefix="carbonedge-tune-") as tmp:
        for camera_id in cameras:
            clip = _footage(args, config, camera_id, Path(tmp))
            truth = _truth(args, config, camera_id, clip)
            result = tune_camera(
                config, camera_id, clip, max_frames=args.max_frames, tolerance=args.tolerance,
                repeats=args.repeats, scales=tuple(args.scales), models=1 if args.one_model else 2,
                int8=args.int8, zoom=not args.no_zoom, stride=not args.no_stride,
                truth=truth,
            )  # fmt: skip
            sys.stdout.write(result.table() + "\n\n")
            report = result.report()
            if args.minutes is not None:
                report["footage"] = f"{args.minutes:g} minutes of the camera's source"
            entries[camera_id] = {
                "detector": result.chosen.candidate.detector,
                "fingerprint": camera_fingerprint(config.cameras[camera_id]),
                "report": report,
            }
            sys.stdout.write(
                f"camera {camera_id}: chose {result.chosen.candidate.name}: "
                f"{result.speedup(result.chosen):.2f}x the reference's FPS, "
                f"{result.chosen.matched} of {result.standard_n} "
                f"{'reference' if truth is None else 'hand-counted'} crossings matched "
                f"({result.chosen.missed} missed, {result.chosen.extra} extra)\n"
            )
    path = sidecar_path(args.config)
    write_sidecar(path, entries, header=(
        f"Written by `carbonedge tune {args.config}`: per camera, the detector settings that\n"
        "`carbonedge run` uses instead of the site config's (it says so at start). Delete this\n"
        f"file (or a camera's entry) to go back; check: carbonedge tune {args.config} --check "
        "--clip CLIP"))  # fmt: skip
    sys.stdout.write(f"wrote {path}\n")
    return 0


def _truth(args: argparse.Namespace, config, camera_id: str, clip: Path):
    if args.truth is None:
        return None
    from carbonedge.runtime.tune import truth_for_camera

    return truth_for_camera(args.truth, config, camera_id, clip)


def _check(args: argparse.Namespace, config, cameras: list[str]) -> int:
    import tempfile

    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.tune import check_tuned
    from carbonedge.runtime.tuned_config import read_sidecar, sidecar_path

    path = sidecar_path(args.config)
    data = read_sidecar(path)
    if data is None:
        raise ConfigError(f"{path}: no tuned settings to check (run carbonedge tune first)")
    tuned = [c for c in cameras if c in data["cameras"]]
    if not tuned:
        raise ConfigError(f"{path}: no tuned settings for camera {', '.join(cameras)}")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="carbonedge-tune-") as tmp:
        for camera_id in tuned:
            clip = _footage(args, config, camera_id, Path(tmp))
            result = check_tuned(config, camera_id, data["cameras"][camera_id]["detector"], clip,
                                 max_frames=args.max_frames, tolerance=args.tolerance,
                                 truth=_truth(args, config, camera_id, clip))  # fmt: skip
            trial = result.trials[0]
            ok = trial.matches(args.tolerance, result.reference)
            failed += not ok
            sys.stdout.write(result.table() + "\n")
            sys.stdout.write(
                f"camera {camera_id}: {'OK' if ok else 'NO LONGER MATCHES'}: tuned settings "
                f"{result.speedup(trial):.2f}x the reference's FPS, {trial.matched} of "
                f"{result.standard_n} crossings matched, {trial.missed} missed, "
                f"{trial.extra} extra (tolerance {args.tolerance}"
                + (
                    ""
                    if result.truth is None
                    else f" beyond the reference's {result.reference.missed} missed and "
                    f"{result.reference.extra} extra"
                )
                + ")"
                + ("" if ok else f"; run carbonedge tune {args.config} again")
                + "\n\n"
            )
    return 1 if failed else 0
