"""Reference of ``linear_sum_assignment``: scipy's own, which the Numba kernel ports.

The reference of the whole ByteTrack step is the NumPy/scipy tracker
``carbonedge.vision.tracking._bytetrack_ref.ReferenceByteTrack`` (a class with state, not a
function, so it lives next to the tracker).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment as _scipy_lsa

__all__ = ["linear_sum_assignment"]


def linear_sum_assignment(cost_matrix: NDArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(rows ascending, columns) int64 of the minimum-cost assignment (scipy)."""
    rows, cols = _scipy_lsa(np.asarray(cost_matrix, np.float64))
    return rows.astype(np.int64), cols.astype(np.int64)
