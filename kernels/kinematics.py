"""Track speed fit: least-squares velocity over each track's recent positions, outliers cut.

Used by ``carbonedge.vision.analytics.kinematics`` once per frame for every track: the ring of a
track's last positions (metres on the road, or pixels) and their times; samples older than
``window_s`` or empty (NaN) are ignored; after a first fit, samples whose residual exceeds
``max(3 x median residual, outlier_floor)`` are dropped and the fit is repeated. Compiled with
Numba (``carbonedge.kernels._kinematics_nb``); NumPy reference in ``carbonedge.kernels.reference``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["track_speed_fit"]

_MODULE = "_kinematics_nb"
_register("track_speed_fit", "numba", _MODULE)


def track_speed_fit(
    t: NDArray[np.float64],
    xy: NDArray[np.float64],
    now_s: float,
    *,
    window_s: float,
    min_samples: int,
    outlier_floor: float,
) -> NDArray[np.float64]:
    """Speed per track (units of ``xy`` per second), NaN with fewer than ``min_samples`` kept.

    Args:
        t: (K, R) float64 sample times on the source clock, NaN for an empty ring slot.
        xy: (K, R, 2) float64 positions of those samples (NaN allowed where ``t`` is NaN).
        now_s: the current time; samples with ``now_s - t > window_s`` are ignored.
        window_s, min_samples, outlier_floor: see the module docstring.
    """
    t = np.ascontiguousarray(t, dtype=np.float64)
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    if t.ndim != 2 or xy.shape != (*t.shape, 2):
        raise ValueError(f"track_speed_fit: t (K, R) and xy (K, R, 2), got {t.shape}, {xy.shape}")
    return _require(_MODULE).track_speed_fit(
        t, xy, float(now_s), float(window_s), int(min_samples), float(outlier_floor)
    )
