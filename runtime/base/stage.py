"""The Stage protocol: one step of a camera's pipeline, and the registry of stages.

A camera's pipeline is the list of stages its config asks for (``carbonedge.runtime.stages``
builds it). Every frame becomes a ``Packet`` that passes through the stages in order; each stage
may change its detections, add events, or set a per-row column in ``packet.detections.data``
for the stages after it. A stage's life:

1. ``start(context)``: once, before the first frame (``StageContext``: device, camera, fps, the
   interval length, and ``emit_now`` for events that must be stored at once, like fire alarms).
2. ``process(packet) -> packet``: every frame, in pipeline order.
3. ``forget(track_ids) -> events``: tracks that ended (the tracker stage reports them on the
   packet as ``packet.ended_track_ids``); a stage drops their state and may return events
   (a crossing made final as its track ends).
4. ``close_interval(start_s, end_s) -> {section name: JSON value} | None``: the interval closes;
   what the stage returns goes into the interval summary under the section names the stage
   owns (``sections``, each registered in ``carbonedge.runtime.base.sections``). Stages close in
   pipeline order; ``context.closing`` holds the sections closed so far in this interval (the
   emissions stage reads ``traffic`` there). Events that become final only now are handed over
   with ``context.emit_late``.
5. ``close()``: once, at the end of the run (also after an error).

A new stage is one new file: a ``Stage`` subclass, decorated with ``@register_stage``, whose
``build(camera, context)`` class method returns the stage when the camera's config asks for it
and None otherwise; the pipeline order is ``STAGE_ORDER`` (one registry line). See
ARCHITECTURE.md for a walk-through with a toy stage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from carbonedge.runtime.base.types import Packet

__all__ = [
    "STAGES",
    "Stage",
    "StageContext",
    "register_stage",
]


@dataclass
class StageContext:
    """What every stage of one camera's pipeline shares for one run.

    Attributes:
        device_id: the box.
        camera_id: the camera (source id).
        fps: the source's nominal frame rate.
        stride: the vehicle stages (``Stage.vehicles``) see every ``stride``-th frame only
            (``runtime/stride.py``): they step at ``fps / stride``.
        interval_s: the summary interval.
        emit_now: store (and queue upstream) events at once, outside the frame's packet.
        emit_late: hand over events made final while an interval closes (they count in it).
        observe: record a metric sample, ``observe(name, value)`` (the camera label is added).
        count: add to one of the run's counters, ``count(name, n=1)`` (``detector_calls``,
            ``gated_frames``, ``inference_s``: the run's result and ``/healthz`` show them).
        closing: the sections closed so far in the interval being closed (read-only for stages).
        services: shared objects the service hands in by name (the detector, the calibration
            record store, ...); a stage that needs one says so in its ``build``.
    """

    device_id: str
    camera_id: str
    fps: float = 25.0
    stride: int = 1
    interval_s: float = 60.0
    emit_now: Callable[[list[Any]], None] = lambda events: None
    emit_late: Callable[[list[Any]], None] = lambda events: None
    observe: Callable[[str, float], None] = lambda name, value: None
    count: Callable[..., None] = lambda name, n=1: None
    closing: dict[str, Any] = field(default_factory=dict)
    services: Mapping[str, Any] = field(default_factory=dict)


class Stage(ABC):
    """One step of a camera's pipeline (see the module docstring for its life).

    Attributes:
        name: the stage's registered name (``STAGE_ORDER`` lists them).
        sections: the summary sections this stage owns (registered section names).
        vehicles: a vehicle stage: never built for a camera that counts no traffic (a fire
            lookout with no lines and no zones); ``build`` is not even asked.
    """

    name: ClassVar[str] = ""
    sections: ClassVar[tuple[str, ...]] = ()
    vehicles: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def build(cls, camera: Any, context: StageContext) -> Stage | None:
        """The stage for ``camera`` (a resolved camera config), or None when it asks for none."""

    def start(self, context: StageContext) -> None:
        """Before the first frame (warm-up, per-run state)."""
        self.context = context

    @abstractmethod
    def process(self, packet: Packet) -> Packet:
        """One frame; returns the packet for the next stage (usually the same object)."""

    def forget(self, track_ids: Sequence[int]) -> list[Any]:
        """Tracks that ended: drop their state; events they make final."""
        return []

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any] | None:
        """The interval [start_s, end_s) closes: this stage's sections (None: nothing)."""
        return None

    def close(self) -> None:
        """The run ended."""


class _StageRegistry:
    """Stage name -> stage class; ``ordered(order)`` the classes in pipeline order."""

    def __init__(self) -> None:
        self._stages: dict[str, type[Stage]] = {}

    def register(self, cls: type[Stage]) -> type[Stage]:
        if not cls.name:
            raise ValueError(f"stage {cls.__name__} has no name")
        if cls.name in self._stages and self._stages[cls.name] is not cls:
            raise ValueError(f"stage {cls.name!r} is registered twice")
        self._stages[cls.name] = cls
        return cls

    def get(self, name: str) -> type[Stage]:
        try:
            return self._stages[name]
        except KeyError:
            raise KeyError(
                f"no stage {name!r}; registered: {', '.join(sorted(self._stages))}"
            ) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._stages)


STAGES = _StageRegistry()

#: Class decorator: ``@register_stage`` on a ``Stage`` subclass with a ``name``.
register_stage = STAGES.register
