"""Scoring the fire monitor on recorded images (``carbonedge audit fire``).

A folder is a *sequence* (one camera over time: file names with ``YYYY_MM_DDTHH_MM_SS`` stamps, or
``--mode sequence``) or a folder of *stills* (each still replayed as a short static sequence and as
a jittered one with realistic nuisance). For a sequence with YOLO labels (``labels/<stem>.txt``),
the score is the time from the first labelled frame to the first alarm and the alarms before it;
for stills (and unlabelled sequences), every alarm start is a false alarm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from carbonedge.vision.fire.config import FireMonitorConfig
from carbonedge.vision.fire.monitor import FireMonitor
from carbonedge.vision.fire.replay import (
    as_sequence,
    frame_at,
    image_files,
    nuisance,
    read_image,
    stamp_s,
)


@dataclass
class SequenceScore:
    folder: str
    frames: int
    labelled_frames: int
    first_labelled_t_s: float | None
    first_alarm_t_s: float | None
    first_alarm_frame: str | None
    time_to_alarm_s: float | None  # first alarm - first labelled frame
    alarms_before_first_label: int
    alarm_starts: int
    evidence: str | None


@dataclass
class StillsScore:
    folder: str
    stills: int
    frames_per_still: int
    static_false_alarms: int
    jittered_false_alarms: int
    alarmed_stills: list[str] = field(default_factory=list)


def score_sequence(
    folder: Path,
    config: FireMonitorConfig,
    *,
    interval_s: float = 60.0,
    jitter_seed: int | None = None,
) -> SequenceScore:
    """Run one camera's sequence through a fresh monitor (optionally with nuisance added)."""
    items = as_sequence(image_files(folder), interval_s)
    monitor = FireMonitor(config, device_id="audit")
    rng = np.random.default_rng(jitter_seed) if jitter_seed is not None else None
    first_label = next((it.t_s for it in items if it.labelled), None)
    starts: list[tuple[float, str, str | None]] = []
    for i, it in enumerate(items):
        image = read_image(it.path)
        if rng is not None:
            image = nuisance(image, rng)
        for event in monitor.update(frame_at(image, i, it.t_s, "audit", 1.0 / interval_s)):
            if event.status == "start":
                starts.append((it.t_s, it.path.name, event.evidence_full_path))
    before = sum(1 for t, _, _ in starts if first_label is None or t < first_label)
    after = [s for s in starts if first_label is not None and s[0] >= first_label]
    first = after[0] if after else None
    return SequenceScore(
        folder=str(folder), frames=len(items), labelled_frames=sum(it.labelled for it in items),
        first_labelled_t_s=first_label, first_alarm_t_s=first[0] if first else None,
        first_alarm_frame=first[1] if first else None,
        time_to_alarm_s=(first[0] - first_label) if first and first_label is not None else None,
        alarms_before_first_label=before, alarm_starts=len(starts),
        evidence=first[2] if first else None,
    )  # fmt: skip


def score_stills(
    folder: Path,
    config: FireMonitorConfig,
    *,
    frames: int = 8,
    interval_s: float = 60.0,
    seed: int = 0,
) -> StillsScore:
    """Each still as a static and as a jittered sequence of ``frames`` frames; alarm starts."""
    files = image_files(folder)
    static = jittered = 0
    alarmed = []
    for k, path in enumerate(files):
        image = read_image(path)
        for jitter in (False, True):
            rng = np.random.default_rng([seed, k])
            monitor = FireMonitor(config, device_id="audit")
            n = 0
            for i in range(frames):
                img = nuisance(image, rng) if jitter else image
                events = monitor.update(frame_at(img, i, i * interval_s, "audit", 1.0 / interval_s))
                n += sum(e.status == "start" for e in events)
            if jitter:
                jittered += n
            else:
                static += n
            if n:
                alarmed.append(f"{path.name} ({'jittered' if jitter else 'static'})")
    return StillsScore(str(folder), len(files), frames, static, jittered, alarmed)


def is_sequence(folder: Path) -> bool:
    """Stamped file names (one camera over time) make a sequence; anything else is stills."""
    files = image_files(folder)
    return len(files) >= 3 and all(stamp_s(p) is not None for p in files)


def score_folder(folder: Path, config: FireMonitorConfig, mode: str = "auto", **kw):
    if mode == "sequence" or (mode == "auto" and is_sequence(folder)):
        return score_sequence(folder, config, interval_s=kw.get("interval_s", 60.0))
    return score_stills(
        folder, config, frames=kw.get("frames", 8), interval_s=kw.get("interval_s", 60.0)
    )


def as_dict(score: SequenceScore | StillsScore) -> dict:
    return {"kind": "sequence" if isinstance(score, SequenceScore) else "stills", **asdict(score)}
