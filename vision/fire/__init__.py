"""Forest fire and smoke early warning: weight-free or learned candidates, scene-aware confirmation,
``FireAlarm`` events with JPEG evidence. ``FireMonitor.update(frame)`` is the entry point.
"""

from carbonedge.vision.fire.config import FireMonitorConfig
from carbonedge.vision.fire.events import FireAlarm, FireBox
from carbonedge.vision.fire.monitor import FireMonitor

__all__ = ["FireAlarm", "FireBox", "FireMonitor", "FireMonitorConfig"]
