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


def uses_road_classes(camera: Any, detector: Any) -> bool:
    """The detector's labels go into road-v1 (not for a one-class detector classed by length)."""
    config = getattr(camera, "road_classes", None)
    return (config is not None and config.taxonomy == "road-v1"
            and not uses_length_classes(camera, detector))  # fmt: skip


def counted_class_names(camera: Any, detector: Any) -> tuple[str, ...]:
    """The class names a camera's tracks and counts carry after its classing stages."""
    if uses_length_classes(camera, detector):
        from carbonedge.vision.analytics.length_classes import LengthClassifier

        return tuple(LengthClassifier.class_names)
    if uses_road_classes(camera, detector):
        from carbonedge.vision.taxonomy import road_class_names

        return road_class_names(detector.class_names)
    return tuple(detector.class_names)
