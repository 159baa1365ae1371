"""Forest fire and smoke early warning: weight-free or learned candidates, scene-aware confirmation,
``FireAlarm`` events with JPEG evidence. ``FireMonitor.update(frame)`` is the entry point.

Every name is imported on first use (PEP 562): ``carbonedge --help`` registers ``audit fire``
through ``vision.fire.cli`` without loading NumPy, OpenCV or the detectors, and a site config that
only names ``FireMonitorConfig`` does not load the monitor (scipy, Numba kernels).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carbonedge.vision.fire.config import FireMonitorConfig
    from carbonedge.vision.fire.events import FireAlarm, FireBox
    from carbonedge.vision.fire.monitor import FireMonitor

__all__ = ["FireAlarm", "FireBox", "FireMonitor", "FireMonitorConfig"]

_LAZY = {
    "FireAlarm": "events",
    "FireBox": "events",
    "FireMonitor": "monitor",
    "FireMonitorConfig": "config",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
