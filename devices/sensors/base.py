"""Sensor plugin point: ``SensorReading`` events, the ``Sensor`` ABC, a registry and config base.

A sensor driver runs on its own thread (``Sensor.open`` starts it), turns device frames into
``SensorReading`` events with units in their value names, and hands them over through a bounded
queue (the newest ``queue_readings`` are kept; drops are counted). Malformed frames are counted
and skipped; a silent or broken device is reconnected with capped exponential backoff; its
``health`` (``DeviceHealth``) says connecting / streaming / stalled / failed / closed, or
calibrating while a zero/span runs (``set_calibrating``). A calibration (``set_correction``,
``carbonedge.calibration.sensor``) corrects each reading's values before it is handed over.
A new sensor is one new file: a config class with a ``type`` literal and a ``Sensor`` subclass
decorated with ``@register_sensor``.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Protocol

from pydantic import BaseModel, ConfigDict, Field

from carbonedge.devices.health import DeviceHealth, DeviceState
from carbonedge.runtime.base.events import stable_id, utc_iso
from carbonedge.runtime.base.handoff import HandoffQueue
from carbonedge.runtime.base.model import BackoffInitialS, BackoffMaxS
from carbonedge.runtime.base.plugins import Registry

logger = logging.getLogger(__name__)


class SensorCorrection(Protocol):
    """What a driver needs of a calibration (``carbonedge.calibration.sensor.SensorCorrection``):
    a corrected copy of a reading's values. Devices never import calibration; the service hands
    the correction in."""

    def apply(self, values: Mapping[str, float]) -> dict[str, float]: ...


@dataclass(frozen=True, slots=True)
class SensorReading:
    """One reading of one sensor; value names carry their units (``pm2_5_ugm3``, ``co2_ppm``).

    The id is stable (device, sensor, wall time in ms): uploading a reading twice does not
    duplicate it upstream.
    """

    device_id: str
    sensor_id: str
    t_wall_s: float
    t_mono_s: float
    values: Mapping[str, float]
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", dict(self.values))
        if not self.id:
            key = (self.device_id, self.sensor_id, round(self.t_wall_s * 1000))
            object.__setattr__(self, "id", stable_id("sensor_reading", *key))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "sensor_reading", "id": self.id, "device_id": self.device_id,
                "sensor_id": self.sensor_id, "t_wall": utc_iso(self.t_wall_s),
                "t_wall_s": self.t_wall_s, "values": dict(self.values)}  # fmt: skip


class SensorConfig(BaseModel):
    """Base of every sensor config; subclasses add ``type: Literal[...]`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="sensor id: its readings and calibration records carry it; must differ from "
        "camera ids",
    )
    stall_after_s: float = Field(5.0, gt=0, le=86400, description="no reading this long: stalled")
    reconnect_after_s: float = Field(
        10.0, gt=0, le=86400, description="no valid frame this long: reopen the device"
    )
    backoff_initial_s: BackoffInitialS = 0.5
    backoff_max_s: BackoffMaxS = 30.0
    queue_readings: int = Field(
        1024,
        ge=1,
        le=1_000_000,
        description="readings kept waiting for the pipeline (the newest are kept, drops are "
        "counted)",
    )
    close_timeout_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="how long closing waits for the reader thread to stop",
    )


class Sensor(ABC):
    """A sensor driver: ``open()``, iterate (or ``read()``) ``SensorReading``s, ``close()``."""

    def __init__(self, config: SensorConfig, device_id: str = "box") -> None:
        self.config, self.device_id, self.sensor_id = config, device_id, config.id
        self.health = DeviceHealth(config.id, "sensor", config.stall_after_s)
        self._queue: HandoffQueue[SensorReading] = HandoffQueue(
            config.queue_readings, drop_oldest=True
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._correction: SensorCorrection | None = None
        self._calibrating = False

    @abstractmethod
    def _run(self) -> None:
        """The driver loop (its own thread): connect, read, ``_deliver``, reconnect; returns on
        ``self._stop``."""

    @property
    def state(self) -> DeviceState:
        return self.health.state

    @property
    def correction(self) -> SensorCorrection | None:
        return self._correction

    def set_correction(self, correction: SensorCorrection | None) -> None:
        """Correct every later reading with ``correction`` (None: raw values)."""
        self._correction = correction

    @property
    def calibrating(self) -> bool:
        return self._calibrating

    def set_calibrating(self, on: bool, detail: str = "") -> None:
        """A zero/span is (no longer) in progress: readings keep arriving, state ``calibrating``."""
        self._calibrating = on
        state = self.health.state
        if on and state == DeviceState.STREAMING:
            self.health.set_state(DeviceState.CALIBRATING, detail)
        elif not on and state == DeviceState.CALIBRATING:
            self.health.set_state(DeviceState.STREAMING)

    def open(self) -> None:
        """Start the driver thread (returns at once; the device may connect later)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run_guarded, daemon=True,
                                            name=f"sensor-{self.sensor_id}")  # fmt: skip
            self._thread.start()

    def read(self, timeout_s: float | None = None) -> SensorReading | None:
        """Next reading; None after ``timeout_s`` without one, or once closed."""
        return self._queue.get(timeout_s)

    def close(self) -> None:
        """Stop the driver; returns within ``close_timeout_s``."""
        self._stop.set()
        self._queue.close(discard=True)
        if self._thread is not None:
            self._thread.join(self.config.close_timeout_s)
        if self.health.state != DeviceState.FAILED:
            self.health.set_state(DeviceState.CLOSED)

    def __enter__(self) -> Sensor:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[SensorReading]:
        while (reading := self.read()) is not None:
            yield reading

    def _deliver(self, values: Mapping[str, float], t_mono_s: float, t_wall_s: float) -> None:
        if self._correction is not None:
            values = self._correction.apply(values)
        reading = SensorReading(self.device_id, self.sensor_id, t_wall_s, t_mono_s, values)
        self.health.seen(t_mono_s, t_wall_s)
        self.health.count("readings")
        dropped = self._queue.dropped
        self._queue.put(reading)
        if self._queue.dropped > dropped:
            self.health.count("dropped_readings")
        live = DeviceState.CALIBRATING if self._calibrating else DeviceState.STREAMING
        if self.health.state != live:
            self.health.set_state(live)

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - a driver bug stops this sensor only, loudly
            logger.exception("sensor %s: driver crashed", self.sensor_id)
            self.health.error(f"{type(exc).__name__}: {exc}")
            self.health.set_state(DeviceState.FAILED, f"driver error: {type(exc).__name__}")
        finally:
            self._queue.close()


SENSORS: Registry[SensorConfig, Sensor] = Registry("sensor")

#: Class decorator: ``@register_sensor("pms5003", Pms5003Config)``.
register_sensor = SENSORS.register


def create_sensor(config: SensorConfig, device_id: str = "box") -> Sensor:
    """Build the sensor driver that ``config`` describes; readings carry ``device_id``."""
    return SENSORS.create(config, device_id)
