"""``carbonedge tune``'s results: a candidate configuration, its trial against the reference, and
the camera's outcome (the table printed and the report kept in ``SITE.tuned.yaml``)."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from carbonedge.runtime.audit_events import MATCH_WINDOW_S, Crossing, match_events

__all__ = [
    "FEW_CROSSINGS",
    "Candidate",
    "Trial",
    "TuneResult",
    "compare_crossings",
    "fastest_match",
    "score_trial",
]

#: Fewer reference crossings than this cannot tell candidates apart: the table says so.
FEW_CROSSINGS = 10


@dataclass(frozen=True)
class Candidate:
    """One configuration: a short ``name`` for tables and the complete detector settings."""

    name: str
    detector: dict[str, Any]
    input_hw: tuple[int, int] | None = None  # the model input it runs at (for the table)


@dataclass
class Trial:
    """One candidate's outcome: its crossings, speed per round, and the match with the
    reference (``matched`` / ``missed`` / ``extra`` crossings)."""

    candidate: Candidate
    crossings: list[Crossing] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    model_ms: list[float] = field(default_factory=list)
    matched: int = 0
    missed: int = 0
    extra: int = 0
    error: str | None = None
    #: missed / extra with the class left out (the event F1's matching): a crossing counted
    #: with another class is neither
    events_missed: int = 0
    events_extra: int = 0

    @property
    def fps_median(self) -> float:
        return statistics.median(self.fps) if self.fps else 0.0

    @property
    def model_ms_median(self) -> float:
        return statistics.median(self.model_ms) if self.model_ms else 0.0

    def matches(self, tolerance: int, base: Trial | None = None) -> bool:
        """Ran, and made at most ``tolerance`` errors beyond ``base``'s: more missed than it
        missed plus more extra than its extra, counted with the class and, apart, without it
        (the larger of the two; ``base``: the reference scored against a hand count; None, or
        the reference as the standard: no errors). Without the class, dropping a crossing the
        base counted with a wrong class is a miss more; with it, a class changed is an error."""
        if self.error is not None:
            return False
        if base is None:
            errors = max(self.missed + self.extra, self.events_missed + self.events_extra)
            return errors <= tolerance
        with_class = max(0, self.missed - base.missed) + max(0, self.extra - base.extra)
        events = max(0, self.events_missed - base.events_missed) + max(
            0, self.events_extra - base.events_extra
        )
        return max(with_class, events) <= tolerance


@dataclass
class TuneResult:
    """Everything tried for one camera; ``chosen`` is the fastest that matched."""

    camera_id: str
    clip: Path
    frames: int
    reference: Trial
    trials: list[Trial]
    chosen: Trial
    margins_px: tuple[float, float, float, float] | None
    tolerance: int
    truth: list[Crossing] | None = None  # a hand count: the standard instead of the reference

    @property
    def standard_n(self) -> int:
        """Crossings of the standard: the hand count's, or else the reference's."""
        return len(self.truth) if self.truth is not None else len(self.reference.crossings)

    def speedup(self, trial: Trial) -> float:
        ref = self.reference.fps_median
        return trial.fps_median / ref if ref > 0 else 0.0

    def table(self) -> str:
        """Markdown table of every trial: config, input, FPS, model ms, speed-up, events."""
        n = self.standard_n
        if self.truth is None:
            head = f"reference {n} crossings; tolerance {self.tolerance} events"
        else:
            head = (f"hand count {n} crossings, the standard; a candidate may miss no more "
                    f"than the reference ({self.reference.missed}) and count no more extra "
                    f"({self.reference.extra}), tolerance {self.tolerance} events")  # fmt: skip
        out = [f"camera {self.camera_id}: {self.frames} frames of {self.clip.name}, {head}",
               "| config | input (h x w) | FPS | model ms/frame | speed-up | events matched / "
               "missed / extra |", "|---|---|---:|---:|---:|---|"]  # fmt: skip
        if n < FEW_CROSSINGS:
            warning = (f"WARNING: only {n} {'reference' if self.truth is None else 'hand count'} "
                       f"crossings: too few to tell the candidates "
                       f"apart; tune on footage with {FEW_CROSSINGS} or more")  # fmt: skip
            out.insert(1, warning)
        for t in [self.reference, *self.trials]:
            hw = ("per crop" if t.candidate.input_hw is None  # input_fit and/or a learned crop
                  else "x".join(map(str, t.candidate.input_hw)))  # fmt: skip
            mark = " **(chosen)**" if t is self.chosen else ""
            events = t.error or f"{t.matched} of {n} / {t.missed} / {t.extra}"
            out.append(f"| {t.candidate.name}{mark} | {hw} | {t.fps_median:.1f} | "
                       f"{t.model_ms_median:.2f} | {self.speedup(t):.2f}x | "
                       f"{events} |")  # fmt: skip
        return "\n".join(out)

    def report(self) -> dict[str, Any]:
        """What the sidecar keeps about this tuning (``tuned_config``)."""
        n = self.standard_n
        return {
            "tuned_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "footage": str(self.clip),
            "frames": self.frames,
            "chosen": self.chosen.candidate.name,
            "speedup": round(self.speedup(self.chosen), 2),
            "fps": {
                "reference": round(self.reference.fps_median, 1),
                "chosen": round(self.chosen.fps_median, 1),
            },  # fmt: skip
            "standard": "reference" if self.truth is None else "hand count",
            "events": {
                "reference": n,
                "matched": self.chosen.matched,
                "missed": self.chosen.missed,
                "extra": self.chosen.extra,
            },  # fmt: skip
            "tolerance": self.tolerance,
            "margins_px": None if self.margins_px is None else list(self.margins_px),
            "tried": [
                {
                    "config": t.candidate.name,
                    "fps": round(t.fps_median, 1),
                    "speedup": round(self.speedup(t), 2),
                    "matched": t.matched,
                    "missed": t.missed,
                    "extra": t.extra,
                    **({"error": t.error} if t.error else {}),
                }
                for t in self.trials
            ],  # fmt: skip
        }


def fastest_match(trials: list[Trial], reference: Trial, tolerance: int) -> Candidate:
    """The fastest of ``trials`` that kept the reference's crossings, or the reference itself:
    what the later steps (zoom off, the stride) start from."""
    pool = [reference, *(t for t in trials if t.matches(tolerance, reference))]
    return max(pool, key=lambda t: t.fps_median).candidate


def score_trial(trial: Trial, standard: list[Crossing]) -> None:
    """``trial``'s matched / missed / extra against ``standard``, with and without the class."""
    trial.matched, trial.missed, trial.extra = compare_crossings(standard, trial.crossings)
    events = match_events(standard, trial.crossings)
    trial.events_missed, trial.events_extra = len(events.missed), len(events.phantoms)


def compare_crossings(reference: list[Crossing], other: list[Crossing],
                      window_s: float = MATCH_WINDOW_S) -> tuple[int, int, int]:  # fmt: skip
    """(matched, missed, extra): ``other``'s crossings matched one-to-one to ``reference``'s of
    the same line, direction AND class within ``window_s`` (``match_events`` with the class
    folded into the line key, so a class change is a miss plus an extra)."""

    def keyed(rows: list[Crossing]) -> list[Crossing]:
        return [dataclasses.replace(c, line=f"{c.line}|{c.class_name}") for c in rows]

    score = match_events(keyed(reference), keyed(other), window_s)
    return score.matched, len(score.missed), len(score.phantoms)
