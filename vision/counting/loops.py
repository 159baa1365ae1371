"""Virtual loops: crossings read from a line's own pixels, for road users the tracker never follows.

A detector at 416 px sees little of a car 5-10 px wide, but the car still changes the pixels it
drives over. A hand counter finds such crossings on a space-time slice of the line (its pixels,
one row per frame): each vehicle leaves a streak. A ``VirtualLoop`` does that online, the way a
traffic engineer's video detector watches a lane with a "virtual loop":

- Three parallel rows of samples across the line (on it and ``offset_px`` either side of it,
  ``kernels.loops``), compared every frame with a running background of the empty road (the
  median of the first ``warmup_s``; then each sample learns at ``alpha`` while it is road).
- A *blob* is a run of foreground samples along the line (gaps up to ``GAP_PX`` closed) followed
  from frame to frame while its runs overlap; it ends ``CLOSE_FRAMES`` frames after its last run.
- A blob is a crossing when all three rows saw it, in turn, and the mean times it sat on the
  two outer rows differ (the side it reached first is the side it came from: the direction);
  the frame is when its bottom met the line, as the line counter anchors a box: the first frame
  on the line for a road user moving down the picture, the last for one moving up. A blob
  already on the rows when the loop started counts only when that moment came after the start
  (moving down: the line's row lit later; moving up: it left the rows in turn), so a restart
  keeps the crossings in progress and adds none that happened before it.
- It counts only what the line counter did not: a track seen crossing the line the same way
  (counted or not in the end) within ``hold_s`` of the blob's crossing, whose box there (grown
  by one box height above and below, a tenth of its width to the sides) covers the blob's
  samples on the line, claims it (one blob per track crossing); should the counter drop that
  crossing when it becomes final (``LineCounter.pop_dropped``), the claim is released and a blob
  it claimed counts after all. And it counts only road users
  small for the model (the blob's width along the line, in the model input's px, under
  ``below_px``; the caller gives the scale along the line): the larger ones are the
  detector's.

Two road users side by side in touching runs, or bumper to bumper without a gap of road between
them on the line, make one blob: the loop undercounts dense queues and never splits a merged
pair. A loop sees no shape: its stage (``runtime/stages/loops.py``) gives a crossing the class most
of the line's tracked crossings had, or ``class_name`` until it has seen a few.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from carbonedge.calibration.geometry import LineConfig
from carbonedge.kernels import line_samples, loop_update
from carbonedge.runtime.base.model import StrictModel

logger = logging.getLogger(__name__)

__all__ = ["LoopBlob", "LoopsConfig", "VirtualLoop"]

GAP_PX = 2  # foreground runs this close along the line are one road user
CLOSE_FRAMES = 2  # a blob ends after this many frames without a run
MIN_FRAMES = 3  # a shorter blob is noise, and so is one that touched a row for fewer frames
MIN_DURATION_S = 0.2  # a road user small enough for a loop takes longer to pass three rows
MIN_WIDTH_PX = 4  # a narrower one too (a flickering edge, a sign post's tip)
MIN_FILL = 0.35  # on its frames on the line, a road user covers this share of its width
MAX_CLAIMS = 256  # line-counter crossings kept for claiming blobs, at most
WARMUP_MAX_FRAMES = 150  # frames kept to learn the first background from


class LoopsConfig(StrictModel):
    """Virtual loops on a camera's lines (``loops:``; ``vision/counting/loops.py``)."""

    mode: Literal["auto", "off"] = Field(
        "auto", description="auto: count small road users the tracker misses; off: never"
    )
    below_px: float = Field(
        20.0, gt=0.0, description="road users narrower than this in the model input, px, count"
    )
    threshold_levels: float = Field(
        25.0, ge=0.0, description="a sample is foreground when a colour differs by more, levels"
    )
    offset_px: float = Field(3.0, gt=0.0, description="the outer rows lie this far from the line")
    alpha: float = Field(0.02, gt=0.0, le=1.0, description="background learning rate per frame")
    warmup_s: float = Field(2.5, gt=0.0, description="the first background: median over this")
    hold_s: float = Field(
        1.0, ge=0.0, description="a tracked box this soon after the blob still claims it, s"
    )
    class_name: str = Field(
        "car",
        min_length=1,
        description="the class a loop crossing counts as until its line has seen 5 tracked "
        "crossings (then: the class most of them had)",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        """``loops: off`` / ``auto``, and ``mode: off`` (YAML's bare off/on arrive as booleans)."""
        if isinstance(data, (bool, str)):
            data = {"mode": data}
        if isinstance(data, dict) and isinstance(data.get("mode"), bool):
            data = {**data, "mode": "auto" if data["mode"] else "off"}
        return data


@dataclass(slots=True)
class LoopBlob:
    """One road user on the loop: its extent along the line (px), frames, and the rows' times."""

    lo: int
    hi: int
    first_frame: int
    last_frame: int
    first_t_s: float
    last_t_s: float
    min_lo: int
    max_hi: int
    width_px: int
    mass: list[int] = field(default_factory=lambda: [0, 0, 0])
    mass_t: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    row_first: list[float] = field(default_factory=lambda: [np.inf] * 3)  # first time per row
    row_last: list[float] = field(default_factory=lambda: [-np.inf] * 3)  # last time per row
    # on the line itself: frames seen there, and the first and last (frame, t_s); counts, not a
    # list, so a vehicle standing on the line for hours costs no memory
    on_line_frames: int = 0
    on_line_first: tuple[int, float] = (-1, np.inf)
    on_line_last: tuple[int, float] = (-1, -np.inf)
    last_seen: int = 0  # processed-frame counter of its last run

    def absorb(self, other: LoopBlob) -> None:
        """``other`` joined this blob: one road user (or two that touch) from now on."""
        if other.first_frame < self.first_frame:
            self.first_frame, self.first_t_s = other.first_frame, other.first_t_s
        self.min_lo, self.max_hi = min(self.min_lo, other.min_lo), max(self.max_hi, other.max_hi)
        self.width_px = max(self.width_px, other.width_px)
        for row in range(3):
            self.mass[row] += other.mass[row]
            self.mass_t[row] += other.mass_t[row]
            self.row_first[row] = min(self.row_first[row], other.row_first[row])
            self.row_last[row] = max(self.row_last[row], other.row_last[row])
        self.on_line_frames += other.on_line_frames
        self.on_line_first = min(self.on_line_first, other.on_line_first, key=lambda f: f[1])
        self.on_line_last = max(self.on_line_last, other.on_line_last, key=lambda f: f[1])

    def add(self, fg: NDArray[np.uint8], frame: int, t_s: float) -> None:
        for row in range(3):
            m = int(fg[row, self.lo : self.hi + 1].sum())
            self.mass[row] += m
            self.mass_t[row] += m * t_s
            if m:
                self.row_first[row] = min(self.row_first[row], t_s)
                self.row_last[row] = t_s
                if row == 1:
                    self.on_line_frames += 1
                    if self.on_line_frames == 1:
                        self.on_line_first = (frame, t_s)
                    self.on_line_last = (frame, t_s)


def fg_runs(mask: NDArray[np.bool_], gap: int = GAP_PX) -> list[tuple[int, int]]:
    """Runs (first, last index) of True in ``mask``, runs separated by ``gap`` or fewer False
    joined."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap + 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


class VirtualLoop:
    """One line's loop: ``update`` per frame; crossings come out once decided."""

    def __init__(self, line: LineConfig, frame_hw: tuple[int, int], config: LoopsConfig) -> None:
        self.line = line
        self.config = config
        d = config.offset_px
        maps = line_samples(line.start_px, line.end_px, (-d, 0.0, d), frame_hw)
        self._map_x, self._map_y = maps[..., 0].copy(), maps[..., 1].copy()
        self.points = maps[1].astype(np.float64)  # (N, 2) the samples on the line itself
        p0, p1 = np.asarray(line.start_px, float), np.asarray(line.end_px, float)
        unit = (p1 - p0) / np.hypot(*(p1 - p0))
        self._down_if_in = unit[0] > 0  # "in" moves along the normal (-uy, ux): down if ux > 0
        self._background: NDArray[np.float32] | None = None
        self._warmup: list[tuple[NDArray[np.float32], int, float]] = []
        # the counter's crossings, newest last; bounded: a vehicle standing on the line keeps its
        # blob open (and the claims since its first frame) for as long as it stands
        self._claims: deque[tuple[str, float, NDArray[np.bool_]]] = deque(maxlen=MAX_CLAIMS)
        # blobs a claim took, until the counter drops that crossing (if ever): (claim direction,
        # claim time, the blob's crossing), newest last
        self._taken: deque[tuple[str, float, tuple[str, int, float]]] = deque(maxlen=MAX_CLAIMS)
        self._t0_s: float | None = None
        self._active: list[LoopBlob] = []
        self._closed: list[LoopBlob] = []
        self._seen = 0
        self.claimed = 0  # blobs the line counter had
        self.too_large = 0  # blobs of road users the detector sees

    def update(
        self,
        image: NDArray[np.uint8],
        frame: int,
        t_s: float,
        model_scale: float,
        claims: Sequence[tuple[str, float, float, float, float, float]] = (),
        released: Sequence[tuple[str, float]] = (),
    ) -> list[tuple[str, int, float]]:
        """One frame. ``claims``: the line counter's crossings seen on it (direction, wall time
        s, box x0, y0, x1, y1 px); ``released``: those of them it dropped since (direction, wall
        time s as seen). Returns the crossings decided now: (direction, frame, t_s)."""
        out = self._release(released) if released else []
        for direction, t_claim, x0, y0, x1, y1 in claims:
            dx, dy = 0.1 * (x1 - x0) + 1.0, y1 - y0
            px = self.points
            inside = (px[:, 0] >= x0 - dx) & (px[:, 0] <= x1 + dx) \
                & (px[:, 1] >= y0 - dy) & (px[:, 1] <= y1 + dy)  # fmt: skip
            self._claims.append((direction, t_claim, inside))
        samples = cv2.remap(image, self._map_x, self._map_y, cv2.INTER_LINEAR).astype(np.float32)
        if self._background is None:
            if self._t0_s is None:
                self._t0_s = t_s
            self._warmup.append((samples, frame, t_s))
            if t_s - self._t0_s < self.config.warmup_s and len(self._warmup) < WARMUP_MAX_FRAMES:
                return out
            return out + self._start(model_scale)
        self._step(samples, frame, t_s)
        return out + self._decide(t_s, model_scale)

    def _release(self, released: Sequence[tuple[str, float]]) -> list[tuple[str, int, float]]:
        """The counter dropped these crossings: their claims go, and a blob one of them took
        is a crossing after all (returned)."""
        out = []
        for direction, t_claim in released:
            for k, (d, t, _) in enumerate(self._claims):
                if d == direction and t == t_claim:
                    del self._claims[k]
                    break
            for k, (d, t, crossing) in enumerate(self._taken):
                if d == direction and t == t_claim:
                    del self._taken[k]
                    self.claimed -= 1
                    logger.debug("line %s: track crossing at %.2f dropped; crossing %s at "
                                 "frame %d", self.line.id, t_claim, *crossing[:2])  # fmt: skip
                    out.append(crossing)
                    break
        return out

    def flush(self, model_scale: float) -> list[tuple[str, int, float]]:
        """End of an interval or of the source: decide every closed blob now (a blob still on
        the line has not crossed yet)."""
        out = self._start(model_scale) if self._background is None and self._warmup else []
        return out + self._decide(np.inf, model_scale)

    def _start(self, model_scale: float) -> list[tuple[str, int, float]]:
        stack = np.stack([s for s, _, _ in self._warmup])
        self._background = np.ascontiguousarray(np.median(stack, axis=0), np.float32)
        warmup, self._warmup = self._warmup, []
        out: list[tuple[str, int, float]] = []
        for samples, frame, t_s in warmup:
            self._step(samples, frame, t_s)
            out += self._decide(t_s, model_scale)
        return out

    def _step(self, samples: NDArray, frame: int, t_s: float) -> None:
        assert self._background is not None
        fg = loop_update(samples, self._background, threshold_levels=self.config.threshold_levels,
                         alpha=self.config.alpha)  # fmt: skip
        self._seen += 1
        runs = fg_runs(fg.any(axis=0))
        taken = [False] * len(runs)
        merged: set[int] = set()
        for blob in self._active:
            if id(blob) in merged:
                continue
            lo = hi = None
            for k, (a, b) in enumerate(runs):
                if b >= blob.lo - GAP_PX and a <= blob.hi + GAP_PX:
                    taken[k] = True
                    lo = a if lo is None else min(lo, a)
                    hi = b if hi is None else max(hi, b)
            if lo is None or hi is None:
                continue
            for other in self._active:  # the run joins two blobs: one road user from now on
                if other is not blob and id(other) not in merged and other.last_seen < self._seen \
                        and other.hi >= lo - GAP_PX and other.lo <= hi + GAP_PX:  # fmt: skip
                    merged.add(id(other))
                    blob.absorb(other)
            blob.lo, blob.hi, blob.last_frame, blob.last_t_s = lo, hi, frame, t_s
            blob.min_lo, blob.max_hi = min(blob.min_lo, lo), max(blob.max_hi, hi)
            blob.width_px = max(blob.width_px, hi - lo + 1)
            blob.last_seen = self._seen
            blob.add(fg, frame, t_s)
        for k, (a, b) in enumerate(runs):
            if not taken[k]:
                blob = LoopBlob(a, b, frame, frame, t_s, t_s, a, b, b - a + 1, last_seen=self._seen)
                blob.add(fg, frame, t_s)
                self._active.append(blob)
        self._active = [b for b in self._active if id(b) not in merged]
        still = [b for b in self._active if self._seen - b.last_seen <= CLOSE_FRAMES]
        self._closed += [b for b in self._active if self._seen - b.last_seen > CLOSE_FRAMES]
        self._active = still

    def _decide(self, t_s: float, model_scale: float) -> list[tuple[str, int, float]]:
        out: list[tuple[str, int, float]] = []
        keep: list[LoopBlob] = []
        for blob in self._closed:
            if t_s - blob.last_t_s < self.config.hold_s:
                keep.append(blob)  # the line counter may still see it cross
                continue
            crossing = self._crossing(blob, model_scale)
            if crossing is not None:
                out.append(crossing)
        self._closed = keep
        if self._claims:
            oldest = min([b.first_t_s for b in self._active + self._closed], default=t_s)
            while self._claims and self._claims[0][1] < oldest - self.config.hold_s:
                self._claims.popleft()
        return out

    def _crossing(self, blob: LoopBlob, model_scale: float) -> tuple[str, int, float] | None:
        logger.debug("line %s: blob frames %d-%d along %d-%d px, width %d px (%.1f in the model), "
                     "rows %s", self.line.id, blob.first_frame, blob.last_frame,
                     blob.min_lo, blob.max_hi, blob.width_px, blob.width_px * model_scale,
                     blob.mass)  # fmt: skip
        frames = blob.last_frame - blob.first_frame + 1
        if frames < MIN_FRAMES or blob.width_px < MIN_WIDTH_PX or blob.on_line_frames < MIN_FRAMES:
            return None
        if min(blob.mass) == 0 or blob.mass[1] < MIN_FILL * blob.on_line_frames * blob.width_px:
            return None  # a row it never touched, or specks (a flickering edge, noise)
        if blob.width_px * model_scale >= self.config.below_px:
            self.too_large += 1
            return None
        t_before, t_after = (blob.mass_t[r] / blob.mass[r] for r in (0, 2))
        frame_s = (blob.last_t_s - blob.first_t_s) / (frames - 1)
        if abs(t_after - t_before) < 0.5 * frame_s:
            return None  # no order between the rows: a light change, not a road user
        direction = "in" if t_before < t_after else "out"
        order = (0, 1, 2) if direction == "in" else (2, 1, 0)  # upstream row, line, downstream
        first, last = [blob.row_first[r] for r in order], [blob.row_last[r] for r in order]
        if not (first[0] <= first[1] <= first[2] and last[0] <= last[1] <= last[2]):
            return None  # not one road user passing the rows in turn (a flicker, a fragment)
        if blob.last_t_s - blob.first_t_s < MIN_DURATION_S:
            return None
        moving_down = self._down_if_in == (direction == "in")
        if blob.first_t_s == self._t0_s:  # on the rows when the loop started
            # moving down, its bottom (the box's anchor) leads: it met the line when the blob
            # first lit the line's row, which must come after the start; moving up it trails:
            # the blob must leave the rows in turn, the line's row after the start
            if moving_down:
                seen = blob.on_line_first[1] > self._t0_s
            else:
                seen = last[0] < last[2] and blob.on_line_last[1] > self._t0_s
            if not seen:
                return None  # its bottom may have met the line before the loop started
        frame, t = blob.on_line_first if moving_down else blob.on_line_last
        for k, (claim_dir, t_claim, inside) in enumerate(self._claims):
            if claim_dir == direction and abs(t_claim - t) <= self.config.hold_s \
                    and inside[blob.min_lo : blob.max_hi + 1].any():  # fmt: skip
                del self._claims[k]  # one track crossing claims one blob
                self._taken.append((claim_dir, t_claim, (direction, frame, t)))
                self.claimed += 1
                logger.debug("line %s: claimed by a track crossing at %.2f", self.line.id, t_claim)
                return None
        logger.debug("line %s: crossing %s at frame %d", self.line.id, direction, frame)
        return direction, frame, t
