"""Per-event scoring of counted line crossings against hand-counted ones.

Every counted crossing is matched one-to-one to a true crossing of the same line and direction
within ``MATCH_WINDOW_S`` (closest in time first, class ignored: a vehicle counted under the wrong
class is a matched event with a class confusion, not a miss plus a phantom). What is left over is
a *missed* true crossing or a *phantom* counted one. Event F1 = 2 matched / (true + counted).

Class groups (``road-v1``): light (car, van), heavy (bus, hgv), two-wheeler (motorcycle, bicycle),
pedestrian. Names outside the taxonomy (a COCO ``truck``, the motion detector's ``bus_or_truck``)
are put in the group they would fall into (``GROUP_OF``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GROUP_OF", "MATCH_WINDOW_S", "Crossing", "EventScore", "match_events", "sum_scores"]

MATCH_WINDOW_S = 1.0  # a counted crossing matches a true one of the same line/direction this close

GROUP_OF: dict[str, str] = {
    "car": "light",
    "van": "light",
    "vehicle": "light",
    "bus": "heavy",
    "hgv": "heavy",
    "truck": "heavy",
    "bus_or_truck": "heavy",
    "train": "heavy",
    "motorcycle": "two-wheeler",
    "motorbike": "two-wheeler",
    "bicycle": "two-wheeler",
    "pedestrian": "pedestrian",
    "person": "pedestrian",
}
GROUPS: tuple[str, ...] = ("light", "heavy", "two-wheeler", "pedestrian")


def group_of(class_name: str | None) -> str:
    return GROUP_OF.get(class_name or "", "other")


@dataclass(frozen=True)
class Crossing:
    """One crossing, true or counted: line, direction, media time, frame and class."""

    line: str
    direction: str
    t_s: float
    frame: int
    class_name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "direction": self.direction,
            "frame": self.frame,
            "t_s": round(self.t_s, 3),
            "class": self.class_name,
        }


@dataclass
class EventScore:
    """The outcome of matching: pairs (true index, counted index), the missed and the phantoms."""

    truth: list[Crossing]
    counted: list[Crossing]
    pairs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return len(self.pairs)

    @property
    def missed(self) -> list[Crossing]:
        used = {i for i, _ in self.pairs}
        return [c for i, c in enumerate(self.truth) if i not in used]

    @property
    def phantoms(self) -> list[Crossing]:
        used = {j for _, j in self.pairs}
        return [c for j, c in enumerate(self.counted) if j not in used]

    @property
    def f1(self) -> float:
        n = len(self.truth) + len(self.counted)
        return 1.0 if n == 0 else 2.0 * self.matched / n

    def confusion(self) -> dict[str, dict[str, int]]:
        """true class -> counted class -> matched events (classes of unclassed truth: "?")."""
        out: dict[str, Counter[str]] = {}
        for i, j in self.pairs:
            t = self.truth[i].class_name or "?"
            out.setdefault(t, Counter())[self.counted[j].class_name or "?"] += 1
        return {t: dict(sorted(c.items())) for t, c in sorted(out.items())}

    def by_group(self) -> dict[str, dict[str, Any]]:
        """Per class group: true, counted, matched (true and counted in the group), missed,
        phantom, total error % and the share of true events matched within the group."""
        out: dict[str, dict[str, Any]] = {}
        if self.truth and all(c.class_name is None for c in self.truth):
            return out  # a truth without classes: nothing to say per group
        counted_of = dict(self.pairs)
        missed = Counter(group_of(c.class_name) for c in self.missed)
        phantoms = Counter(group_of(c.class_name) for c in self.phantoms)
        for g in (*GROUPS, "other"):
            t_idx = [i for i, c in enumerate(self.truth) if group_of(c.class_name) == g]
            c_idx = [j for j, c in enumerate(self.counted) if group_of(c.class_name) == g]
            if not t_idx and not c_idx:
                continue
            matched = sum(
                1
                for i in t_idx
                if i in counted_of and group_of(self.counted[counted_of[i]].class_name) == g
            )
            out[g] = _with_rates({"true": len(t_idx), "counted": len(c_idx), "matched": matched,
                                  "missed": missed[g], "phantom": phantoms[g]})  # fmt: skip
        return out

    def by_class(self) -> dict[str, dict[str, int]]:
        """class -> {"true", "counted"} over both sides' class names."""
        t = Counter(c.class_name or "?" for c in self.truth)
        k = Counter(c.class_name or "?" for c in self.counted)
        return {n: {"true": t.get(n, 0), "counted": k.get(n, 0)} for n in sorted(set(t) | set(k))}

    def count_gsd_by_class(self, min_true: int = 5) -> dict[str, float]:
        """class -> the GSD of a lognormal count error whose 95 % band reaches this clip's
        counted/true ratio (at least 1.03), for classes with ``min_true`` true crossings or more:
        ``emissions.uncertainty.count_gsd_by_class`` for the site (README, emissions)."""
        out = {}
        for name, row in self.by_class().items():
            if name == "?" or row["true"] < min_true:
                continue
            ratio = min(max(row["counted"] / row["true"], 0.2), 5.0)
            out[name] = round(max(1.03, math.exp(abs(math.log(ratio)) / 1.96)), 3)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "true": len(self.truth),
            "counted": len(self.counted),
            "matched": self.matched,
            "event_f1": round(self.f1, 4),
            "by_class": self.by_class(),
            "by_group": self.by_group(),
            "class_confusion": self.confusion(),
            "count_gsd_by_class": self.count_gsd_by_class(),
            "missed": [c.to_dict() for c in self.missed],
            "phantoms": [c.to_dict() for c in self.phantoms],
            "crossings": [c.to_dict() for c in self.counted],
        }


_COUNTS = ("true", "counted", "matched", "missed", "phantom")


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    """A group's counts plus its total error % and the share of its true events matched."""
    n = row["true"]
    row["total_error_pct"] = None if n == 0 else round(100.0 * (row["counted"] - n) / n, 1)
    row["matched_pct"] = None if n == 0 else round(100.0 * row["matched"] / n, 1)
    return row


def sum_scores(scores: list[EventScore]) -> dict[str, Any]:
    """Totals over several clips: true, counted, matched, event F1 and the class groups."""
    true = sum(len(s.truth) for s in scores)
    counted = sum(len(s.counted) for s in scores)
    matched = sum(s.matched for s in scores)
    groups: dict[str, dict[str, Any]] = {}
    for s in scores:
        for g, row in s.by_group().items():
            acc = groups.setdefault(g, dict.fromkeys(_COUNTS, 0))
            for k in _COUNTS:
                acc[k] += row[k]
    order = (*GROUPS, "other")
    return {
        "true": true,
        "counted": counted,
        "matched": matched,
        "event_f1": round(1.0 if true + counted == 0 else 2.0 * matched / (true + counted), 4),
        "by_group": {g: _with_rates(groups[g]) for g in order if g in groups},
    }


def match_events(
    truth: list[Crossing], counted: list[Crossing], window_s: float = MATCH_WINDOW_S
) -> EventScore:
    """Greedy one-to-one matching by time gap (smallest first) within ``window_s``, per line and
    direction; ties broken by a same-class pair first, then by order."""
    candidates = []
    for i, t in enumerate(truth):
        for j, c in enumerate(counted):
            if c.line == t.line and c.direction == t.direction:
                dt = abs(c.t_s - t.t_s)
                if dt <= window_s:
                    candidates.append((dt, c.class_name != t.class_name, i, j))
    score = EventScore(truth, counted)
    used_t: set[int] = set()
    used_c: set[int] = set()
    for _, _, i, j in sorted(candidates):
        if i in used_t or j in used_c:
            continue
        used_t.add(i)
        used_c.add(j)
        score.pairs.append((i, j))
    score.pairs.sort()
    return score
