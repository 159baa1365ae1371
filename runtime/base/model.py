"""The strict pydantic base every carbonedge config model builds on.

Unknown keys are an error (a typo never passes silently) and a validated model is frozen, so a
config object handed down to a component cannot be changed behind the caller's back.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackoffInitialS", "BackoffMaxS", "StrictModel"]

#: The reconnect waits of every device that reconnects (live sources, sensors), given to
#: ``runtime.base.backoff.Backoff``: ``backoff_initial_s: BackoffInitialS = 0.5``.
BackoffInitialS = Annotated[
    float,
    Field(gt=0, le=60, description="first wait before reconnecting after a failure (doubles up "
          "to backoff_max_s)"),
]  # fmt: skip
BackoffMaxS = Annotated[
    float, Field(gt=0, le=3600, description="longest wait between reconnection attempts")
]


class StrictModel(BaseModel):
    """Base of config models: ``extra="forbid"``, ``frozen=True``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
