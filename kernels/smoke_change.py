"""Two-sided smoke change against a slow background (the fire detector's horizon band).

Compiled implementation: ``carbonedge.kernels._smoke_change_nb`` (Numba, GIL released). NumPy
reference of the same signature: ``carbonedge.kernels.reference`` (``_ref_smoke_change.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require
from carbonedge.kernels.fire import check_smoke_args

__all__ = ["smoke_change_update"]

_MODULE = "_smoke_change_nb"
_register("smoke_change_update", "numba", _MODULE)


def smoke_change_update(
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
) -> tuple[NDArray[np.uint8], int, int]:
    """Pixels that turned brighter or darker than a slowly updated background beyond their noise.

    Smoke moves a pixel toward the smoke's own grey: brighter over dark terrain, darker over a
    bright hazy sky, so both sides are candidates (the pixel detector's ``smoke_update`` keeps
    the brighter side only). Per pixel, in float32: ``d = luma - background``,
    ``t = threshold_levels + k_sigma * sqrt(variance)``; 255 when ``d > t``, 127 when
    ``-d > t``, else 0. Then ``background += rate * d`` (``alpha_candidate`` under candidates,
    ``alpha`` elsewhere), and, on non-candidate pixels only,
    ``variance += alpha_variance * (min(d*d, t*t) - variance)``: a growing plume never teaches
    the model that it is noise, and one outlier cannot blow the noise up.

    Args:
        luma: (H, W) float32 current frame, grey levels (gain-corrected and registered).
        background: (H, W) float32 running background, C-contiguous, updated in place.
        variance: (H, W) float32 per-pixel noise variance (levels^2), >= 0, updated in place.
        threshold_levels: fixed part of the threshold, grey levels, >= 0.
        k_sigma: multiple of the per-pixel noise standard deviation added to it, >= 0.
        alpha: background learning rate per frame, in (0, 1].
        alpha_candidate: rate under candidate pixels, in [0, 1].
        alpha_variance: noise learning rate per frame, in [0, 1].
        out_mask: optional (H, W) uint8 C-contiguous buffer for the mask.

    Returns:
        ``(mask, brighter, darker)``: the (H, W) uint8 mask and the counts of 255 and 127 pixels.

    Raises:
        ValueError: wrong shapes, dtypes, layout or parameter ranges.
    """
    args = check_smoke_args(luma, background, variance, threshold_levels, k_sigma, alpha,
                            alpha_candidate, alpha_variance, out_mask)  # fmt: skip
    up, down = _require(_MODULE).smoke_change_update(*args)
    return args[-1], int(up), int(down)
