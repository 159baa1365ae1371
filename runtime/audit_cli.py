"""``carbonedge audit``: run recorded input through the analytics and score it against ground truth.

``carbonedge audit fire PATH ...`` scores the fire/smoke detector on an image sequence or stills;
``carbonedge audit traffic CLIP --truth FILE.yaml`` (also ``carbonedge audit CLIP --truth ...``)
scores counts and speeds on a clip. Each target registers its own sub-parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_TARGET_MODULES: tuple[str, ...] = ("carbonedge.vision.fire.cli",)
_TARGETS = ("traffic", "fire")
# ``carbonedge audit CLIP --truth ...`` means ``carbonedge audit traffic CLIP --truth ...``
_DEFAULT_TARGET = "traffic"


def normalise_argv(argv: list[str]) -> list[str]:
    """Insert the default target when ``audit`` is followed by a clip or option, not a target."""
    if "audit" not in argv:
        return argv
    i = argv.index("audit")
    if i + 1 < len(argv) and argv[i + 1] not in (*_TARGETS, "-h", "--help"):
        return [*argv[: i + 1], _DEFAULT_TARGET, *argv[i + 1 :]]
    return argv


def register(sub: argparse._SubParsersAction) -> None:
    import importlib

    audit = sub.add_parser("audit", help="score analytics on recorded input against ground truth")
    targets = audit.add_subparsers(dest="audit_target", required=True, metavar="TARGET")
    _register_traffic(targets)
    for module_name in _TARGET_MODULES:
        importlib.import_module(module_name).register_audit(targets)


def _register_traffic(targets: argparse._SubParsersAction) -> None:
    p = targets.add_parser("traffic", help="counts and speeds of a clip vs a ground-truth file")
    p.add_argument(
        "clip", type=Path, nargs="?",
        help="video file with --truth, or a folder of truth files (each names its clip)",
    )  # fmt: skip
    p.add_argument("--truth", type=Path, help="ground-truth YAML (see the README)")
    p.add_argument("--media", type=Path, default=None,
                   help="where a folder's clips are (default $CARBONEDGE_SHARED_DIR/media/traffic "
                        "or ../shared/media/traffic)")  # fmt: skip
    p.add_argument(
        "--detector",
        default=None,
        metavar="TYPE",
        help="run this detector type (its default settings) instead of the truth's",
    )
    p.add_argument("--only", default="", help="with a folder: only truth files whose name has this")
    p.add_argument("--synthetic", action="store_true", help="audit the built-in synthetic scene")
    p.add_argument("--duration-s", type=float, default=60.0, help="synthetic scene length")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when a count is out of tolerance")
    p.set_defaults(handler=_cmd_audit_traffic)


def _cmd_audit_traffic(args: argparse.Namespace) -> int:
    from carbonedge.runtime.progress import JobProgress

    with JobProgress("audit") as progress:  # stderr: clip, frames done / total, FPS, ETA
        report = _audit_traffic(args, progress)
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.format() + "\n")
    return 1 if args.strict and not report.passed else 0


def _audit_traffic(args: argparse.Namespace, progress):  # -> AuditReport | FolderReport
    from carbonedge.runtime.audit_traffic import audit_clip, audit_synthetic, load_truth
    from carbonedge.runtime.base.errors import ConfigError

    if args.synthetic:
        if args.clip is not None or args.truth is not None:
            raise ConfigError("audit traffic: --synthetic takes no clip and no --truth")
        progress.phase(f"synthetic scene, {args.duration_s:g} s")
        report = audit_synthetic(args.duration_s)
    elif args.clip is not None and args.clip.is_dir():
        from carbonedge.runtime.audit_folder import audit_folder

        if args.truth is not None:
            raise ConfigError("audit traffic: a folder of truth files takes no --truth")
        detector = None if args.detector is None else {"type": args.detector}
        report = audit_folder(args.clip, args.media, detector, args.only, progress=progress)
    else:
        if args.clip is None or args.truth is None:
            raise ConfigError(
                "audit traffic: give a CLIP and --truth FILE.yaml, a folder of truth files, "
                "or --synthetic"
            )
        truth = load_truth(args.truth)
        if not args.clip.is_file():
            raise ConfigError(f"{args.clip}: clip not found")
        if args.detector is not None:
            truth = truth.model_copy(update={"detector": {"type": args.detector}})
        progress.phase(f"{args.clip.name} vs {args.truth.name}")
        report = audit_clip(args.clip, truth)
    return report
