"""NumPy references of the virtual-loop kernels (``carbonedge.kernels.loops``)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["sample_points", "loop_update"]


def sample_points(
    image: NDArray[np.uint8], index: NDArray[np.int32], weight: NDArray[np.float32]
) -> NDArray[np.float32]:
    """(S, N, 3) float32: each sample is sum_k weight[..., k] * image[index[..., k]]."""
    px = image[index[..., 0], index[..., 1]].astype(np.float32)  # (S, N, 4, 3)
    w = weight[..., None]
    out = w[:, :, 0] * px[:, :, 0]
    for k in range(1, 4):
        out = out + w[:, :, k] * px[:, :, k]
    return out


def loop_update(
    samples: NDArray[np.float32],
    background: NDArray[np.float32],
    *,
    threshold_levels: float = 25.0,
    alpha: float = 0.02,
) -> NDArray[np.uint8]:
    """(S, N) uint8 foreground; ``background`` (S, N, 3) float32 is updated in place."""
    diff = np.abs(samples - background).max(axis=-1)
    for shift in (1, -1):  # the background one sample along the row either way
        nb = np.roll(background, shift, axis=1)
        d = np.abs(samples - nb).max(axis=-1)
        edge = 0 if shift == 1 else -1  # no neighbour beyond the row's ends
        d[:, edge] = np.inf
        diff = np.minimum(diff, d)
    fg = diff > np.float32(threshold_levels)
    still = ~fg
    background[still] += np.float32(alpha) * (samples[still] - background[still])
    return fg.astype(np.uint8)
