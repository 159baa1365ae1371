"""The strict pydantic base every carbonedge config model builds on.

Unknown keys are an error (a typo never passes silently) and a validated model is frozen, so a
config object handed down to a component cannot be changed behind the caller's back.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Base of config models: ``extra="forbid"``, ``frozen=True``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
