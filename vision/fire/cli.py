"""``carbonedge audit fire FOLDER ...``: score the fire monitor on image sequences and stills."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register_audit(targets: argparse._SubParsersAction) -> None:
    p = targets.add_parser(
        "fire",
        help="fire/smoke monitor on tower sequences and stills (folders walked recursively)",
        description="Every folder of frames with capture times in their names (FIgLib "
        "<unix>_<offset>.jpg, HPWREN/AlertWildfire ..._2020_06_11T19_56_01.jpg) is one sequence; "
        "other images are stills. A positive sequence (labels/frames.csv, YOLO labels or FIgLib "
        "offsets) gives detected/missed, the time from the first smoke frame to the first alarm "
        "and the alarms before ignition; negatives and stills give false alarms per camera-day. "
        "Then the totals over everything given.",
    )
    p.add_argument("folders", type=Path, nargs="+", metavar="FOLDER")
    p.add_argument("--config", type=Path, default=None, help="YAML with the fire monitor settings")
    p.add_argument(
        "--mode", choices=("auto", "sequence", "stills"), default="auto",
        help="auto (default): sequences from the names' capture times; force one reading",
    )  # fmt: skip
    p.add_argument(
        "--interval-s", type=float, default=60.0,
        help="time between frames of unstamped sequences and replayed stills",
    )  # fmt: skip
    p.add_argument("--frames", type=int, default=8, help="frames per still")
    p.add_argument("--evidence-dir", type=Path, default=None, help="write alarm JPEGs here")
    p.add_argument("--json", action="store_true", help="one JSON object per unit, then totals")
    p.set_defaults(handler=_cmd_audit_fire)


def _load_config(path: Path | None, evidence_dir: Path | None):
    import yaml
    from pydantic import ValidationError

    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.vision.fire.config import FireMonitorConfig

    data: dict = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the fire config ({exc})") from None
    if evidence_dir is not None:
        data.setdefault("evidence", {})["dir"] = str(evidence_dir)
    try:
        return FireMonitorConfig(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path or '<defaults>'}: {key}: {err['msg']}") from None


def _cmd_audit_fire(args: argparse.Namespace) -> int:
    from carbonedge.vision.fire.audit import as_dict, score_path, totals
    from carbonedge.vision.fire.audit_report import format_score, format_totals
    from carbonedge.vision.fire.discover import discover

    config = _load_config(args.config, args.evidence_dir)
    for folder in args.folders:  # refuse a missing or empty folder before minutes of work
        discover(folder, args.mode)
    scores = []
    for folder in args.folders:
        for score in score_path(
            folder, config, args.mode, interval_s=args.interval_s, frames=args.frames
        ):
            scores.append(score)
            line = json.dumps(as_dict(score)) if args.json else format_score(score)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    total = totals(scores)
    sys.stdout.write((json.dumps(as_dict(total)) if args.json else format_totals(total)) + "\n")
    return 0
