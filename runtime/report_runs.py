"""Separate runs in one store, so the report never mixes two recordings or two service starts.

The store keeps no run id, so runs are read from the summaries themselves. Per device, in the
order they were written (``seq``), a summary starts a new run when the previous summary of the
same source was ``partial`` (closed early by the end of a file or a shutdown: within one run a
source has at most one partial interval, its last) or when it starts before that previous summary
ended (time went backwards: another file, or the same clip again with another ``start_wall``).
A run that ended without a flush (power cut) followed by a later start is not told apart; a
re-run of the very same clip with the same start time writes the same summary ids, so the store
keeps the first. Events (crossings, alarms) belong to the run whose span of their source holds
their time (the latest such run when two overlap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carbonedge.runtime.base.errors import ConfigError


@dataclass
class Run:
    """One run: ``number`` counts from 1 in order of first interval start over the store."""

    number: int
    device_id: str
    summaries: list[dict[str, Any]] = field(default_factory=list)
    spans_s: dict[str, tuple[float, float]] = field(default_factory=dict)  # source -> (t0, t1)
    last_seq: int = 0

    @property
    def start_s(self) -> float:
        return min(t0 for t0, _ in self.spans_s.values())

    @property
    def end_s(self) -> float:
        return max(t1 for _, t1 in self.spans_s.values())

    @property
    def sources(self) -> list[str]:
        return sorted(self.spans_s)

    def holds(self, source_id: str, t_s: float) -> bool:
        span = self.spans_s.get(source_id)
        return span is not None and span[0] <= t_s <= span[1]


def split_runs(summaries: list[dict[str, Any]], parse_utc: Any) -> list[Run]:
    """The runs of ``summaries`` (bodies as stored), numbered by start time."""
    runs: list[Run] = []
    by_device: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        by_device.setdefault(str(s["device_id"]), []).append(s)
    for device, own in by_device.items():
        own.sort(key=lambda b: (int(b.get("seq") or 0), b["interval_start"]))
        run = Run(0, device)
        last: dict[str, tuple[float, bool]] = {}  # source -> (end s, partial)
        for s in own:
            source = str(s["source_id"])
            t0, t1 = parse_utc(s["interval_start"]), parse_utc(s["interval_end"])
            prev = last.get(source)
            if prev is not None and (prev[1] or t0 < prev[0] - 1e-3):
                runs.append(run)
                run, last = Run(0, device), {}
            run.summaries.append(s)
            lo, hi = run.spans_s.get(source, (t0, t1))
            run.spans_s[source] = (min(lo, t0), max(hi, t1))
            run.last_seq = max(run.last_seq, int(s.get("seq") or 0))
            last[source] = (t1, bool(s.get("partial")))
        if run.summaries:
            runs.append(run)
    runs.sort(key=lambda r: (r.start_s, r.device_id, r.last_seq))
    for number, run in enumerate(runs, start=1):
        run.number = number
    return runs


def pick_runs(runs: list[Run], choice: str | int | None) -> list[Run]:
    """``None``: the latest written run of each device; ``"all"``: every run; N: run N."""
    if choice is None:
        latest: dict[str, Run] = {}
        for run in runs:
            if run.device_id not in latest or run.last_seq >= latest[run.device_id].last_seq:
                latest[run.device_id] = run
        return sorted(latest.values(), key=lambda r: r.number)
    if str(choice).strip().lower() == "all":
        return list(runs)
    try:
        number = int(choice)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= len(runs):
        raise ConfigError(f"--run {choice!r}: expected 'all' or a run number from 1 to "
                          f"{len(runs)} (the store holds {len(runs)} runs)")  # fmt: skip
    return [runs[number - 1]]


def event_in_runs(body: dict[str, Any], chosen: list[Run], runs: list[Run], t_s: float) -> bool:
    """Whether an event of ``body['source_id']`` at ``t_s`` belongs to one of ``chosen``: the
    latest run (highest number) holding it decides."""
    owner = None
    for run in runs:
        if run.device_id == body.get("device_id") and run.holds(str(body.get("source_id")), t_s):
            owner = run
    return owner is not None and any(owner is c for c in chosen)
