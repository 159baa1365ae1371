"""Base of the UART sensor drivers (pyserial): open, poll or listen, parse, reconnect.

A subclass gives the protocol: a ``FrameScanner`` (header, length, checksum), ``parse`` (a checked
frame -> values with units) and, for polled sensors, ``request()`` (sent every ``interval_s``).
The loop reads whatever bytes arrive, feeds them to the scanner and delivers each parsed frame.
Garbage, bad checksums, truncated and malformed frames are counted in ``health`` and skipped.
If no valid frame arrives for ``reconnect_after_s`` (sensor silent, cable pulled, adapter gone),
the port is closed and reopened with backoff; a missing port (USB adapter unplugged) is retried
the same way.
"""

from __future__ import annotations

import logging
import time

import serial
from pydantic import Field

from carbonedge.devices.health import DeviceState
from carbonedge.devices.sensors.base import Sensor, SensorConfig
from carbonedge.devices.sensors.frames import FrameError, FrameScanner
from carbonedge.runtime.base.backoff import Backoff
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)

_READ_SLICE_S = 0.1  # how long one read waits: bounds how late stop and polls are noticed


class SerialSensorConfig(SensorConfig):
    """A sensor on a serial port (8N1)."""

    port: str = Field(min_length=1, description="e.g. /dev/ttyAMA0, /dev/ttyUSB0")
    baudrate: int = Field(9600, ge=300, le=4_000_000)
    interval_s: float = Field(1.0, gt=0, le=3600, description="poll period (polled sensors)")


class SerialSensor(Sensor):
    """UART sensor driver; subclasses define the protocol (see the module docstring)."""

    config: SerialSensorConfig

    def make_scanner(self) -> FrameScanner:
        raise NotImplementedError

    def parse(self, frame: bytes) -> dict[str, float]:
        raise NotImplementedError

    def request(self) -> bytes | None:
        """Bytes to send every ``interval_s`` (None: the sensor talks on its own)."""
        return None

    def _run(self) -> None:
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s, jitter="equal")
        scanner = self.make_scanner()
        while not self._stop.is_set():
            self.health.set_state(DeviceState.CONNECTING, self.config.port)
            try:
                port = serial.Serial(self.config.port, self.config.baudrate,
                                     timeout=_READ_SLICE_S, write_timeout=1.0)  # fmt: skip
            except (serial.SerialException, OSError, ValueError) as exc:
                self.health.error(f"{self.config.port}: cannot open ({exc})", "connect_errors")
                logger.debug("sensor %s: cannot open %s: %s", self.sensor_id, self.config.port,
                             exc)  # fmt: skip
            else:
                scanner.reset()
                try:
                    if self._session(port, scanner):
                        backoff.reset()
                except (DeviceError, serial.SerialException, OSError) as exc:
                    self.health.error(f"{self.config.port}: {exc}", "read_errors")
                    logger.warning("sensor %s: %s; reconnecting", self.sensor_id, exc)
                finally:
                    port.close()
            if self._stop.is_set():
                return
            self.health.count("reconnects")
            self._stop.wait(backoff.next_delay_s())

    def _session(self, port: serial.Serial, scanner: FrameScanner) -> bool:
        """Read until stopped (True) or silent for ``reconnect_after_s`` (``DeviceError``)."""
        request, interval_s = self.request(), self.config.interval_s
        next_poll_s = time.monotonic()
        last_valid_s = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if request is not None and now >= next_poll_s:
                port.write(request)
                next_poll_s = max(next_poll_s + interval_s, now)
            data = port.read(max(1, port.in_waiting))
            if data:
                if self._handle(data, scanner):
                    last_valid_s = time.monotonic()
            if time.monotonic() - last_valid_s > self.config.reconnect_after_s:
                self.health.count("timeouts")
                raise DeviceError(f"no valid frame for {self.config.reconnect_after_s:g} s")
        return True

    def _handle(self, data: bytes, scanner: FrameScanner) -> bool:
        """Feed bytes; deliver parsed frames; count rejects. True if a reading was delivered."""
        before = scanner.counters.as_dict()
        frames = scanner.feed(data)
        t_mono_s, t_wall_s = time.monotonic(), time.time()
        delivered = False
        for frame in frames:
            try:
                values = self.parse(frame)
            except FrameError as exc:
                self.health.error(str(exc), "malformed_frames")
                continue
            self._deliver(values, t_mono_s, t_wall_s)
            delivered = True
        for name, value in scanner.counters.as_dict().items():
            if value > before[name]:
                self.health.count(name, value - before[name])
        return delivered
