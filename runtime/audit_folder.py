"""``carbonedge audit FOLDER``: every truth file of a folder against its clip, and the totals.

A truth file names its clip (``clip: NAME``, looked up in ``--media``, default
``$CARBONEDGE_SHARED_DIR/media/traffic`` or ``../shared/media/traffic``); files without
``clip`` or ``vehicles`` are listed as skipped with the reason. Totals add the per-event figures of
every clip (event F1 over all crossings, per class group true/counted/matched/missed/phantom).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carbonedge.runtime.audit_events import sum_scores
from carbonedge.runtime.audit_traffic import AuditReport, audit_clip, load_truth
from carbonedge.runtime.base.errors import ConfigError

__all__ = ["FolderReport", "audit_folder", "default_media_dir"]


def default_media_dir() -> Path:
    shared = os.environ.get("CARBONEDGE_SHARED_DIR")
    return Path(shared) / "media" / "traffic" if shared else Path("../shared/media/traffic")


@dataclass
class ClipResult:
    truth_file: str
    report: AuditReport
    wall_s: float

    @property
    def fps(self) -> float:
        return self.report.frames / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class FolderReport:
    folder: str
    detector: str
    clips: list[ClipResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def totals(self) -> dict[str, Any]:
        scores = [c.report.events for c in self.clips if c.report.events is not None]
        return {
            "clips": len(self.clips),
            **sum_scores(scores),
            "frames": sum(c.report.frames for c in self.clips),
            "wall_s": round(sum(c.wall_s for c in self.clips), 2),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "detector": self.detector,
            "totals": self.totals(),
            "clips": [
                {
                    "truth": c.truth_file,
                    "fps": round(c.fps, 1),
                    "wall_s": round(c.wall_s, 2),
                    **c.report.to_dict(),
                }
                for c in self.clips
            ],
            "skipped": [{"truth": f, "why": why} for f, why in self.skipped],
        }

    def format(self) -> str:
        out = [f"audit of {len(self.clips)} clips in {self.folder} (detector {self.detector})", ""]
        out.append(f"{'clip':<58}{'true':>6}{'counted':>9}{'matched':>9}{'F1':>7}{'fps':>7}")
        for c in self.clips:
            ev = c.report.events
            if ev is None:
                continue
            out.append(
                f"{Path(c.report.clip).name[:57]:<58}{len(ev.truth):>6}{len(ev.counted):>9}"
                f"{ev.matched:>9}{ev.f1:>7.3f}{c.fps:>7.1f}"
            )
        t = self.totals()
        out.append(
            f"{'total':<58}{t['true']:>6}{t['counted']:>9}{t['matched']:>9}{t['event_f1']:>7.3f}"
        )
        out.append("")
        out.append(
            f"{'group':<13}{'true':>6}{'counted':>9}{'matched':>9}{'missed':>8}"
            f"{'phantom':>9}{'error %':>9}{'matched %':>11}"
        )
        for g, row in t["by_group"].items():
            err = "-" if row["total_error_pct"] is None else f"{row['total_error_pct']:+.1f}"
            mp = "-" if row["matched_pct"] is None else f"{row['matched_pct']:.1f}"
            out.append(
                f"{g:<13}{row['true']:>6}{row['counted']:>9}{row['matched']:>9}"
                f"{row['missed']:>8}{row['phantom']:>9}{err:>9}{mp:>11}"
            )
        for f, why in self.skipped:
            out.append(f"skipped {f}: {why}")
        return "\n".join(out)


def audit_folder(
    folder: Path,
    media_dir: Path | None = None,
    detector: dict[str, Any] | None = None,
    only: str = "",
    progress: Any = None,
) -> FolderReport:
    """Audit every ``*.yaml`` truth file in ``folder`` (whose name contains ``only``);
    ``progress`` (a ``runtime.progress.JobProgress``) is told which clip runs."""
    media = media_dir or default_media_dir()
    files = sorted(p for p in folder.glob("*.yaml") if only in p.name)
    if not files:
        raise ConfigError(
            f"{folder}: no truth files (*.yaml{f' containing {only!r}' if only else ''})"
        )
    report = FolderReport(str(folder), detector=str(detector or "each truth file's / default"))
    for i, path in enumerate(files, start=1):
        if progress is not None:
            progress.phase(f"truth file {i} of {len(files)}: {path.name}")
        truth = load_truth(path)
        if truth.clip is None or truth.vehicles is None:
            report.skipped.append(
                (path.name, "no `clip:`" if truth.clip is None else "no `vehicles:`")
            )
            continue
        clip = media / truth.clip
        if not clip.is_file():
            raise ConfigError(f"{path}: clip {truth.clip!r} not found in {media} (see --media)")
        if detector is not None:
            truth = truth.model_copy(update={"detector": detector})
        t0 = time.perf_counter()
        result = audit_clip(clip, truth)
        report.clips.append(ClipResult(path.name, result, time.perf_counter() - t0))
        report.detector = result.detector if detector is not None else report.detector
    return report
