"""Frame source plugin point: an ABC, a registry and a pydantic config class per source type.

A new source is one new file in this folder: a config class with a ``type`` literal and a
``FrameSource`` subclass decorated with ``@register_source``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field

from carbonedge.runtime.base.plugins import Registry
from carbonedge.runtime.base.types import Frame


class SourceConfig(BaseModel):
    """Base of every source config; subclasses add ``type: Literal[...]`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")


class FrameSource(ABC):
    """Delivers frames in order. ``read()`` returns None at the end of a finite stream.

    Attributes:
        source_id: id from the config.
        fps: nominal frames per second (from the container, the camera or the config).
        decode_errors: frames that could not be decoded and were skipped so far.
        ended_early: (frames read, frames announced) when a file ended well before the frame
            count its container announces (truncated or damaged); None otherwise.
    """

    source_id: str = "source"
    fps: float = 25.0
    decode_errors: int = 0  # frames the source could not decode and skipped
    ended_early: tuple[int, int] | None = None  # a file cut short: (frames read, announced)

    @abstractmethod
    def open(self) -> None:
        """Open the source; raises ``SourceOpenError`` with the path/URL (credentials removed)."""

    @abstractmethod
    def read(self) -> Frame | None:
        """Next frame, or None when a finite source is exhausted."""

    def close(self) -> None:
        """Release the source."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


SOURCES: Registry[SourceConfig, FrameSource] = Registry("frame source")

#: Class decorator: ``@register_source("video_file", VideoFileConfig)``.
register_source = SOURCES.register


def create_source(config: SourceConfig) -> FrameSource:
    """Build the source that ``config`` (one of the registered config classes) describes."""
    return SOURCES.create(config)
