"""Scoring the fire monitor on recorded images (``carbonedge audit fire``).

Every path is walked for sequences and stills (``discover.py``). A *sequence* (one camera's stamped
frames) runs through a fresh monitor at its own capture times; its truth (``truth.py``) makes it a
positive (ignition and first smoke known: detected or missed, time from the first smoke frame to
the first alarm at or after ignition, alarms before ignition) or a negative (every alarm start is
false). *Stills* are replayed each as a short static sequence and as a jittered one with realistic
nuisance; every alarm start is false. False alarms are also given per camera-day: the camera time
the alarm-free frames stand for (frames x their interval), before ignition for positives.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from carbonedge.vision.fire.config import FireMonitorConfig
from carbonedge.vision.fire.discover import Unit, discover
from carbonedge.vision.fire.events import FireBox
from carbonedge.vision.fire.monitor import FireMonitor
from carbonedge.vision.fire.replay import frame_at, nuisance, read_image
from carbonedge.vision.fire.truth import sequence_truth, yolo_labelled

DAY_S = 86400.0


@dataclass
class SequenceScore:
    folder: str
    frames: int
    interval_s: float  # median time between frames
    positive: bool
    truth_source: str
    ignition_t_s: float | None
    first_smoke_t_s: float | None
    first_alarm_t_s: float | None  # first alarm start at or after ignition
    first_alarm_frame: str | None
    time_to_alarm_s: float | None  # first alarm - first smoke frame
    alarms_before_ignition: int  # for a negative: every alarm start
    alarm_starts: int
    alarms_elsewhere: int  # starts after ignition whose boxes miss the labelled smoke
    negative_days: float  # camera time before ignition (all of it for a negative)
    evidence: str | None
    kind: str = "sequence"

    @property
    def detected(self) -> bool:
        return self.positive and self.first_alarm_t_s is not None


@dataclass
class StillsScore:
    folder: str
    stills: int
    frames_per_still: int
    static_false_alarms: int
    jittered_false_alarms: int
    negative_days: float
    alarmed_stills: list[str] = field(default_factory=list)
    labelled_skipped: int = 0  # stills with YOLO smoke boxes (a still cannot grow): not scored
    kind: str = "stills"


def shows_smoke(
    boxes: tuple[FireBox, ...],
    image_hw: tuple[int, int],
    truth_cxcywh: tuple[float, float, float, float] | None,
) -> bool:
    """Whether an alarm's boxes touch the labelled smoke box (grown by half its size and 2 % of
    the frame: the plume grows after it was labelled); with no label box, any alarm does."""
    if truth_cxcywh is None:
        return bool(boxes)
    h, w = image_hw
    cx, cy, bw, bh = truth_cxcywh
    mx, my = (bw / 2 + 0.5 * bw + 0.02) * w, (bh / 2 + 0.5 * bh + 0.02) * h
    x1, y1, x2, y2 = cx * w - mx, cy * h - my, cx * w + mx, cy * h + my
    return any(b.xyxy[0] <= x2 and b.xyxy[2] >= x1 and b.xyxy[1] <= y2 and b.xyxy[3] >= y1
               for b in boxes)  # fmt: skip


def _interval_s(times: list[float], default_s: float) -> float:
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    return float(statistics.median(gaps)) if gaps else default_s


def score_sequence(
    unit: Unit,
    config: FireMonitorConfig,
    *,
    interval_s: float = 60.0,
    jitter_seed: int | None = None,
) -> SequenceScore:
    """Run one camera's sequence through a fresh monitor (optionally with nuisance added)."""
    files = list(unit.files)
    times = list(unit.times_s) or [i * interval_s for i in range(len(files))]
    dt_s = _interval_s(times, interval_s)
    truth = sequence_truth(files, times)
    monitor = FireMonitor(config, device_id="audit")
    rng = np.random.default_rng(jitter_seed) if jitter_seed is not None else None
    starts: list[tuple[float, str, str | None]] = []
    ignition = truth.ignition_t_s
    first = None  # first alarm event at or after ignition that shows the labelled smoke
    false_after = 0  # alarm starts at or after ignition elsewhere than the labelled smoke
    for i, (path, t_s) in enumerate(zip(files, times, strict=True)):
        image = read_image(path)
        if rng is not None:
            image = nuisance(image, rng)
        for event in monitor.update(frame_at(image, i, t_s, "audit", 1.0 / dt_s)):
            if event.status == "start":
                starts.append((t_s, path.name, event.evidence_full_path))
            if ignition is None or t_s < ignition or event.status == "end":
                continue
            on_smoke = shows_smoke(event.boxes, event.image_hw, truth.box_near(t_s))
            if first is None and on_smoke:
                first = (t_s, path.name, event.evidence_full_path)
            elif event.status == "start" and not on_smoke:
                false_after += 1
    before = [s for s in starts if ignition is None or s[0] < ignition]
    quiet = sum(1 for t in times if ignition is None or t < ignition)
    return SequenceScore(
        folder=str(unit.folder), frames=len(files), interval_s=dt_s, positive=truth.positive,
        truth_source=truth.source, ignition_t_s=ignition, first_smoke_t_s=truth.first_smoke_t_s,
        first_alarm_t_s=first[0] if first else None, first_alarm_frame=first[1] if first else None,
        time_to_alarm_s=(first[0] - truth.first_smoke_t_s)
        if first and truth.first_smoke_t_s is not None else None,
        alarms_before_ignition=len(before), alarm_starts=len(starts), alarms_elsewhere=false_after,
        negative_days=quiet * dt_s / DAY_S, evidence=first[2] if first else None,
    )  # fmt: skip


def score_stills(
    unit: Unit,
    config: FireMonitorConfig,
    *,
    frames: int = 8,
    interval_s: float = 60.0,
    seed: int = 0,
) -> StillsScore:
    """Each still as a static and as a jittered sequence of ``frames`` frames; alarm starts."""
    static = jittered = 0
    alarmed = []
    files = [p for p in unit.files if not yolo_labelled(p)]
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
    days = len(files) * 2 * frames * interval_s / DAY_S
    return StillsScore(
        str(unit.folder), len(files), frames, static, jittered, days, alarmed,
        len(unit.files) - len(files),
    )  # fmt: skip


Score = SequenceScore | StillsScore


def score_path(
    path: Path, config: FireMonitorConfig, mode: str = "auto", **kw: float
) -> list[Score]:
    """Scores of every sequence and stills folder under ``path`` (``discover``)."""
    out: list[Score] = []
    for unit in discover(path, mode):
        if unit.kind == "sequence":
            out.append(score_sequence(unit, config, interval_s=kw.get("interval_s", 60.0)))
        else:
            out.append(score_stills(
                unit, config, frames=int(kw.get("frames", 8)), interval_s=kw.get("interval_s", 60.0)
            ))  # fmt: skip
    return out


@dataclass
class Totals:
    """The audit's bottom line over all scored units."""

    positives: int
    alarmed: int
    missed: list[str]
    median_time_to_alarm_s: float | None  # over the alarmed positives
    alarms_before_ignition: int  # in positive sequences
    alarms_elsewhere: int  # in positive sequences, after ignition, away from the labelled smoke
    negative_sequences: int
    negative_false_alarms: int  # alarm starts in negative sequences
    negative_days: float
    pre_ignition_days: float  # alarm-free camera time before ignition in the positives
    stills: int
    stills_false_alarms: int
    stills_days: float
    kind: str = "totals"

    def per_day(self, alarms: int, days: float) -> float | None:
        return alarms / days if days > 0 else None

    @property
    def negative_false_alarms_per_day(self) -> float | None:
        return self.per_day(self.negative_false_alarms, self.negative_days)

    @property
    def pre_ignition_false_alarms_per_day(self) -> float | None:
        return self.per_day(self.alarms_before_ignition, self.pre_ignition_days)


def totals(scores: list[Score]) -> Totals:
    seqs = [s for s in scores if isinstance(s, SequenceScore)]
    pos = [s for s in seqs if s.positive]
    neg = [s for s in seqs if not s.positive]
    stills = [s for s in scores if isinstance(s, StillsScore)]
    tta = [s.time_to_alarm_s for s in pos if s.time_to_alarm_s is not None]
    return Totals(
        positives=len(pos), alarmed=sum(s.detected for s in pos),
        missed=[s.folder for s in pos if not s.detected],
        median_time_to_alarm_s=float(statistics.median(tta)) if tta else None,
        alarms_before_ignition=sum(s.alarms_before_ignition for s in pos),
        alarms_elsewhere=sum(s.alarms_elsewhere for s in pos),
        negative_sequences=len(neg),
        negative_false_alarms=sum(s.alarm_starts for s in neg),
        negative_days=sum(s.negative_days for s in neg),
        pre_ignition_days=sum(s.negative_days for s in pos),
        stills=sum(s.stills for s in stills),
        stills_false_alarms=sum(s.static_false_alarms + s.jittered_false_alarms for s in stills),
        stills_days=sum(s.negative_days for s in stills),
    )  # fmt: skip


def as_dict(score: Score | Totals) -> dict:
    out = asdict(score)
    if isinstance(score, SequenceScore):
        out["detected"] = score.detected
    if isinstance(score, Totals):
        out["negative_false_alarms_per_day"] = score.negative_false_alarms_per_day
        out["pre_ignition_false_alarms_per_day"] = score.pre_ignition_false_alarms_per_day
    return out
