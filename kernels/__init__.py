"""Compiled core of carbonedge: typed public wrappers.

Each kernel is four things: a private compiled implementation (Cython ``_*.pyx``, Numba ``_*_nb.py``
or the pybind11 module ``_native``), the typed wrapper below (validates and coerces input, owns the
docstring), a NumPy reference of the same signature in ``reference.py``, and a parity test plus a
benchmark. There is no silent slow fallback: if a compiled module failed to import, calling its
kernel raises ``KernelError`` and ``carbonedge doctor`` shows the import error.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from carbonedge.runtime.base.errors import KernelError

# kernel name -> (backend description, private module name)
_KERNEL_MODULES: dict[str, tuple[str, str]] = {}
_IMPORT_ERRORS: dict[str, str] = {}
_LOADED: dict[str, ModuleType] = {}


def _load(module: str) -> ModuleType | None:
    """Import ``carbonedge.kernels.<module>`` once; remember the error instead of hiding it."""
    if module in _LOADED:
        return _LOADED[module]
    if module in _IMPORT_ERRORS:
        return None
    try:
        mod = importlib.import_module(f"carbonedge.kernels.{module}")
    except Exception as exc:  # noqa: BLE001 - reported by doctor and raised on use
        _IMPORT_ERRORS[module] = f"{type(exc).__name__}: {exc}"
        return None
    _LOADED[module] = mod
    return mod


def _register(kernel: str, backend: str, module: str) -> None:
    _KERNEL_MODULES[kernel] = (backend, module)


def _require(module: str) -> ModuleType:
    mod = _load(module)
    if mod is None:
        raise KernelError(
            f"compiled kernel module carbonedge.kernels.{module} is not available "
            f"({_IMPORT_ERRORS[module]}); reinstall with 'pip install .' and a C/C++ compiler"
        )
    return mod


def kernel_status() -> dict[str, dict[str, str]]:
    """For each kernel: its backend, its module and whether it loaded ('ok' or the import error)."""
    out: dict[str, dict[str, str]] = {}
    for kernel, (backend, module) in sorted(_KERNEL_MODULES.items()):
        ok = _load(module) is not None
        out[kernel] = {
            "backend": backend,
            "module": f"carbonedge.kernels.{module}",
            "status": "ok" if ok else _IMPORT_ERRORS.get(module, "not loaded"),
        }
    return out


# Each kernel family lives in its own wrapper module; importing them here registers the kernels
# and re-exports the public functions.
from carbonedge.kernels.boxes import *  # noqa: E402,F401,F403
from carbonedge.kernels.bytetrack import *  # noqa: E402,F401,F403
from carbonedge.kernels.camera_moved import *  # noqa: E402,F401,F403
from carbonedge.kernels.counting import *  # noqa: E402,F401,F403
from carbonedge.kernels.decode import *  # noqa: E402,F401,F403
from carbonedge.kernels.fire import *  # noqa: E402,F401,F403
from carbonedge.kernels.gfl import *  # noqa: E402,F401,F403
from carbonedge.kernels.headlights import *  # noqa: E402,F401,F403
from carbonedge.kernels.hj212 import *  # noqa: E402,F401,F403
from carbonedge.kernels.kalman import *  # noqa: E402,F401,F403
from carbonedge.kernels.kinematics import *  # noqa: E402,F401,F403
from carbonedge.kernels.loops import *  # noqa: E402,F401,F403
from carbonedge.kernels.motion import *  # noqa: E402,F401,F403
from carbonedge.kernels.preprocess import *  # noqa: E402,F401,F403
from carbonedge.kernels.smoke_change import *  # noqa: E402,F401,F403
