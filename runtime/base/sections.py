"""Summary sections: the registry that makes each section of an interval summary one stage's.

An interval summary (``IntervalSummary``) has fixed fields (ids, interval, counts, frames) and
optional *sections* (``line_speeds``, ``traffic``, ``zones``, ``movements``, ``emissions``,
``fire``, ``sensor``, ``calibration_valid``, and whatever a new stage adds). Each section is
registered here by the module of the stage that produces it, with

- its JSON-Schema fragment (the value of ``properties.<name>`` in ``interval_summary.v1.json``),
- how two consecutive intervals' sections merge when the outbox compacts old summaries
  (``merge(a, b, body_a, body_b)``; either side may be None when only one interval has it),
- a one-line description for SCHEMA.md.

The uplink assembles the summary schema, compaction and SCHEMA.md's section table from this
registry (``carbonedge.runtime.uplink.schema``); nothing else lists the sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = [
    "SECTIONS",
    "SectionSpec",
    "merge_by_key",
    "register_section",
    "weighted_mean",
]

Section = Any
Body = Mapping[str, Any]
Merge = Callable[[Section, Section, Body, Body], Section]


@dataclass(frozen=True)
class SectionSpec:
    """One summary section: name, JSON-Schema fragment, compaction merge, owner and meaning."""

    name: str
    schema: Mapping[str, Any]
    merge: Merge
    owner: str  # the stage (or service part) that produces it
    description: str


class _SectionRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, SectionSpec] = {}

    def register(self, spec: SectionSpec) -> SectionSpec:
        old = self._specs.get(spec.name)
        if old is not None and old.owner != spec.owner:
            raise ValueError(
                f"summary section {spec.name!r} is owned by {old.owner}; {spec.owner} "
                "cannot register it again"
            )
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> SectionSpec | None:
        return self._specs.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def specs(self) -> tuple[SectionSpec, ...]:
        return tuple(self._specs.values())

    def unregister(self, name: str) -> None:
        """Tests only: drop a section registered by a toy stage."""
        self._specs.pop(name, None)


SECTIONS = _SectionRegistry()


def register_section(
    name: str, *, schema: Mapping[str, Any], merge: Merge, owner: str, description: str = ""
) -> SectionSpec:
    """Register the summary section ``name`` (see the module docstring)."""
    text = description or str(schema.get("description", ""))
    return SECTIONS.register(SectionSpec(name, schema, merge, owner, text))


def weighted_mean(x: float | None, wx: float, y: float | None, wy: float) -> float | None:
    """Mean of ``x`` and ``y`` weighted by ``wx``/``wy`` (2 decimals); one side alone if the
    other is missing or has no weight."""
    if x is None or wx <= 0:
        return y
    if y is None or wy <= 0:
        return x
    return round((x * wx + y * wy) / (wx + wy), 2)


def merge_by_key(
    a: Mapping[str, Any] | None, b: Mapping[str, Any] | None, merge: Callable[[Any, Any], Any]
) -> dict[str, Any]:
    """Merge two id -> entry maps; an id on one side only is kept as it is."""
    a, b = a or {}, b or {}
    return {k: merge(a[k], b[k]) if k in a and k in b else (a.get(k) or b.get(k))
            for k in sorted(set(a) | set(b))}  # fmt: skip
