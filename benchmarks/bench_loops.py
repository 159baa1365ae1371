"""Virtual-loop kernel against its NumPy reference, on lines across road frames.

``loop_update`` (three rows of colour samples across a counting line against their background,
tolerant of a one-sample shake, and the background's update) against the NumPy reference. The
samples themselves are read with ``cv2.remap``: a compiled bilinear gather was measured at
0.4x and 0.3x of it on these two lines (0.025 vs 0.009 ms, 0.063 vs 0.022 ms) and dropped.
"""

from __future__ import annotations

import cv2
import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import line_samples, loop_update
from carbonedge.kernels import reference as ref

#: case -> frame size and a counting line across it (start, end px)
_CASES = {
    "352x240, 152 px line": ((240, 352), (180.0, 150.0), (332.0, 150.0)),
    "1280x720, 560 px diagonal": ((720, 1280), (300.0, 400.0), (800.0, 650.0)),
}


def run(quick: bool) -> list[Row]:
    rows = []
    rng = np.random.default_rng(0)
    for case, (shape_hw, start, end) in _CASES.items():
        image = rng.integers(0, 256, (*shape_hw, 3), dtype=np.uint8)
        maps = line_samples(start, end, (-3.0, 0.0, 3.0), shape_hw)
        samples = cv2.remap(image, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR)
        samples = samples.astype(np.float32)
        bg = (samples + rng.normal(0, 30, samples.shape)).astype(np.float32)
        bg_ours, bg_ref = bg.copy(), bg.copy()
        rows.append(compare("loop_update", case, lambda s=samples, b=bg_ours:
                            loop_update(s, b, threshold_levels=25.0, alpha=0.02),
                            lambda s=samples, b=bg_ref:
                            ref.loop_update(s, b, threshold_levels=25.0, alpha=0.02)))  # fmt: skip
    return rows
