"""Camera-moved kernel: per-tile edge agreement of a live frame with a reference, over shifts.

Compiled implementation: ``carbonedge.kernels._camera_moved`` (Cython, GIL released). NumPy
reference of the same signature: ``carbonedge.kernels.reference`` (``_ref_camera_moved.py``).
``carbonedge.vision.camera_moved`` turns the score surfaces into a shift/rotation estimate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require
from carbonedge.kernels.motion import _check_image

__all__ = ["tile_shift_scores"]

_register("tile_shift_scores", "cython", "_camera_moved")


def tile_shift_scores(
    ref_gx: NDArray[np.float32],
    ref_gy: NDArray[np.float32],
    live_gx: NDArray[np.float32],
    live_gy: NDArray[np.float32],
    tiles_xyxy: NDArray[np.int32],
    *,
    max_shift_px: int,
) -> NDArray[np.float32]:
    """Edge agreement of each reference tile with the live frame, for every shift up to R px.

    For tile ``t`` (pixels ``x0 <= x < x1``, ``y0 <= y < y1``) and shift ``(dx, dy)``, the score is
    the cosine similarity of the gradient fields ``sum(r . l) / sqrt(sum|r|^2 sum|l|^2)`` with
    ``r = (ref_gx, ref_gy)[y, x]`` and ``l = (live_gx, live_gy)[y + dy, x + dx]``: 1 for the same
    edges, invariant to a global brightness/contrast change, near 0 for unrelated content.

    Args:
        ref_gx, ref_gy: (H, W) float32 horizontal/vertical gradients of the reference frame.
        live_gx, live_gy: (H, W) float32 gradients of the live frame, same shape.
        tiles_xyxy: (T, 4) int tiles ``(x0, y0, x1, y1)``, exclusive right/bottom, non-empty, at
            least ``max_shift_px`` from every border (so every shift stays inside the image).
        max_shift_px: R >= 0, the search range in pixels of these images.

    Returns:
        (T, 2R+1, 2R+1) float32, ``[t, dy + R, dx + R]``; 0 where either side has no energy.

    Raises:
        ValueError: wrong shapes, dtypes, a negative range or a tile too close to a border.
    """
    ref_gx = _check_image("ref_gx", ref_gx, np.float32)
    shape = ref_gx.shape
    arrays = {"ref_gy": ref_gy, "live_gx": live_gx, "live_gy": live_gy}
    checked = []
    for name, arr in arrays.items():
        arr = _check_image(name, arr, np.float32)
        if arr.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} (as ref_gx), got {arr.shape}")
        checked.append(arr)
    if isinstance(max_shift_px, bool) or not isinstance(max_shift_px, (int, np.integer)):
        raise ValueError(f"max_shift_px: expected an int, got {type(max_shift_px).__name__}")
    r = int(max_shift_px)
    if not 0 <= r <= 256:
        raise ValueError(f"max_shift_px: expected a value in [0, 256], got {r}")
    tiles = _check_tiles(tiles_xyxy, shape, r)
    out = np.empty((len(tiles), 2 * r + 1, 2 * r + 1), np.float32)
    _require("_camera_moved").tile_shift_scores(ref_gx, *checked, tiles, r, out)
    return out


def _check_tiles(tiles_xyxy: object, shape: tuple[int, ...], r: int) -> NDArray[np.int32]:
    tiles = np.asarray(tiles_xyxy)
    if tiles.ndim != 2 or tiles.shape[1] != 4 or tiles.dtype.kind not in "iu":
        raise ValueError(f"tiles_xyxy: expected (T, 4) integers, got {tiles.dtype} {tiles.shape}")
    h, w = shape
    for i, (x0, y0, x1, y1) in enumerate(tiles.tolist()):
        if not (r <= x0 < x1 <= w - r and r <= y0 < y1 <= h - r):
            raise ValueError(
                f"tiles_xyxy[{i}]: ({x0}, {y0}, {x1}, {y1}) must be non-empty and at least "
                f"max_shift_px={r} from the borders of the {w}x{h} image"
            )
    return np.ascontiguousarray(tiles, dtype=np.int32)
