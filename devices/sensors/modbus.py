"""Generic Modbus RTU/TCP sensor (pymodbus): a configurable register map, polled.

Each register entry names a value, where it is (address, holding or input table), how to decode it
(``uint16``/``int16``/``uint32``/``int32``/``float32``, big-endian words by default) and how to
scale it: ``value = raw * scale + offset``, reported as ``<name>_<unit>`` (``temperature_degc``).
A register the device refuses (Modbus exception) is counted and left out of that reading; a
transport failure or ``reconnect_after_s`` without any value reconnects with backoff.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from carbonedge.devices.health import DeviceState
from carbonedge.devices.sensors.base import Sensor, SensorConfig, register_sensor
from carbonedge.devices.sensors.frames import FrameError
from carbonedge.runtime.base.backoff import Backoff
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)

DataType = Literal["uint16", "int16", "uint32", "int32", "float32"]
_FORMATS: dict[str, tuple[int, str]] = {
    "uint16": (1, ">H"), "int16": (1, ">h"), "uint32": (2, ">I"), "int32": (2, ">i"),
    "float32": (2, ">f"),
}  # fmt: skip


class RegisterSpec(BaseModel):
    """One value in the register map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the reading's name with its unit (e.g. co2_ppm), lower case",
    )
    address: int = Field(ge=0, le=65535, description="0-based register address")
    table: Literal["holding", "input"] = Field(
        "holding",
        description="holding registers (function 3) or input registers (function 4)",
    )
    data_type: DataType = Field(
        "uint16",
        description="how the register(s) decode: 16-bit, 32-bit (two registers) or float",
    )
    word_order: Literal["big", "little"] = Field(
        "big",
        description="order of the two registers of a 32-bit value",
    )
    scale: float = Field(1.0, description="value = raw * scale + offset")
    offset: float = Field(0.0, description="value = raw * scale + offset")
    unit: str = Field("", pattern=r"^[a-z0-9_]*$", description="e.g. degc, pct, ppm, ugm3")

    @property
    def key(self) -> str:
        return f"{self.name}_{self.unit}" if self.unit else self.name

    @property
    def count(self) -> int:
        return _FORMATS[self.data_type][0]


def decode_registers(registers: list[int], spec: RegisterSpec) -> float:
    """Raw 16-bit registers -> scaled value; ``FrameError`` when they cannot be one."""
    count, fmt = _FORMATS[spec.data_type]
    if len(registers) != count or any(not 0 <= r <= 0xFFFF for r in registers):
        raise FrameError(f"register {spec.address}: expected {count} 16-bit registers, "
                         f"got {len(registers)}")  # fmt: skip
    words = registers if spec.word_order == "big" else registers[::-1]
    raw = struct.unpack(fmt, b"".join(int(w).to_bytes(2, "big") for w in words))[0]
    value = raw * spec.scale + spec.offset
    if not math.isfinite(value):
        raise FrameError(f"register {spec.address}: {spec.data_type} value is not finite")
    return float(value)


class ModbusConfig(SensorConfig):
    type: Literal["modbus"] = "modbus"
    transport: Literal["tcp", "rtu"] = Field(
        "tcp",
        description="Modbus TCP over the network or RTU over a serial line",
    )
    host: str | None = Field(None, description="tcp: device address")
    tcp_port: int = Field(502, ge=1, le=65535, description="Modbus TCP port of the device")
    port: str | None = Field(None, description="rtu: serial port, e.g. /dev/ttyUSB0")
    baudrate: int = Field(9600, ge=300, le=4_000_000, description="serial line speed (RTU)")
    parity: Literal["N", "E", "O"] = Field(
        "N",
        description="serial parity (RTU): none, even or odd",
    )
    unit_id: int = Field(1, ge=0, le=247, description="Modbus device (slave) address")
    timeout_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how long one request waits for the device's answer",
    )
    interval_s: float = Field(
        5.0,
        gt=0,
        le=86400,
        description="time between two reads of the register map",
    )
    registers: list[RegisterSpec] = Field(
        min_length=1,
        description="the values to read, one entry per register (or register pair)",
    )
    stall_after_s: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="no valid reading this long marks the sensor stalled in health",
    )
    reconnect_after_s: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="no valid reading this long reconnects (with backoff)",
    )

    @model_validator(mode="after")
    def _transport_target(self) -> ModbusConfig:
        if self.transport == "tcp" and not self.host:
            raise ValueError("transport tcp needs host")
        if self.transport == "rtu" and not self.port:
            raise ValueError("transport rtu needs port")
        keys = [r.key for r in self.registers]
        if len(set(keys)) != len(keys):
            raise ValueError("register names (with units) must be unique")
        return self


@register_sensor("modbus", ModbusConfig)
class ModbusSensor(Sensor):
    """Readings from a Modbus device's registers, polled every ``interval_s``."""

    config: ModbusConfig

    def _describe(self) -> str:
        c = self.config
        return f"modbus tcp {c.host}:{c.tcp_port}" if c.transport == "tcp" else f"modbus {c.port}"

    def _client(self) -> Any:
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        c = self.config
        if c.transport == "tcp":
            return ModbusTcpClient(c.host, port=c.tcp_port, timeout=c.timeout_s, retries=0)
        return ModbusSerialClient(c.port, baudrate=c.baudrate, parity=c.parity,
                                  timeout=c.timeout_s, retries=0)  # fmt: skip

    def _run(self) -> None:
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s, jitter="equal")
        while not self._stop.is_set():
            self.health.set_state(DeviceState.CONNECTING, self._describe())
            client = self._client()
            try:
                if not client.connect():
                    raise DeviceError(f"{self._describe()}: cannot connect")
                self._session(client, backoff)
            except Exception as exc:  # noqa: BLE001 - pymodbus raises its own types; retry
                self.health.error(f"{self._describe()}: {exc}", "read_errors")
                logger.warning("sensor %s: %s; reconnecting", self.sensor_id, exc)
            finally:
                client.close()
            if self._stop.is_set():
                return
            self.health.count("reconnects")
            self._stop.wait(backoff.next_delay_s())

    def _session(self, client: Any, backoff: Backoff) -> None:
        last_valid_s = time.monotonic()
        next_poll_s = time.monotonic()
        while not self._stop.wait(max(0.0, next_poll_s - time.monotonic())):
            next_poll_s = max(next_poll_s + self.config.interval_s, time.monotonic())
            values = self._poll(client)
            if values:
                self._deliver(values, time.monotonic(), time.time())
                last_valid_s = time.monotonic()
                backoff.reset()
            elif time.monotonic() - last_valid_s > self.config.reconnect_after_s:
                self.health.count("timeouts")
                raise DeviceError(f"no value for {self.config.reconnect_after_s:g} s")

    def _poll(self, client: Any) -> dict[str, float]:
        """One value per register entry that answered; refusals counted and left out."""
        from pymodbus.exceptions import ModbusIOException

        values: dict[str, float] = {}
        for spec in self.config.registers:
            read = (client.read_holding_registers if spec.table == "holding"
                    else client.read_input_registers)  # fmt: skip
            response = read(spec.address, count=spec.count, device_id=self.config.unit_id)
            if isinstance(response, ModbusIOException):
                raise DeviceError(f"{self._describe()}: no response") from None
            if response.isError():
                self.health.error(f"register {spec.address}: {response}", "modbus_errors")
                continue
            try:
                values[spec.key] = decode_registers(list(response.registers), spec)
            except FrameError as exc:
                self.health.error(str(exc), "malformed_frames")
        return values
