"""Frame source plugin point: an ABC, a registry and a pydantic config class per source type.

A new source is one new file in this folder: a config class with a ``type`` literal and a
``FrameSource`` subclass decorated with ``@register_source``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Iterator, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from carbonedge.runtime.types import Frame


class SourceConfig(BaseModel):
    """Base of every source config; subclasses add ``type: Literal[...]`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")


class FrameSource(ABC):
    """Delivers frames in order. ``read()`` returns None at the end of a finite stream.

    Attributes:
        source_id: id from the config.
        fps: nominal frames per second (from the container, the camera or the config).
    """

    source_id: str = "source"
    fps: float = 25.0

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


_S = TypeVar("_S", bound=type[FrameSource])
_REGISTRY: dict[str, tuple[type[SourceConfig], type[FrameSource]]] = {}


def register_source(type_name: str, config_cls: type[SourceConfig]) -> Callable[[_S], _S]:
    """Class decorator: make ``type: <type_name>`` in the config build this source."""

    def decorate(cls: _S) -> _S:
        _REGISTRY[type_name] = (config_cls, cls)
        return cls

    return decorate


def source_config_classes() -> tuple[type[SourceConfig], ...]:
    return tuple(cfg for cfg, _ in _REGISTRY.values())


def create_source(config: SourceConfig) -> FrameSource:
    """Build the source that ``config`` (one of the registered config classes) describes."""
    for cfg_cls, src_cls in _REGISTRY.values():
        if type(config) is cfg_cls:
            return src_cls(config)  # type: ignore[call-arg]
    raise TypeError(f"no source registered for config {type(config).__name__}")
