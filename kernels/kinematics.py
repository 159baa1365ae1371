"""Track kinematics kernels: the speed fit and the whole per-frame step of ``Kinematics``.

``track_speed_fit``: least-squares velocity over each track's recent positions, outliers cut. The
ring of a track's last positions (metres on the road, or pixels) and their times; samples older
than ``window_s`` or empty (NaN) are ignored; after a first fit, samples whose residual exceeds
``max(3 x median residual, outlier_floor)`` are dropped and the fit is repeated.

``kinematics_step``: one frame of ``carbonedge.vision.analytics.kinematics`` in one call, on the
track table's columns in place (see that module for the method). Both are compiled with Numba
(``carbonedge.kernels._kinematics_nb``); NumPy references in ``carbonedge.kernels.reference``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["kinematics_params", "kinematics_step", "track_speed_fit"]

_MODULE = "_kinematics_nb"
_register("track_speed_fit", "numba", _MODULE)
_register("kinematics_step", "numba", _MODULE)

_NO_PLANE = np.zeros((3, 3))
_PARAM_NAMES = (
    "window_s",
    "min_samples",
    "smoothing_s",
    "max_speed_kmh",
    "outlier_floor",
    "idle_speed_kmh",
    "idle_heights_per_s",
    "edge_margin_px",
    "max_step_s",
)  # fmt: skip  (order = the P_* indices of _kinematics_nb and _ref_kinematics)


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


def kinematics_params(**values: float) -> NDArray[np.float64]:
    """The settings vector of ``kinematics_step``: every name of ``_PARAM_NAMES``, finite.

    ``outlier_floor`` is in position units (metres with a ground plane, else pixels).
    """
    missing = set(_PARAM_NAMES) - values.keys()
    extra = values.keys() - set(_PARAM_NAMES)
    if missing or extra:
        raise ValueError(f"kinematics_params: missing {sorted(missing)}, unknown {sorted(extra)}")
    out = np.array([float(values[k]) for k in _PARAM_NAMES])
    if not np.isfinite(out).all():
        raise ValueError(f"kinematics_params: every value must be finite, got {values}")
    return out


_I, _F = np.int64, np.float64
_DTYPES = (_I, _I, _F, _F, _F, _F, _F, _I, _F, _F, _F, np.bool_, _F, _F)
_NDIMS = (1, 1, 2, 2, 1, 2, 3, 1, 1, 1, 1, 1, 1, 1)
_NAMES = ("rows", "slots", "boxes", "image_to_world", "params", "ring_t", "ring_xy", "head",
          "speed", "last_t", "speed_kmh", "stopped", "step_m", "step_s")  # fmt: skip


def kinematics_step(
    rows: NDArray[np.int64],
    slots: NDArray[np.int64],
    boxes: NDArray[np.float64],
    now_s: float,
    image_wh: tuple[int, int],
    image_to_world: NDArray[np.float64] | None,
    params: NDArray[np.float64],
    state: tuple[NDArray, NDArray, NDArray, NDArray, NDArray],
    out: tuple[NDArray, NDArray, NDArray, NDArray],
) -> None:
    """One frame of track kinematics, in place on ``state`` and ``out``.

    Args:
        rows: (N,) int64 output row of each observation (distinct).
        slots: (N,) int64 state slot of each observation's track.
        boxes: (N, 4) float64 xyxy pixel boxes of the observations.
        now_s: frame time on the source clock.
        image_wh: frame width and height in pixels (border test).
        image_to_world: 3x3 ground homography (positions in metres), or None (pixels).
        params: from ``kinematics_params``.
        state: per-slot columns ``ring_t`` (S, R) float64, ``ring_xy`` (S, R, 2) float64,
            ``head`` (S,) int64, ``speed`` (S,) float64 (smoothed, units/s), ``last_t`` (S,)
            float64; all updated.
        out: per-row ``speed_kmh`` float64 (written only with a ground plane), ``stopped`` bool,
            ``step_m`` float64 (written only with a ground plane), ``step_s`` float64; only
            ``rows`` are written.
    """
    h = _NO_PLANE if image_to_world is None else image_to_world
    arrays = (rows, slots, boxes, h, params, *state, *out)
    try:
        ok = tuple(a.dtype for a in arrays) == _DTYPES and tuple(a.ndim for a in arrays) == _NDIMS
    except AttributeError:
        ok = False
    if not ok:
        got = [(name, getattr(a, "dtype", type(a)), getattr(a, "ndim", None))
               for name, a in zip(_NAMES, arrays, strict=False)]  # fmt: skip
        raise ValueError(f"kinematics_step: expected dtypes {[d.__name__ for d in _DTYPES]}, "
                         f"ndims {_NDIMS} for {_NAMES}; got {got}")  # fmt: skip
    code = _require(_MODULE).kinematics_step(
        rows, slots, boxes, float(now_s), float(image_wh[0]), float(image_wh[1]), h,
        image_to_world is not None, params, *state, *out,
    )  # fmt: skip
    if code:
        raise ValueError(f"kinematics_step: {_require(_MODULE).ERRORS[code]}")
