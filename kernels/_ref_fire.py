"""NumPy references of the fire/smoke kernels (same signatures as ``carbonedge.kernels.fire``).

No input validation beyond what NumPy does: these define what the kernels compute.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["smoke_update", "flame_mask", "flicker_update"]

# flicker scores below this magnitude are stored as exactly 0 (``_fire.pyx`` uses the same float32
# constant): a decaying score would otherwise sink into the subnormals, 10-100x slower, and at
# decay > 0.5 never leave them (the smallest subnormal times the decay rounds back to itself)
FLICKER_FLUSH_BELOW = np.float32(1e-30)


def smoke_update(
    luma: NDArray[np.float32],
    background: NDArray[np.float32],
    variance: NDArray[np.float32],
    *,
    threshold_levels: float,
    k_sigma: float,
    alpha: float,
    alpha_candidate: float,
    alpha_variance: float,
    out_mask: NDArray[np.uint8] | None = None,
) -> tuple[NDArray[np.uint8], int]:
    """(H, W) uint8 0/255 mask of ``luma - background > threshold_levels + k_sigma * sqrt(var)``
    and its pixel count; ``background`` moves toward ``luma`` (rate ``alpha`` or, under candidates,
    ``alpha_candidate``) and ``variance`` learns ``d**2`` where the pixel got darker, in place.
    """
    f32 = np.float32
    d = luma - background
    cand = d > f32(threshold_levels) + f32(k_sigma) * np.sqrt(variance)
    rate = np.where(cand, f32(alpha_candidate), f32(alpha))
    background += rate * d
    darker = d < 0
    variance[darker] += f32(alpha_variance) * (d[darker] * d[darker] - variance[darker])
    mask = cand.astype(np.uint8) * np.uint8(255)
    if out_mask is not None:
        out_mask[...] = mask
        mask = out_mask
    return mask, int(np.count_nonzero(cand))


def flame_mask(
    bgr: NDArray[np.uint8],
    *,
    min_red: float = 150.0,
    min_cr_minus_cb: float = 40.0,
    out_mask: NDArray[np.uint8] | None = None,
) -> tuple[NDArray[np.uint8], int]:
    """(H, W) uint8 0/255 mask of flame-coloured pixels (BT.601 YCbCr rule) and its count."""
    f32 = np.float32
    b, g, r = (bgr[:, :, i].astype(f32) for i in range(3))
    lum = f32(0.299) * r + f32(0.587) * g + f32(0.114) * b
    cb = f32(128.0) + f32(0.564) * (b - lum)
    cr = f32(128.0) + f32(0.713) * (r - lum)
    hit = (
        (r >= f32(min_red))
        & (r >= g)
        & (g > b)
        & (lum > cb)
        & (cr > cb)
        & (cr - cb >= f32(min_cr_minus_cb))
    )
    mask = hit.astype(np.uint8) * np.uint8(255)
    if out_mask is not None:
        out_mask[...] = mask
        mask = out_mask
    return mask, int(np.count_nonzero(hit))


def flicker_update(
    mask: NDArray[np.uint8],
    previous: NDArray[np.uint8],
    flicker: NDArray[np.float32],
    *,
    decay: float,
) -> NDArray[np.float32]:
    """``flicker = decay * flicker + (mask != previous)`` (as booleans), then ``flicker = 0`` where
    ``|flicker| < FLICKER_FLUSH_BELOW`` (no float32 subnormal is kept); ``previous = mask``."""
    toggled = (mask != 0) != (previous != 0)
    flicker *= np.float32(decay)
    flicker += toggled.astype(np.float32)
    flicker[np.abs(flicker) < FLICKER_FLUSH_BELOW] = 0.0
    previous[...] = mask
    return flicker
