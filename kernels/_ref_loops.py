"""NumPy reference of the virtual-loop kernel (``carbonedge.kernels.loops``)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["loop_update"]


def loop_update(
    samples: NDArray[np.float32],
    background: NDArray[np.float32],
    *,
    threshold_levels: float = 25.0,
    alpha: float = 0.02,
) -> NDArray[np.uint8]:
    """(S, N) uint8 foreground; ``background`` (S, N, 3) float32 is updated in place."""
    diff = np.abs(samples - background).max(axis=-1)
    for shift in (1, -1, 2, -2):  # the background one or two samples along the row either way
        nb = np.roll(background, shift, axis=1)
        d = np.abs(samples - nb).max(axis=-1)
        if shift > 0:  # no neighbour beyond the row's ends
            d[:, :shift] = np.inf
        else:
            d[:, shift:] = np.inf
        diff = np.minimum(diff, d)
    fg = diff > np.float32(threshold_levels)
    still = ~fg
    background[still] += np.float32(alpha) * (samples[still] - background[still])
    return fg.astype(np.uint8)
