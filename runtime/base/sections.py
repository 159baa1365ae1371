"""What a camera's analytics hand over as an interval closes (the summary's sections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbonedge.runtime.base.events import LineCrossed

__all__ = ["IntervalSections"]


@dataclass
class IntervalSections:
    """What a source hands over as an interval closes: crossings made final at its end and the
    summary's optional sections (see ``IntervalSummary``)."""

    events: list[LineCrossed]
    line_speeds: dict[str, dict[str, Any]] | None = None
    traffic: dict[str, dict[str, Any]] | None = None
    zones: dict[str, dict[str, Any]] | None = None
    movements: dict[str, dict[str, Any]] | None = None
    emissions: dict[str, Any] | None = None  # the pipeline, from ``traffic``, when configured
    fire: dict[str, Any] | None = None  # a fire camera's alarm state (runtime/fire_stage.py)
    sensor: dict[str, Any] | None = None  # a sensor's aggregates (runtime/sensor_stage.py)
    calibration_valid: bool | None = None  # camera-moved check: false when the view moved
