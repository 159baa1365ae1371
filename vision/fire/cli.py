"""``carbonedge audit fire FOLDER ...``: score the fire monitor on image sequences and stills."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register_audit(targets: argparse._SubParsersAction) -> None:
    p = targets.add_parser(
        "fire",
        help="fire/smoke monitor on image sequences (YOLO labels) or folders of stills",
        description="Per folder: a stamped sequence gives the time from the first labelled frame "
        "to the first alarm and the alarms before it; stills give false alarms, each still "
        "replayed static and jittered.",
    )
    p.add_argument("folders", type=Path, nargs="+", metavar="FOLDER")
    p.add_argument("--config", type=Path, default=None, help="YAML with the fire monitor settings")
    p.add_argument("--mode", choices=("auto", "sequence", "stills"), default="auto")
    p.add_argument("--interval-s", type=float, default=60.0, help="time between unstamped frames")
    p.add_argument("--frames", type=int, default=8, help="frames per still")
    p.add_argument("--evidence-dir", type=Path, default=None, help="write alarm JPEGs here")
    p.add_argument("--json", action="store_true", help="one JSON object per folder")
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
    from carbonedge.vision.fire.audit import SequenceScore, as_dict, score_folder

    config = _load_config(args.config, args.evidence_dir)
    for folder in args.folders:
        score = score_folder(
            folder, config, args.mode, interval_s=args.interval_s, frames=args.frames
        )
        if args.json:
            sys.stdout.write(json.dumps(as_dict(score)) + "\n")
        elif isinstance(score, SequenceScore):
            tta = "no alarm" if score.time_to_alarm_s is None else f"{score.time_to_alarm_s:.0f} s"
            sys.stdout.write(
                f"{folder}: sequence, {score.frames} frames ({score.labelled_frames} labelled); "
                f"time to first alarm after the first labelled frame: {tta}"
                f"{f' ({score.first_alarm_frame})' if score.first_alarm_frame else ''}; "
                f"alarms before it: {score.alarms_before_first_label}; "
                f"alarm starts: {score.alarm_starts}"
                f"{f'; evidence: {score.evidence}' if score.evidence else ''}\n"
            )
        else:
            which = ", ".join(score.alarmed_stills)
            sys.stdout.write(
                f"{folder}: {score.stills} stills x {score.frames_per_still} frames; false "
                f"alarms: {score.static_false_alarms} static, {score.jittered_false_alarms} "
                f"jittered{f' ({which})' if which else ''}\n"
            )
    return 0
