"""Everything one source measures on its tracks, and its per-interval sections.

``SceneAnalytics`` runs, per frame and in this order: kinematics (speed, stopped, distance step),
border-cut boxes extended to the vehicle's size (so lines near the image edge work), the counting
lines (crossings carry the speed), zone membership and statistics, turning movements,
and the per-class traffic totals the emission estimate needs (vehicles, vehicle-metres travelled,
observed and idle vehicle-seconds). ``close_interval`` finalises pending line crossings and returns
the interval's sections; ``forget`` ends tracks the tracker removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.analytics.kinematics import Kinematics, SpeedConfig
from carbonedge.vision.analytics.movements import MovementCounter
from carbonedge.vision.analytics.unclip import BorderUnclipper
from carbonedge.vision.analytics.zones import ZoneConfig, ZoneSet
from carbonedge.vision.counting.line import LineConfig, LineCounter
from carbonedge.vision.track_state import TrackTable

__all__ = ["IntervalSections", "SceneAnalytics", "percentile_85"]

FORGET_AFTER_S = 60.0


@dataclass
class IntervalSections:
    """What the scene analytics hand over as an interval closes: crossings made final at its end
    and their sections (``carbonedge.vision.analytics.scene``)."""

    events: list[LineCrossed]
    line_speeds: dict[str, dict[str, Any]] | None = None
    traffic: dict[str, dict[str, Any]] | None = None
    zones: dict[str, dict[str, Any]] | None = None
    movements: dict[str, dict[str, Any]] | None = None

    def sections(self) -> dict[str, Any]:
        """The non-empty sections by name."""
        named = {"line_speeds": self.line_speeds, "traffic": self.traffic, "zones": self.zones,
                 "movements": self.movements}  # fmt: skip
        return {name: value for name, value in named.items() if value is not None}


def percentile_85(values: Sequence[float]) -> float:
    """The 85th-percentile speed, the traffic engineer's design speed (linear interpolation)."""
    return float(np.percentile(np.asarray(values, np.float64), 85))


class SceneAnalytics:
    """Lines, speeds, zones and movements of one source."""

    def __init__(
        self,
        *,
        device_id: str,
        source_id: str,
        class_names: Sequence[str],
        lines: Sequence[LineConfig] = (),
        zones: Sequence[ZoneConfig] = (),
        ground_plane: GroundPlane | None = None,
        speed: SpeedConfig | None = None,
    ) -> None:
        self.source_id = source_id
        self.class_names = tuple(class_names)
        self.ground_plane = ground_plane
        self.kinematics = Kinematics(speed or SpeedConfig(), ground_plane)
        self.unclipper = BorderUnclipper()
        self.counters = [
            LineCounter(line, device_id=device_id, source_id=source_id, class_names=class_names)
            for line in lines
        ]
        self.zones = ZoneSet(zones) if zones else None
        self.movements = MovementCounter(zones, class_names) if zones else None
        if self.movements is not None and not self.movements.enabled:
            self.movements = None
        self._traffic = TrackTable(
            {
                "class_id": ((), np.int32, -1),
                "seen": ((), bool, False),  # observed in the current interval
                "dist_m": ((), np.float64, 0.0),
                "obs_s": ((), np.float64, 0.0),
                "idle_s": ((), np.float64, 0.0),
            }
        )
        self._ended: dict[int, NDArray[np.float64]] = {}  # class id -> [vehicles, m, s, idle s]
        self._line_speeds: dict[str, list[float]] = {c.config.id: [] for c in self.counters}

    @property
    def tracked_state_count(self) -> int:
        """Largest per-track state table (for memory checks)."""
        tables = [self.kinematics.tracked_state_count, self.unclipper.tracked_state_count,
                  len(self._traffic)]  # fmt: skip
        tables += [c.tracked_state_count for c in self.counters]
        if self.zones is not None:
            tables.append(self.zones.tracked_state_count)
        if self.movements is not None:
            tables.append(self.movements.tracked_state_count)
        return max(tables)

    def update(
        self, tracked: Detections, frame: Frame, backfill: dict[int, NDArray] | None = None
    ) -> list[LineCrossed]:
        """One frame of tracker output; returns the line crossings that became final.
        ``backfill``: tracker id -> the box a track new on this frame was at before it (the
        line counters start from there, ``LineCounter.prime``)."""
        kin = self.kinematics.update(tracked, frame)
        whole = self.unclipper.apply(tracked, frame)
        events: list[LineCrossed] = []
        if backfill and self.counters:
            ids = np.fromiter(backfill, np.int64, len(backfill))
            row_of = {int(t): r for r, t in enumerate(tracked.tracker_id)}
            class_id = np.array([tracked.class_id[row_of[int(t)]] for t in ids], np.int32)
            boxes = np.stack([backfill[int(t)] for t in ids])
            for counter in self.counters:
                counter.prime(ids, boxes, class_id, frame)
        for counter in self.counters:
            events += counter.update(whole, frame, kin.speed_kmh)
        if self.zones is not None:
            inside = self.zones.membership(whole)
            self.zones.update(whole, inside, kin.stopped, kin.step_s, frame.t_mono_s)
            if self.movements is not None:
                self.movements.update(whole, inside, frame.t_mono_s)
        self._accumulate(tracked, frame, kin.step_m, kin.step_s, kin.stopped)
        self._note_speeds(events)
        return events

    def _accumulate(
        self, tracked: Detections, frame: Frame, step_m: NDArray, step_s: NDArray, stopped: NDArray
    ) -> None:
        self._end_tracks(self._traffic.idle_ids(frame.t_mono_s, FORGET_AFTER_S))
        rows = np.flatnonzero(tracked.tracker_id >= 0)
        if len(rows) == 0:
            return
        t = self._traffic
        slots = t.slots_for(tracked.tracker_id[rows], frame.t_mono_s)
        t["class_id"][slots] = tracked.class_id[rows]
        t["seen"][slots] = True
        t["dist_m"][slots] += step_m[rows]
        t["obs_s"][slots] += step_s[rows]
        t["idle_s"][slots] += np.where(stopped[rows], step_s[rows], 0.0)

    def _end_tracks(self, tracker_ids: Iterable[int]) -> None:
        """Fold ended tracks' interval totals into the per-class totals; free their rows."""
        t = self._traffic
        for tid in tracker_ids:
            slot = t.slot(tid)
            if slot is not None and t["seen"][slot]:
                row = np.array([1.0, t["dist_m"][slot], t["obs_s"][slot], t["idle_s"][slot]])
                cid = int(t["class_id"][slot])
                self._ended[cid] = self._ended.get(cid, np.zeros(4)) + row
        t.release(tracker_ids)

    def _note_speeds(self, events: list[LineCrossed]) -> None:
        for ev in events:
            if ev.speed_kmh is not None:
                self._line_speeds[ev.line_id].append(ev.speed_kmh)

    def forget(self, tracker_ids: Sequence[int]) -> list[LineCrossed]:
        """The tracker removed these tracks: finalise and evict everything about them."""
        if not tracker_ids:
            return []
        events: list[LineCrossed] = []
        for counter in self.counters:
            events += counter.forget(tracker_ids)
        self.kinematics.forget(tracker_ids)
        self.unclipper.forget(tracker_ids)
        if self.zones is not None:
            self.zones.forget(tracker_ids)
        if self.movements is not None:
            self.movements.forget(tracker_ids)
        self._end_tracks(tracker_ids)
        self._note_speeds(events)
        return events

    def close_interval(self) -> IntervalSections:
        """Finalise pending crossings; the sections of the interval that ends now."""
        events: list[LineCrossed] = []
        for counter in self.counters:
            events += counter.flush()
        self._note_speeds(events)
        return IntervalSections(
            events=events,
            line_speeds=self._close_line_speeds(),
            traffic=self._close_traffic(),
            zones=self.zones.close_interval() if self.zones is not None else None,
            movements=self.movements.close_interval() if self.movements is not None else None,
        )

    def _close_line_speeds(self) -> dict[str, dict[str, float | int]] | None:
        if self.ground_plane is None or not self.counters:
            return None
        out: dict[str, dict[str, float | int]] = {}
        for line_id, speeds in self._line_speeds.items():
            out[line_id] = {"vehicles": len(speeds)}
            if speeds:
                out[line_id]["mean_kmh"] = round(float(np.mean(speeds)), 1)
                out[line_id]["p85_kmh"] = round(percentile_85(speeds), 1)
            speeds.clear()
        return out

    def _close_traffic(self) -> dict[str, dict[str, float | int]]:
        """Per class: vehicles seen, vehicle-km, observed and idle vehicle-seconds, mean speeds."""
        totals = self._ended
        self._ended = {}
        t = self._traffic
        live = t.live_slots()
        live = live[t["seen"][live]]
        for cid in np.unique(t["class_id"][live]).tolist():
            sel = live[t["class_id"][live] == cid]
            row = np.array([
                len(sel), t["dist_m"][sel].sum(), t["obs_s"][sel].sum(), t["idle_s"][sel].sum()
            ])  # fmt: skip
            totals[cid] = totals.get(cid, np.zeros(4)) + row
        for name in ("seen", "dist_m", "obs_s", "idle_s"):
            t[name][live] = 0
        out: dict[str, dict[str, float | int]] = {}
        for cid, (vehicles, dist_m, obs_s, idle_s) in sorted(totals.items()):
            name = self.class_names[cid] if 0 <= cid < len(self.class_names) else f"class_{cid}"
            entry: dict[str, float | int] = {
                "vehicles": int(vehicles),
                "observed_s": round(float(obs_s), 1),
                "idle_s": round(float(idle_s), 1),
            }
            if self.ground_plane is not None:
                entry["distance_km"] = round(float(dist_m) / 1000.0, 4)
                if obs_s > 0:
                    entry["mean_speed_kmh"] = round(float(dist_m) / float(obs_s) * 3.6, 1)
                if obs_s - idle_s > 0:
                    entry["moving_speed_kmh"] = round(
                        float(dist_m) / float(obs_s - idle_s) * 3.6, 1
                    )
            out[name] = entry
        return out
