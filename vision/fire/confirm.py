"""Scene-aware confirmation of fire/smoke candidates, the same for every candidate source.

Per camera, per frame:

1. candidates in the exclusion masks are dropped; boxes of one class closer than
   ``match_gap_frac`` x width merge into one region (a plume seen as several boxes);
2. regions join the nearest live track of their class (boxes within the gap), or start one;
3. each track keeps its hits over the last ``window_frames`` frames (Pyronear's vote);
4. a track confirms when it has ``votes_to_start`` hits in the window, has lived
   ``*_min_duration_s``, and, for smoke, started on the terrain (bottom at or below the horizon)
   and grew over its last hits (area >= ``smoke_growth_ratio`` x the area ``window_frames`` hits
   earlier and by ``smoke_min_growth_frac`` x frame area, or its top rose by ``smoke_rise_frac``
   x height);
5. the camera's alarm starts on the first confirmed track (unless in cooldown), then relaxes to
   ``votes_to_keep`` hits (hysteresis); it updates at most every ``update_interval_s`` and ends
   once nothing was seen for ``end_after_s``; a new alarm waits ``cooldown_s`` after an end.

One fire is one alarm: while the camera's alarm is active, every confirmed region updates it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from carbonedge.vision.fire.activity import ActivityMap
from carbonedge.vision.fire.config import ConfirmConfig
from carbonedge.vision.fire.scene import Scene

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Candidate:
    """One region proposed by a detector: xyxy in frame pixels, "smoke" or "fire", confidence."""

    xyxy: Box
    class_name: str
    confidence: float
    member_area: float | None = None  # summed box areas of the parts merged into it

    @property
    def fill(self) -> float:
        """Share of the box its parts cover (1 for a single detection)."""
        area = _area(self.xyxy)
        return 1.0 if self.member_area is None or area <= 0 else min(1.0, self.member_area / area)


@dataclass
class Track:
    class_name: str
    first_box: Box
    first_t_s: float
    last_box: Box
    last_seen_t_s: float
    confidence: float
    hits: deque = field(default_factory=deque)  # 1/0 per frame, newest last
    recent: deque = field(default_factory=deque)  # boxes (xyxy) of the latest hits
    fill: float = 1.0  # the latest region's share covered by its parts
    confirmed: bool = False
    prior_activity: float = 0.0  # how busy its place was before it appeared (0-1)

    def vote(self) -> int:
        return int(sum(self.hits))


@dataclass(frozen=True)
class Decision:
    """What the confirmer decided for one frame."""

    action: str  # "none" | "start" | "update" | "end"
    tracks: tuple[Track, ...] = ()


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _gap(a: Box, b: Box) -> float:
    """Distance between two boxes (0 when they overlap or touch)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _parts_area(c: Candidate) -> float:
    return _area(c.xyxy) if c.member_area is None else c.member_area


def merge_regions(cands: list[Candidate], gap_px: float) -> list[Candidate]:
    """Union of same-class boxes closer than ``gap_px`` (repeated until stable)."""
    out = list(cands)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a.class_name == b.class_name and _gap(a.xyxy, b.xyxy) <= gap_px:
                    parts = _parts_area(a) + _parts_area(b)
                    out[i] = Candidate(
                        _union(a.xyxy, b.xyxy),
                        a.class_name,
                        max(a.confidence, b.confidence),
                        parts,
                    )
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


def anchored(boxes: deque | list, height_px: int, tolerance_frac: float) -> bool:
    """Whether a region stays anchored at its base over its recent ``boxes`` (oldest first):
    a plume grows up and sideways from a fixed source, so its bottom edge rises at most
    ``tolerance_frac`` x frame height (a faint base found later may lower it by up to half the
    region's height), and the old box's bottom centre stays inside the new box; a drifting
    cloud or a merge of cloud patches moves its bottom and slides away from where it was."""
    first, last = boxes[0], boxes[-1]
    tol = tolerance_frac * height_px
    lowered = last[3] - first[3]
    if lowered < -tol or lowered > max(tol, 0.5 * (last[3] - last[1])):
        return False
    cx = (first[0] + first[2]) / 2
    margin = 0.25 * (last[2] - last[0])
    return last[0] - margin <= cx <= last[2] + margin


def rises_more_than_spreads(boxes: deque | list, height_px: int, ratio: float) -> bool:
    """Whether the region grew up more than sideways: its width grew by at most ``ratio`` x
    its height's growth (at least 0.5 % of the frame height). Young smoke climbs; a cloud band
    or haze layer that brightens spreads along the horizon."""
    first, last = boxes[0], boxes[-1]
    dw = (last[2] - last[0]) - (first[2] - first[0])
    dh = (last[3] - last[1]) - (first[3] - first[1])
    return dw <= ratio * max(dh, 0.005 * height_px)


class Confirmer:
    """Confirmation state of one camera."""

    def __init__(self, config: ConfirmConfig) -> None:
        self.config = config
        self.tracks: list[Track] = []
        self.active = False
        self.started_t_s = 0.0
        self.last_event_t_s = -float("inf")
        self.last_seen_t_s = -float("inf")
        self.ended_t_s = -float("inf")
        self.last_area = 0.0
        self.last_t_s = -float("inf")
        self.dt_s = float("inf")  # time since the previous frame
        self.activity: ActivityMap | None = None
        self.night = False

    def _activity(self, scene: Scene) -> ActivityMap:
        if (
            self.activity is None
            or self.activity.shape[1] * self.activity.cell_px < scene.shape_hw[1] - 1
        ):
            self.activity = ActivityMap(scene.shape_hw, self.config.activity_tau_s)
        return self.activity

    def step(
        self, cands: list[Candidate], scene: Scene, t_s: float, *, night: bool = False
    ) -> Decision:
        """Feed the candidates of one frame at time ``t_s`` (seconds, monotonic); ``night``: the
        detector's darkness switch is on (fire candidates are glowing points and lines)."""
        cfg = self.config
        self.night = night
        self.dt_s, self.last_t_s = t_s - self.last_t_s, t_s
        # Step 1: exclusions and merging
        kept = [c for c in cands if scene.excluded_fraction(c.xyxy) < 0.5]
        gap_px = cfg.match_gap_frac * scene.shape_hw[1]
        regions = merge_regions(kept, cfg.merge_gap_frac * scene.shape_hw[1])
        # Step 2: association
        hit_ids: set[int] = set()
        for region in sorted(regions, key=lambda c: -_area(c.xyxy)):
            track = self._nearest(region, gap_px, hit_ids)
            if track is None:
                track = Track(region.class_name, region.xyxy, t_s, region.xyxy, t_s, 0.0)
                track.prior_activity = self._activity(scene).prior(region.xyxy)
                self.tracks.append(track)
            self._absorb(track, region, t_s)
            hit_ids.add(id(track))
        # a region over a twentieth of the frame is a global flash (exposure, haze), not a
        # busy place: it does not mark the map
        local = [
            c.xyxy for c in kept if _area(c.xyxy) <= 0.05 * scene.shape_hw[0] * scene.shape_hw[1]
        ]
        self._activity(scene).update(local, self.dt_s)
        # Step 3: votes and eviction
        for track in self.tracks:
            if id(track) not in hit_ids:
                track.hits.append(0)
            while len(track.hits) > cfg.window_frames:
                track.hits.popleft()
        self.tracks = [
            t for t in self.tracks if t.vote() > 0 or t_s - t.last_seen_t_s < cfg.end_after_s
        ]
        self.tracks = sorted(self.tracks, key=lambda t: -t.last_seen_t_s)[: cfg.max_tracks]
        # Step 4: confirmation
        confirmed = []
        for track in self.tracks:
            need = cfg.votes_to_keep if (self.active and track.confirmed) else cfg.votes_to_start
            if track.vote() >= need and (track.confirmed or self._qualifies(track, scene, t_s)):
                track.confirmed = True
                if id(track) in hit_ids:
                    confirmed.append(track)
        # Step 5: alarm state
        return self._alarm_state(confirmed, t_s)

    def _nearest(self, region: Candidate, gap_px: float, taken: set[int]) -> Track | None:
        best, best_gap = None, float("inf")
        for track in self.tracks:
            if track.class_name != region.class_name or id(track) in taken:
                continue
            g = _gap(track.last_box, region.xyxy)
            if g <= gap_px and g < best_gap:
                best, best_gap = track, g
        return best

    def _absorb(self, track: Track, region: Candidate, t_s: float) -> None:
        track.last_box = region.xyxy
        track.last_seen_t_s = t_s
        track.hits.append(1)
        n = max(1, track.vote())
        track.confidence += (region.confidence - track.confidence) / n
        track.recent.append(region.xyxy)
        track.fill = region.fill
        while len(track.recent) > self.config.window_frames + 1:
            track.recent.popleft()

    def _qualifies(self, track: Track, scene: Scene, t_s: float) -> bool:
        cfg = self.config
        if track.class_name == "fire" and self.dt_s <= cfg.video_rate_max_dt_s:
            return t_s - track.first_t_s >= cfg.fire_min_duration_s  # flicker checked upstream
        # smoke, and flames seen at a tower camera's cadence (no flicker to see): minutes of
        # persistence, start on the terrain, in a place that was quiet
        if t_s - track.first_t_s < cfg.smoke_min_duration_s:
            return False
        if not scene.origin_on_terrain(track.first_box):
            return False
        # a busy place (clouds, trees): candidates kept appearing there before, or beside it now
        busy = max(track.prior_activity, self._activity(scene).beside(track.last_box))
        if busy > cfg.smoke_max_prior_activity:
            return False
        if track.class_name == "fire" and self.night:  # a glow on a ridge need not rise or grow
            return True
        if not anchored(
            [track.first_box, *track.recent], scene.shape_hw[0], cfg.anchor_tolerance_frac
        ):
            return False
        if track.fill < cfg.smoke_min_fill_frac:  # scattered patches (cirrus, glints) merged
            return False
        if not rises_more_than_spreads(track.recent, scene.shape_hw[0], cfg.spread_ratio_max):
            return False
        # growth over the recent hits, not the whole life: a shadow that creeps for an hour
        # grows too, but not by half within a few frames
        box0, box1 = track.recent[0], track.recent[-1]
        (area0, top0), (area1, top1) = (_area(box0), box0[1]), (_area(box1), box1[1])
        frame_area = scene.shape_hw[0] * scene.shape_hw[1]
        grew = area1 >= cfg.smoke_growth_ratio * max(area0, 1.0) and (
            area1 - area0 >= cfg.smoke_min_growth_frac * frame_area
        )
        # smoke rises: its top must climb; a cloud band that brightens or spreads sideways,
        # a shadow that creeps, grow without rising
        rose = top0 - top1 >= cfg.smoke_rise_frac * scene.shape_hw[0]
        return rose and (grew or not cfg.smoke_growth_required)

    def _alarm_state(self, confirmed: list[Track], t_s: float) -> Decision:
        cfg = self.config
        if confirmed:
            self.last_seen_t_s = t_s
        if not self.active:
            if confirmed and t_s - self.ended_t_s >= cfg.cooldown_s:
                self.active, self.started_t_s, self.last_event_t_s = True, t_s, t_s
                self.last_area = sum(_area(t.last_box) for t in confirmed)
                return Decision("start", tuple(confirmed))
            return Decision("none")
        if t_s - self.last_seen_t_s >= cfg.end_after_s:
            self.active, self.ended_t_s = False, t_s
            for track in self.tracks:
                track.confirmed = False
            return Decision("end")
        if confirmed and t_s - self.last_event_t_s >= cfg.update_interval_s:
            self.last_event_t_s = t_s
            return Decision("update", tuple(confirmed))
        return Decision("none", tuple(confirmed))
