"""Per-track state in columns: one row ("slot") per tracker id, reused after the track is gone.

Every analytics stage that remembers something about a track (line sides, speed samples, zone
visits) keeps it in a ``TrackTable``: NumPy columns indexed by slot, a dict from tracker id to slot
and a free list. Slots are released when the tracker removes the track (``release``) or when the
track has not been seen for ``forget_after_s`` (``evict_idle``), so memory is bounded by the
number of live tracks however long the box runs, and per-frame work is whole-column NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["TrackTable"]


class TrackTable:
    """Columns of per-track state.

    Args:
        columns: name -> (shape of one row's value, dtype, fill value for a new or free row).
        capacity: initial number of slots; doubles when full.

    Columns are attributes-by-name through ``table[name]`` (the backing array: index it with
    slots, write through it). ``seen_s`` (float64, when the track was last observed on the
    source clock) and ``owner`` (int64 tracker id, -1 for a free slot) always exist.
    """

    def __init__(
        self, columns: dict[str, tuple[tuple[int, ...], Any, Any]], capacity: int = 16
    ) -> None:
        self._spec = {"owner": ((), np.int64, -1), "seen_s": ((), np.float64, 0.0), **columns}
        self._cols: dict[str, NDArray] = {
            name: np.zeros((0, *shape), dtype) for name, (shape, dtype, _) in self._spec.items()
        }
        self._slot: dict[int, int] = {}
        self._free: list[int] = []
        self._min_seen_s = math.inf  # <= seen_s of every held track (idle_ids skips scans)
        self._grow(capacity)

    def __getitem__(self, name: str) -> NDArray:
        return self._cols[name]

    def __len__(self) -> int:
        """Tracks whose state is held."""
        return len(self._slot)

    def __contains__(self, tracker_id: int) -> bool:
        return int(tracker_id) in self._slot

    @property
    def capacity(self) -> int:
        return len(self._cols["owner"])

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        for name, (shape, dtype, fill) in self._spec.items():
            pad = np.full((capacity - old, *shape), fill, dtype)
            self._cols[name] = np.concatenate([self._cols[name], pad])
        self._free.extend(range(capacity - 1, old - 1, -1))

    def _reset(self, slot: int) -> None:
        for name, (_, _, fill) in self._spec.items():
            self._cols[name][slot] = fill

    def slot(self, tracker_id: int) -> int | None:
        """The slot of ``tracker_id``, or None when it holds no state."""
        return self._slot.get(int(tracker_id))

    def slots_for(self, tracker_ids: NDArray[np.int64], now_s: float) -> NDArray[np.int64]:
        """Slots of these tracker ids (new rows filled with defaults); marks them seen at now_s."""
        ids = tracker_ids.tolist()
        get = self._slot.get
        found = [get(tid) for tid in ids]  # one dict lookup per id: the whole cost when all known
        if None in found:  # new ids take free slots in order (a repeated new id gets one)
            for k, slot in enumerate(found):
                if slot is None:
                    found[k] = self._slot_or_new(ids[k])
        out = np.array(found, np.int64)
        self._cols["seen_s"][out] = now_s
        if now_s < self._min_seen_s:
            self._min_seen_s = now_s
        return out

    def _slot_or_new(self, tracker_id: int) -> int:
        """The slot of ``tracker_id``, taking a free one (filled with defaults) if it has none."""
        slot = self._slot.get(tracker_id)
        if slot is None:
            if not self._free:
                self._grow(2 * self.capacity)
            slot = self._free.pop()
            self._reset(slot)
            self._slot[tracker_id] = slot
            self._cols["owner"][slot] = tracker_id
        return slot

    def release(self, tracker_ids: Iterable[int]) -> list[int]:
        """Free the slots of these ids (unknown ids are ignored); returns the freed slots."""
        freed = []
        for tid in map(int, tracker_ids):
            slot = self._slot.pop(tid, None)
            if slot is not None:
                self._cols["owner"][slot] = -1
                self._free.append(slot)
                freed.append(slot)
        return freed

    def idle_ids(self, now_s: float, forget_after_s: float) -> list[int]:
        """Tracker ids not seen for more than ``forget_after_s``.

        Scans the table only when the oldest ``seen_s`` (a lower bound kept by ``slots_for``)
        could be idle, so the usual frame costs one comparison.
        """
        if now_s - self._min_seen_s <= forget_after_s:
            return []
        owner, seen = self._cols["owner"], self._cols["seen_s"]
        live = owner >= 0
        idle = live & (now_s - seen > forget_after_s)
        self._min_seen_s = float(seen[live].min()) if live.any() else math.inf
        return owner[idle].tolist()

    def live_slots(self) -> NDArray[np.int64]:
        """Slots that hold a track, ascending."""
        return np.flatnonzero(self._cols["owner"] >= 0)
