"""What a technician draws on a camera's picture: counting lines and zones, in pixels.

The analytics that use them live in ``carbonedge.vision`` (``counting.line``, ``analytics.zones``);
calibration records and the calibration page read and write these models without importing vision.
A line's sides: moving from its left to its right side (seen from ``start_px`` towards ``end_px``)
is "in" (see ``carbonedge.vision.counting.line``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LineConfig", "ZoneConfig"]


class LineConfig(BaseModel):
    """A counting line in pixel coordinates of one source (see the module docstring for sides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        min_length=1,
        description="the line's id: counts, summaries and exports name it",
    )
    start_px: tuple[float, float] = Field(
        description="first end of the line, (x, y) in frame pixels; 'in' is crossing from its left "
        "to its right seen from start to end",
    )
    end_px: tuple[float, float] = Field(
        description="second end of the line, (x, y) in frame pixels",
    )
    anchor: Literal["bottom_center", "center", "top_center"] = Field(
        "bottom_center",
        description="which point of a vehicle's box must cross the line",
    )
    hysteresis_px: float = Field(
        2.0,
        ge=0.0,
        description="an anchor has a side only this far from the line (stops jitter counting "
        "twice)",
    )
    end_tolerance_px: float = Field(
        4.0,
        ge=0.0,
        description="how far beyond either end of the line a crossing still counts",
    )
    forget_after_s: float = Field(
        60.0,
        gt=0.0,
        description="a track unseen this long is forgotten by the line",
    )
    class_vote_s: float = Field(
        2.0,
        ge=0.0,
        description="a crossing's class is the track's voted class after this long (or when the "
        "track ends)",
    )

    @model_validator(mode="after")
    def _check_length(self) -> LineConfig:
        if np.hypot(self.end_px[0] - self.start_px[0], self.end_px[1] - self.start_px[1]) < 1.0:
            raise ValueError(f"line {self.id!r}: start_px and end_px must be at least 1 px apart")
        return self


class ZoneConfig(BaseModel):
    """One zone of a source, in pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="the zone's id: queues and turning movements name it")
    polygon_px: tuple[tuple[float, float], ...] = Field(
        min_length=3,
        description="the zone's corners, (x, y) in frame pixels, at least 3",
    )
    movement: Literal["none", "entry", "exit", "both"] = Field(
        "none", description="role in turning-movement counts"
    )
    anchor: Literal["bottom_center", "center", "top_center"] = Field(
        "bottom_center",
        description="which point of a vehicle's box must be inside the zone",
    )
