"""Lamp kernels: head- and tail-lights as bright compact blobs, and their pairing into vehicles.

``find_lamps``: a pixel is a lamp pixel when it is at least ``min_luma`` and either saturated
(``>= saturation_luma``) or brighter than the mean of the ``(2 radius_px + 1)^2`` window around
it (clipped at the border) by ``min_contrast_levels``; 8-connected components of lamp pixels
within the area, aspect and fill limits are the lamps. ``pair_lamps``: two lamps at about the
same row, of similar size and brightness, whose spacing is what a vehicle's width allows at that
row (the caller's per-row table: from a ground plane or a perspective rule), taken greedily by
cost, each lamp once.

Compiled with Numba (``carbonedge.kernels._headlights_nb``); NumPy/SciPy references of the same
signatures in ``carbonedge.kernels.reference`` (``_ref_headlights.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["LAMP_COLUMNS", "find_lamps", "pair_lamps"]

_MODULE = "_headlights_nb"
_register("find_lamps", "numba", _MODULE)
_register("pair_lamps", "numba", _MODULE)

#: The columns of ``find_lamps``' output, in order.
LAMP_COLUMNS = ("x0", "y0", "x1", "y1", "cx", "cy", "area_px", "mean_luma")


def _in_range(name: str, value: float, low: float, high: float = math.inf) -> float:
    """``value`` as a float in [low, high] (finite), else one ValueError naming it."""
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}: expected a finite value in [{low:g}, {high:g}], got {value}")
    return value


def find_lamps(
    gray: NDArray[np.uint8],
    *,
    radius_px: int = 7,
    min_luma: float = 120.0,
    min_contrast_levels: float = 40.0,
    saturation_luma: float = 250.0,
    min_area_px: int = 2,
    max_area_px: int = 400,
    max_aspect: float = 3.0,
    min_fill: float = 0.4,
) -> NDArray[np.float64]:
    """Bright compact blobs of ``gray``: lamps.

    Args:
        gray: (H, W) uint8 grey frame or crop.
        radius_px: half size of the local-background window, >= 1.
        min_luma: a lamp pixel is at least this bright (grey levels, >= 1).
        min_contrast_levels: ... and at least this much above its window's mean (>= 0), ...
        saturation_luma: ... unless it is at least this bright (saturated: a lamp's core in
            its own glow).
        min_area_px, max_area_px: the component's pixel count limits.
        max_aspect: longer box side / shorter box side at most this (>= 1).
        min_fill: pixel count / box area at least this (compact), in [0, 1].

    Returns:
        (K, 8) float64, columns ``LAMP_COLUMNS``: box x0, y0, x1, y1 (x1/y1 exclusive), centre
        cx, cy (mean of the pixel centres), area in pixels, mean grey level; in the raster order
        of each lamp's first pixel.

    Raises:
        ValueError: not a 2-D uint8 array, or a setting out of range (named).
    """
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        got = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise ValueError(f"gray: expected a (H, W) uint8 array, got {got}")
    if int(radius_px) < 1:
        raise ValueError(f"radius_px: expected an int >= 1, got {radius_px}")
    if int(min_area_px) < 1 or int(max_area_px) < int(min_area_px):
        raise ValueError(
            f"min_area_px/max_area_px: expected 1 <= min <= max, got {min_area_px}, {max_area_px}"
        )
    return _require(_MODULE).find_lamps(
        np.ascontiguousarray(gray),
        int(radius_px),
        _in_range("min_luma", min_luma, 1.0, 255.0),
        _in_range("min_contrast_levels", min_contrast_levels, 0.0),
        _in_range("saturation_luma", saturation_luma, 1.0, 256.0),
        int(min_area_px),
        int(max_area_px),
        _in_range("max_aspect", max_aspect, 1.0),
        _in_range("min_fill", min_fill, 0.0, 1.0),
    )


def pair_lamps(
    lamps: NDArray[np.float64],
    gap_min_px: NDArray[np.float64],
    gap_max_px: NDArray[np.float64],
    *,
    max_dy_frac: float = 0.6,
    max_size_ratio: float = 2.5,
    max_luma_ratio: float = 1.6,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Lamps paired into vehicles, one-to-one, best pairs first.

    Args:
        lamps: (K, 8) float64 from ``find_lamps``.
        gap_min_px, gap_max_px: (H,) float64 allowed centre spacing (px) of a pair whose mean
            centre row is that row (rows outside are clipped to the table).
        max_dy_frac: centre rows differ by at most this x mean lamp height + 1 px.
        max_size_ratio, max_luma_ratio: larger / smaller area and mean grey level at most these.

    Returns:
        ``(pairs, costs)``: (P, 2) int64 rows of ``lamps`` (left lamp, right lamp) and (P,)
        float64 costs (dy / mean height + (area ratio - 1) + (grey ratio - 1)), lowest first.

    Raises:
        ValueError: wrong shapes or settings (named).
    """
    lamps = np.ascontiguousarray(lamps, dtype=np.float64)
    if lamps.ndim != 2 or lamps.shape[1] != len(LAMP_COLUMNS):
        raise ValueError(f"lamps: expected shape (K, {len(LAMP_COLUMNS)}), got {lamps.shape}")
    if len(lamps) and (lamps[:, 6].min() <= 0 or lamps[:, 7].min() <= 0):
        raise ValueError("lamps: area_px and mean_luma must be > 0 (rows of find_lamps)")
    gap_min_px = np.ascontiguousarray(gap_min_px, dtype=np.float64)
    gap_max_px = np.ascontiguousarray(gap_max_px, dtype=np.float64)
    if gap_min_px.ndim != 1 or gap_min_px.shape != gap_max_px.shape or len(gap_min_px) == 0:
        raise ValueError(
            f"gap_min_px/gap_max_px: expected two (H,) arrays, got {gap_min_px.shape}, "
            f"{gap_max_px.shape}"
        )
    return _require(_MODULE).pair_lamps(
        lamps,
        gap_min_px,
        gap_max_px,
        _in_range("max_dy_frac", max_dy_frac, 0.0),
        _in_range("max_size_ratio", max_size_ratio, 1.0),
        _in_range("max_luma_ratio", max_luma_ratio, 1.0),
    )
