"""A registry for plugin points: type name -> (pydantic config class, implementation class).

Every plugin point (detector backend, frame source, and later sensors, stages and sinks) keeps one
``Registry``; a new plugin is one file that defines its config class (with a ``type`` literal) and
decorates its implementation with ``registry.register("name", ConfigClass)``. The site config builds
its discriminated unions from ``config_classes()``.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from pydantic import BaseModel

C = TypeVar("C", bound=BaseModel)
P = TypeVar("P")


class Registry(Generic[C, P]):
    """Maps ``type:`` names to config and implementation classes for one plugin point."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[type[C], type[P]]] = {}

    def register(self, type_name: str, config_cls: type[C]) -> Callable[[type[P]], type[P]]:
        """Class decorator: make ``type: <type_name>`` in a config build the decorated class."""

        def decorate(cls: type[P]) -> type[P]:
            if type_name in self._entries and self._entries[type_name][1] is not cls:
                raise ValueError(f"{self.kind} type {type_name!r} is registered twice")
            self._entries[type_name] = (config_cls, cls)
            return cls

        return decorate

    def config_classes(self) -> tuple[type[C], ...]:
        return tuple(cfg for cfg, _ in self._entries.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def create(self, config: C, *args: Any, **kwargs: Any) -> P:
        """Build the plugin that ``config`` (an instance of a registered config class) describes."""
        for cfg_cls, impl_cls in self._entries.values():
            if type(config) is cfg_cls:
                return impl_cls(config, *args, **kwargs)  # type: ignore[call-arg]
        raise TypeError(f"no {self.kind} registered for config {type(config).__name__}")
