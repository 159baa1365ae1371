"""Line counting's compiled core: one frame of tracked rows against one counting line.

``line_observe`` is the per-frame step of :class:`carbonedge.vision.counting.LineCounter`. It
works in place on the counter's per-track state columns, which only the counter creates, so it has
no validating wrapper of its own: ``line_observe_kernel()`` hands the compiled function to the
counter (or raises ``KernelError`` when the Numba module did not load). Its reference is the NumPy
counter ``carbonedge.vision.counting._line_ref.ReferenceLineCounter``; a parity test runs both.
"""

from __future__ import annotations

from typing import Callable

from carbonedge.kernels import _register, _require

__all__ = ["ANCHOR_CODES", "line_observe_kernel"]

_MODULE = "_line_nb"
_register("line_observe", "numba", _MODULE)

# anchor name -> code understood by the kernel (the _line_nb.ANCHOR_* constants)
ANCHOR_CODES = {"bottom_center": 0, "center": 1, "top_center": 2}


def line_observe_kernel() -> Callable[..., int]:
    """The compiled line step (``carbonedge.kernels._line_nb.observe``; trusted input)."""
    return _require(_MODULE).observe
