"""Where the traffic flows: the axis vehicles move along, learned per patch of the picture.

A person detected on a vehicle counting line is, more often than not, a two-wheeler's rider:
COCO detectors see the rider of a motorcycle or bicycle and not the machine on compressed,
crowded or head-on pictures (on the dev truth clips 5 of the 7 "pedestrians" counted on lines
that vehicles cross were riders, the other 2 phantoms, none a walker). Walkers cross the
carriageway across the traffic or keep to the pavement, where no vehicle moves; a rider moves
*with* the traffic, on the carriageway. So a person track that moves along the axis vehicle
tracks moved along in the same patch of the picture is a rider (``vision/riders.py``). A walker
on a pavement right beside a lane, where the lane's cells reach, is the case this can get wrong.

``FlowField`` keeps, per cell of a coarse grid over the frame (``cells_across`` cells across,
square), the sum of the doubled-angle unit vectors (cos 2a, sin 2a) of vehicle tracks' steps
through it: the doubled angle makes a step and its reverse the same axis, so two-way traffic
adds up and does not cancel. A cell's axis is half the angle of its sum; its coherence (length
of the sum over the number of steps, 0-1) says whether the steps agreed. A query reads the 3x3
cells around a point, so a sparse cell borrows its neighbours' steps.

A step is a vehicle track's move once it has gone ``step_heights`` of its own box height from
where its last step ended (so slow queues and fast motorways give steps of the same scale and
box jitter does not make steps), recorded at the middle of the move (the box's bottom centre).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FlowField"]


@dataclass
class FlowField:
    """Axial flow of vehicle tracks per grid cell of a ``frame_hw`` picture."""

    frame_hw: tuple[int, int]
    cells_across: int = 24
    step_heights: float = 0.5
    max_tracks: int = 4096
    max_cell_steps: float = 1000.0
    _sum: np.ndarray = field(init=False, repr=False)  # (rows, cols, 3): cos 2a, sin 2a, steps
    _last: dict[int, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        h, w = self.frame_hw
        self.cell_px = max(1.0, w / self.cells_across)
        self._rows = max(1, math.ceil(h / self.cell_px))
        self._cols = max(1, math.ceil(w / self.cell_px))
        self._sum = np.zeros((self._rows, self._cols, 3), np.float64)

    def observe(self, track_id: int, x_px: float, y_px: float, height_px: float) -> None:
        """One vehicle track's box bottom centre in this frame (``height_px``: its box height)."""
        last = self._last.get(track_id)
        if last is None:
            if len(self._last) >= self.max_tracks:  # an edge box runs for months
                self._last.pop(next(iter(self._last)))
            self._last[track_id] = (x_px, y_px)
            return
        dx, dy = x_px - last[0], y_px - last[1]
        if dx * dx + dy * dy < (self.step_heights * max(height_px, 1.0)) ** 2:
            return
        self._last[track_id] = (x_px, y_px)
        angle2 = 2.0 * math.atan2(dy, dx)
        cell = self._sum[self._cell(0.5 * (x_px + last[0]), 0.5 * (y_px + last[1]))]
        cell[0] += math.cos(angle2)
        cell[1] += math.sin(angle2)
        cell[2] += 1.0
        if cell[2] >= self.max_cell_steps:  # months of traffic: recent steps weigh more
            cell *= 0.5

    def forget(self, track_ids) -> None:
        for tid in track_ids:
            self._last.pop(int(tid), None)

    def along(self, x_px: float, y_px: float, dx: float, dy: float) -> tuple[int, float, float]:
        """(vehicle steps seen around the point, their coherence 0-1, |cos| of the angle between
        the move (dx, dy) and their axis: 1 along the traffic, 0 across it)."""
        r, c = self._cell(x_px, y_px)
        near = self._sum[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].sum(axis=(0, 1))
        steps = int(near[2])
        if steps == 0 or (dx == 0.0 and dy == 0.0):
            return steps, 0.0, 0.0
        coherence = math.hypot(near[0], near[1]) / steps
        axis = 0.5 * math.atan2(near[1], near[0])
        move = math.atan2(dy, dx)
        return steps, coherence, abs(math.cos(move - axis))

    def _cell(self, x_px: float, y_px: float) -> tuple[int, int]:
        r = min(max(int(y_px / self.cell_px), 0), self._rows - 1)
        c = min(max(int(x_px / self.cell_px), 0), self._cols - 1)
        return r, c
