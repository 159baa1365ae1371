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

    id: str = Field(min_length=1)
    start_px: tuple[float, float]
    end_px: tuple[float, float]
    anchor: Literal["bottom_center", "center", "top_center"] = "bottom_center"
    hysteresis_px: float = Field(2.0, ge=0.0)
    end_tolerance_px: float = Field(4.0, ge=0.0)
    forget_after_s: float = Field(60.0, gt=0.0)
    class_vote_s: float = Field(2.0, ge=0.0)

    @model_validator(mode="after")
    def _check_length(self) -> LineConfig:
        if np.hypot(self.end_px[0] - self.start_px[0], self.end_px[1] - self.start_px[1]) < 1.0:
            raise ValueError(f"line {self.id!r}: start_px and end_px must be at least 1 px apart")
        return self


class ZoneConfig(BaseModel):
    """One zone of a source, in pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    polygon_px: tuple[tuple[float, float], ...] = Field(min_length=3)
    movement: Literal["none", "entry", "exit", "both"] = Field(
        "none", description="role in turning-movement counts"
    )
    anchor: Literal["bottom_center", "center", "top_center"] = "bottom_center"
