"""Per-interval summaries of one source: counts by line, direction and class, plus the sections
(speeds, traffic by class, zones, movements) its analytics hand over when an interval closes.

Intervals are aligned to multiples of ``interval_s`` in UTC wall time (08:00:00-08:01:00, ...), so
summaries from several boxes line up. The first interval after a start, or after a gap in which the
source delivered nothing, begins at its first frame instead (08:00:35-08:01:00): a summary never
claims coverage it did not have, and never shares its id with the partial interval flushed before a
restart. An interval is closed by the first frame at or after its end; the last, partial interval
is closed by ``flush``. Intervals with no frames at all are not reported as zero traffic.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from carbonedge.runtime.base.events import IntervalSummary, LineCrossed

DIRECTIONS = ("in", "out")

#: ``on_close(start_s, end_s) -> (crossings made final now, sections by name)``
OnClose = Callable[[float, float], tuple[list[LineCrossed], dict[str, Any]]]


class IntervalAggregator:
    """Accumulates one source's line crossings and frame counts, emitting ``IntervalSummary``."""

    def __init__(
        self,
        *,
        device_id: str,
        source_id: str,
        line_ids: Iterable[str],
        interval_s: float,
        detector: str,
        next_seq: Callable[[], int],
        on_close: OnClose | None = None,
        calibration_id: str | None = None,
    ) -> None:
        """``on_close(start_s, end_s) -> (crossings, sections)`` is called as an interval closes,
        before its summary is built: the crossings it returns (made final at the interval's end)
        count in that interval, and its sections (name -> JSON value) go into the summary.
        ``calibration_id`` goes into every summary."""
        self.device_id, self.source_id = device_id, source_id
        self.line_ids = tuple(line_ids)
        self.interval_s = float(interval_s)
        self.detector = detector
        self._next_seq = next_seq
        self._on_close = on_close
        self.calibration_id = calibration_id
        self._start_s: float | None = None
        self._last_end_s: float | None = None
        self._frames = 0
        self._frame_errors = 0
        self._counts: dict[str, dict[str, dict[str, int]]] = {}

    def _open(self, t_wall_s: float) -> None:
        aligned_s = math.floor(t_wall_s / self.interval_s) * self.interval_s
        self._start_s = aligned_s if self._last_end_s == aligned_s else t_wall_s
        self._frames = self._frame_errors = 0
        self._counts = {line: {d: {} for d in DIRECTIONS} for line in self.line_ids}

    def _end_s(self) -> float:
        assert self._start_s is not None
        return (math.floor(self._start_s / self.interval_s) + 1) * self.interval_s

    def roll(self, t_wall_s: float) -> IntervalSummary | None:
        """Close the open interval if ``t_wall_s`` is at or after its end (call before the frame
        at ``t_wall_s`` is analysed, so its results go to the next interval)."""
        if self._start_s is not None and t_wall_s >= self._end_s():
            return self._close(self._end_s())
        return None

    def add_crossings(self, crossings: Iterable[LineCrossed]) -> None:
        """Count crossings made final outside a frame (tracks ended at shutdown); they belong to
        the open interval (there is none only before the first frame, when there are none)."""
        if self._start_s is not None:
            self._count(crossings)

    def add_frame(
        self, t_wall_s: float, crossings: Iterable[LineCrossed] = (), *, ok: bool = True
    ) -> IntervalSummary | None:
        """Register one processed frame (``ok=False``: it failed) and its crossings.

        Returns the summary of the interval this frame closed, if any.
        """
        closed = None
        if self._start_s is not None and t_wall_s >= self._end_s():
            closed = self._close(self._end_s())
        if self._start_s is None:
            self._open(t_wall_s)
        if ok:
            self._frames += 1
        else:
            self._frame_errors += 1
        self._count(crossings)
        return closed

    def _count(self, crossings: Iterable[LineCrossed]) -> None:
        for ev in crossings:
            by_class = self._counts.setdefault(ev.line_id, {d: {} for d in DIRECTIONS})
            per_class = by_class[ev.direction]
            per_class[ev.class_name] = per_class.get(ev.class_name, 0) + 1

    def flush(self, end_s: float) -> IntervalSummary | None:
        """Close the open interval early (end of file, shutdown) at ``end_s``."""
        if self._start_s is None:
            return None
        aligned_end_s = self._end_s()
        return self._close(min(end_s, aligned_end_s), partial=end_s < aligned_end_s)

    def _close(self, end_s: float, *, partial: bool = False) -> IntervalSummary:
        assert self._start_s is not None
        on_close = self._on_close
        late, sections = on_close(self._start_s, end_s) if on_close is not None else ([], {})
        self._count(late)
        summary = IntervalSummary(
            device_id=self.device_id,
            source_id=self.source_id,
            seq=self._next_seq(),
            interval_start_s=self._start_s,
            interval_end_s=end_s,
            counts=self._counts,
            frames=self._frames,
            detector=self.detector,
            frame_errors=self._frame_errors,
            partial=partial,
            sections=sections,
            calibration_id=self.calibration_id,
        )
        self._start_s, self._last_end_s = None, end_s
        return summary
