"""Which cameras count traffic: every camera with lines or zones, and every camera without a fire
monitor. A lookout tower (fire monitor, no lines, no zones) runs no vehicle stages."""

from __future__ import annotations

from typing import Any


def counts_traffic(camera: Any) -> bool:
    return camera.fire is None or bool(camera.lines) or bool(camera.zones)


def regions_px(camera: Any) -> list:
    """The camera's counting lines and zones as (K, 2) x, y px arrays."""
    import numpy as np

    areas = [np.array([line.start_px, line.end_px]) for line in camera.lines]
    return areas + [np.array(zone.polygon_px) for zone in camera.zones]


def uses_length_classes(camera: Any, detector: Any) -> bool:
    """A one-class detector ("vehicle") on a camera with metres: class boxes by length."""
    return bool(camera.length_classes and camera.ground_plane is not None
                and len(detector.class_names) == 1)  # fmt: skip
