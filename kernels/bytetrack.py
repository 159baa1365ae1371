"""ByteTrack's compiled core: scipy-exact rectangular assignment and the whole per-frame step.

``linear_sum_assignment`` is a port of scipy's (Crouse's shortest augmenting path, the code in
scipy/optimize/rectangular_lsap): same pairs, same tie-breaking, rows ascending.

``bytetrack_step`` is the per-frame step of :class:`carbonedge.vision.tracking.ByteTrack`. It works
in place on the tracker's preallocated state table, which only ``ByteTrack`` creates and grows, so
it has no validating wrapper of its own: ``bytetrack_step_kernel()`` hands the compiled function
to the tracker (or raises ``KernelError`` when the Numba module did not load). Its reference is
the NumPy/scipy tracker ``carbonedge.vision.tracking._bytetrack_ref.ReferenceByteTrack``; the
parity test runs both frame by frame. Numba compiles both on the first call (or loads its cache).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["bytetrack_step_kernel", "linear_sum_assignment"]

_MODULE = "_bytetrack_nb"
_register("bytetrack_step", "numba", _MODULE)
_register("linear_sum_assignment", "numba", _MODULE)


def linear_sum_assignment(cost_matrix: NDArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Minimum-cost assignment of rows to columns, as ``scipy.optimize.linear_sum_assignment``.

    Args:
        cost_matrix: (R, C) real-valued costs (coerced to float64); +inf marks a forbidden pair.

    Returns:
        (row indices ascending, their column indices), both (min(R, C),) int64.

    Raises:
        ValueError: not a 2-D real array, a NaN or -inf entry, or no complete assignment exists.
    """
    cost = np.asarray(cost_matrix)
    if cost.ndim != 2 or cost.dtype.kind not in "fiub":
        raise ValueError(
            f"linear_sum_assignment: cost_matrix must be a real 2-D array, "
            f"got {cost.dtype} {cost.shape}"
        )
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    k = min(cost.shape)
    rows, cols = np.empty(k, np.int64), np.empty(k, np.int64)
    got = _require(_MODULE).lsap(cost, rows, cols)
    if got == -2:
        raise ValueError("linear_sum_assignment: matrix contains invalid numeric entries")
    if got == -1:
        raise ValueError("linear_sum_assignment: cost matrix is infeasible")
    return rows, cols


def bytetrack_step_kernel() -> Callable[..., tuple]:
    """The compiled ByteTrack step (``carbonedge.kernels._bytetrack_nb.step``; trusted input)."""
    return _require(_MODULE).step
