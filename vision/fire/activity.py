"""Where a camera's view keeps changing anyway: a coarse map of how often candidates appeared.

A fire starts where nothing was changing before; drifting cirrus, a tree in the wind, water or a
flag change all day. Each cell of a coarse grid keeps the share of recent frames (exponential
window of ``tau_s``, bias-corrected while the window fills) in which a candidate box covered it.
A new track remembers the activity of its cells just before it appeared (``prior``); the
confirmer refuses smoke that starts in a busy place.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

GRID_COLUMNS = 48


class ActivityMap:
    """Candidate activity of one camera on a ``GRID_COLUMNS``-wide grid."""

    def __init__(self, shape_hw: tuple[int, int], tau_s: float) -> None:
        h, w = shape_hw
        self.cell_px = max(1.0, w / GRID_COLUMNS)
        self.shape = (max(1, math.ceil(h / self.cell_px)), GRID_COLUMNS)
        self.tau_s = tau_s
        self.sum = np.zeros(self.shape, np.float32)
        self.weight = 0.0  # sum of the window's weights so far (bias correction)

    def _cells(self, xyxy) -> tuple[slice, slice]:
        c = self.cell_px
        x1, y1 = int(max(0, xyxy[0] // c)), int(max(0, xyxy[1] // c))
        x2 = int(min(self.shape[1], math.ceil(xyxy[2] / c)))
        y2 = int(min(self.shape[0], math.ceil(xyxy[3] / c)))
        return slice(y1, max(y1 + 1, y2)), slice(x1, max(x1 + 1, x2))

    def prior(self, xyxy) -> float:
        """Mean activity (0-1) of the cells under the box and one cell around it."""
        if self.weight <= 0:
            return 0.0
        ys, xs = self._cells(xyxy)
        ys = slice(max(0, ys.start - 1), min(self.shape[0], ys.stop + 1))
        xs = slice(max(0, xs.start - 1), min(self.shape[1], xs.stop + 1))
        return float(self.sum[ys, xs].mean() / self.weight)

    def beside(self, xyxy, cells: int = 3) -> float:
        """Mean activity (0-1) of the cells left and right of the box (``cells`` each side, the
        box's rows): a plume's neighbours along the horizon are quiet, a cloud field's busy."""
        if self.weight <= 0:
            return 0.0
        ys, xs = self._cells(xyxy)
        left = self.sum[ys, max(0, xs.start - cells) : xs.start]
        right = self.sum[ys, xs.stop : xs.stop + cells]
        n = left.size + right.size
        return float((left.sum() + right.sum()) / n / self.weight) if n else 0.0

    def update(self, boxes: list, dt_s: float) -> None:
        """Age the map by ``dt_s`` and add this frame's candidate boxes."""
        keep = math.exp(-max(0.0, dt_s) / self.tau_s) if math.isfinite(dt_s) else 0.0
        hit: NDArray[np.bool_] = np.zeros(self.shape, np.bool_)
        for xyxy in boxes:
            hit[self._cells(xyxy)] = True
        self.sum *= keep
        self.sum += hit
        self.weight = self.weight * keep + 1.0
