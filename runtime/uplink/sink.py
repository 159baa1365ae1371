"""The sink interface the forwarder drives: hand over messages, collect their outcomes.

A sink never drops a message it was handed: each one ends as exactly one ``Outcome`` (``acked``,
``retry`` or ``permanent``), or the process dies and the outbox row, still there, is sent again by
the next process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Outgoing:
    """One signed message ready to send."""

    row_id: int
    kind: str
    topic_kind: str
    payload: bytes
    msg_id: str
    seq: int


@dataclass(frozen=True)
class Outcome:
    row_id: int
    status: Literal["acked", "retry", "permanent"]
    detail: str = ""


class Sink(ABC):
    """Where messages go (MQTT broker, HTTP endpoint)."""

    reconnects: int = 0

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def free_slots(self) -> int:
        """How many more messages may be handed over now (0 while backing off)."""

    @abstractmethod
    def submit(self, message: Outgoing) -> None:
        """Hand over one message; its outcome comes later from ``outcomes``."""

    @abstractmethod
    def outcomes(self, timeout_s: float) -> list[Outcome]:
        """Outcomes that arrived, waiting up to ``timeout_s`` for the first one."""

    @abstractmethod
    def in_flight(self) -> int:
        """Messages handed over whose outcome has not been returned yet."""

    @abstractmethod
    def stop(self) -> None: ...
