"""Fire/smoke kernels: smoke background update, flame colour mask, flicker counter.

Compiled implementation: ``carbonedge.kernels._fire`` (Cython, GIL released). NumPy references
of the same signatures: ``carbonedge.kernels.reference`` (``_ref_fire.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require
from carbonedge.kernels.motion import _check_image, _check_rate

__all__ = ["smoke_update", "flame_mask", "flicker_update"]

_register("smoke_update", "cython", "_fire")
_register("flame_mask", "cython", "_fire")
_register("flicker_update", "cython", "_fire")


def _check_level(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name}: expected a finite value >= 0, got {value}")
    return value


def _out_mask(out_mask: NDArray[np.uint8] | None, shape: tuple[int, ...]) -> NDArray[np.uint8]:
    if out_mask is None:
        return np.empty(shape, np.uint8)
    out_mask = _check_image("out_mask", out_mask, np.uint8, writable=True)
    if out_mask.shape != shape:
        raise ValueError(f"out_mask: expected shape {shape}, got {out_mask.shape}")
    return out_mask


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
    """Pixels that turned brighter than a slowly updated background by more than their noise.

    Per pixel, in float32: ``d = luma - background``; candidate when
    ``d > threshold_levels + k_sigma * sqrt(variance)``. Then ``background += rate * d`` with
    ``rate = alpha_candidate`` under candidates (slow: growing smoke is not learnt away at once)
    and ``alpha`` elsewhere; where the pixel got darker (``d < 0``) the noise variance learns
    ``variance += alpha_variance * (d * d - variance)``. Smoke only brightens, while camera shake,
    sensor noise and swaying texture change a pixel both ways: learning the noise from the darker
    side only keeps a growing plume from teaching the model that it is noise.

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
        ``(mask, count)``: (H, W) uint8 mask, 255 candidate / 0 not, and the number of candidates.

    Raises:
        ValueError: wrong shapes, dtypes, layout or parameter ranges.
    """
    args = check_smoke_args(luma, background, variance, threshold_levels, k_sigma, alpha,
                            alpha_candidate, alpha_variance, out_mask)  # fmt: skip
    count = _require("_fire").smoke_update(*args)
    return args[-1], int(count)


def check_smoke_args(
    luma: NDArray[np.float32],
    background: NDArray[np.float32],
    variance: NDArray[np.float32],
    threshold_levels: float,
    k_sigma: float,
    alpha: float,
    alpha_candidate: float,
    alpha_variance: float,
    out_mask: NDArray[np.uint8] | None,
) -> tuple:
    """The checked arguments of a smoke-background kernel (``smoke_update``,
    ``smoke_change_update``), in their order, ``out_mask`` allocated when None."""
    luma = _check_image("luma", luma, np.float32)
    background = _check_image("background", background, np.float32, writable=True)
    variance = _check_image("variance", variance, np.float32, writable=True)
    for name, arr in (("background", background), ("variance", variance)):
        if arr.shape != luma.shape:
            raise ValueError(f"{name}: expected shape {luma.shape}, got {arr.shape}")
    return (
        luma, background, variance, _check_level("threshold_levels", threshold_levels),
        _check_level("k_sigma", k_sigma), _check_rate("alpha", alpha, allow_zero=False),
        _check_rate("alpha_candidate", alpha_candidate, allow_zero=True),
        _check_rate("alpha_variance", alpha_variance, allow_zero=True),
        _out_mask(out_mask, luma.shape),
    )  # fmt: skip


def flame_mask(
    bgr: NDArray[np.uint8],
    *,
    min_red: float = 150.0,
    min_cr_minus_cb: float = 40.0,
    out_mask: NDArray[np.uint8] | None = None,
) -> tuple[NDArray[np.uint8], int]:
    """Flame-coloured pixels by a YCbCr rule (after Celik & Demirel, 2009).

    Per pixel, BT.601 from 8-bit BGR in float32: ``Y = 0.299 R + 0.587 G + 0.114 B``,
    ``Cb = 128 + 0.564 (B - Y)``, ``Cr = 128 + 0.713 (R - Y)``; flame when ``R >= min_red``,
    ``R >= G > B``, ``Y > Cb``, ``Cr > Cb`` and ``Cr - Cb >= min_cr_minus_cb``. Colour alone
    also fires on sunsets and autumn leaves: the detector adds change and flicker on top.

    Args:
        bgr: (H, W, 3) uint8 BGR image.
        min_red: minimum red level, 0-255.
        min_cr_minus_cb: minimum Cr - Cb, levels.
        out_mask: optional (H, W) uint8 C-contiguous buffer.

    Returns:
        ``(mask, count)``: (H, W) uint8 mask (255 flame-coloured) and the number of such pixels.

    Raises:
        ValueError: wrong shape, dtype or parameter ranges.
    """
    if not isinstance(bgr, np.ndarray) or bgr.ndim != 3 or bgr.shape[2] != 3:
        shape = getattr(bgr, "shape", type(bgr).__name__)
        raise ValueError(f"bgr: expected an (H, W, 3) numpy array, got {shape}")
    if bgr.dtype != np.uint8:
        raise ValueError(f"bgr: expected dtype uint8, got {bgr.dtype}")
    bgr = np.ascontiguousarray(bgr)
    min_red = _check_level("min_red", min_red)
    min_cr_minus_cb = float(min_cr_minus_cb)
    if not math.isfinite(min_cr_minus_cb):
        raise ValueError(f"min_cr_minus_cb: expected a finite value, got {min_cr_minus_cb}")
    out_mask = _out_mask(out_mask, bgr.shape[:2])
    count = _require("_fire").flame_mask(bgr, min_red, min_cr_minus_cb, out_mask)
    return out_mask, int(count)


def flicker_update(
    mask: NDArray[np.uint8],
    previous: NDArray[np.uint8],
    flicker: NDArray[np.float32],
    *,
    decay: float,
) -> NDArray[np.float32]:
    """Per-pixel flicker score of a binary mask over time, updated in place.

    ``flicker = decay * flicker + (mask != previous)`` (non-zero counts as set), then
    ``previous = mask``. Flames toggle a pixel's flame colour many times a second; a steady
    orange object (a sunset, a red roof) never does. At steady state a pixel toggling every frame
    scores ``1 / (1 - decay)``. A score whose magnitude falls below ``1e-30`` is stored as exactly
    0: a pixel that stopped toggling would otherwise decay into the float32 subnormal range,
    where the CPU runs this loop 10-100x slower, and at decay > 0.5 stay there for good (the
    smallest subnormal times the decay rounds back to itself).

    Args:
        mask: (H, W) uint8 current mask.
        previous: (H, W) uint8 previous mask, C-contiguous, overwritten with ``mask``.
        flicker: (H, W) float32 score, C-contiguous, updated in place.
        decay: per-frame decay in [0, 1].

    Returns:
        ``flicker``.

    Raises:
        ValueError: wrong shapes, dtypes, layout or decay.
    """
    mask = _check_image("mask", mask, np.uint8)
    previous = _check_image("previous", previous, np.uint8, writable=True)
    flicker = _check_image("flicker", flicker, np.float32, writable=True)
    for name, arr in (("previous", previous), ("flicker", flicker)):
        if arr.shape != mask.shape:
            raise ValueError(f"{name}: expected shape {mask.shape}, got {arr.shape}")
    decay = _check_rate("decay", decay, allow_zero=True)
    _require("_fire").flicker_update(mask, previous, flicker, decay)
    return flicker
