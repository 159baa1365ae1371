"""Turning-movement counts: origin zone -> destination zone per vehicle (AI City track-1 style).

A track's origin is the first ``entry`` (or ``both``) zone its anchor was seen in; its destination
is the last ``exit`` (or ``both``) zone it was seen in other than the origin. When the track ends
(the tracker removed it, or it was not seen for ``forget_after_s``) a track with both is one
movement ``"<origin>-><destination>"`` of its voted class. Tracks that never reached a destination
(turned back, left through no zone, or were lost) are reported as ``incomplete`` per origin, so
the matrix's gaps are visible rather than silent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.types import Detections
from carbonedge.vision.analytics.zones import ZoneConfig
from carbonedge.vision.track_state import TrackTable

__all__ = ["MovementCounter"]


class MovementCounter:
    """Origin-destination counts over the movement zones of one source."""

    def __init__(
        self,
        zones: Sequence[ZoneConfig],
        class_names: Sequence[str],
        *,
        forget_after_s: float = 60.0,
    ) -> None:
        self.zone_ids = tuple(z.id for z in zones)
        self._entry = np.array([z.movement in ("entry", "both") for z in zones], bool)
        self._exit = np.array([z.movement in ("exit", "both") for z in zones], bool)
        self.class_names = tuple(class_names)
        self.forget_after_s = forget_after_s
        self._state = TrackTable(
            {
                "origin": ((), np.int32, -1),
                "dest": ((), np.int32, -1),
                "class_id": ((), np.int32, -1),
            }
        )
        self._counts: dict[str, dict[str, int]] = {}
        self._incomplete: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._entry.any() and self._exit.any())

    @property
    def tracked_state_count(self) -> int:
        return len(self._state)

    def update(self, tracked: Detections, inside: NDArray[np.bool_], now_s: float) -> None:
        """Record origins and destinations from this frame's (N, Z) zone membership."""
        self._finish(self._state.idle_ids(now_s, self.forget_after_s))
        rows = np.flatnonzero((tracked.tracker_id >= 0) & inside.any(axis=1))
        st = self._state
        if len(rows):
            slots = st.slots_for(tracked.tracker_id[rows], now_s)
            st["class_id"][slots] = tracked.class_id[rows]
            entry_hit = inside[rows] & self._entry
            first_entry = np.argmax(entry_hit, axis=1)
            new_origin = (st["origin"][slots] < 0) & entry_hit.any(axis=1)
            st["origin"][slots[new_origin]] = first_entry[new_origin]
            origin = st["origin"][slots]
            exit_hit = inside[rows] & self._exit
            exit_hit[np.arange(len(rows)), np.maximum(origin, 0)] &= origin < 0
            has_exit = exit_hit.any(axis=1)
            st["dest"][slots[has_exit]] = np.argmax(exit_hit, axis=1)[has_exit]
        # tracks seen outside every zone keep their state alive too
        others = np.flatnonzero((tracked.tracker_id >= 0) & ~inside.any(axis=1))
        live = [t for t in tracked.tracker_id[others].tolist() if t in st]
        if live:
            st.slots_for(np.asarray(live, np.int64), now_s)

    def _finish(self, tracker_ids) -> None:
        st = self._state
        for tid in tracker_ids:
            slot = st.slot(tid)
            if slot is None:
                continue
            origin, dest = int(st["origin"][slot]), int(st["dest"][slot])
            if origin >= 0 and dest >= 0:
                key = f"{self.zone_ids[origin]}->{self.zone_ids[dest]}"
                cid = int(st["class_id"][slot])
                name = self.class_names[cid] if 0 <= cid < len(self.class_names) else f"class_{cid}"
                per_class = self._counts.setdefault(key, {})
                per_class[name] = per_class.get(name, 0) + 1
            elif origin >= 0:
                zone = self.zone_ids[origin]
                self._incomplete[zone] = self._incomplete.get(zone, 0) + 1
        st.release(tracker_ids)

    def forget(self, tracker_ids) -> None:
        self._finish([int(t) for t in tracker_ids])

    def close_interval(self) -> dict[str, dict] | None:
        """``{"counts": {movement: {class: n}}, "incomplete": {origin: n}}`` for the interval."""
        if not self.enabled:
            return None
        out = {"counts": self._counts, "incomplete": self._incomplete}
        self._counts, self._incomplete = {}, {}
        return out
