"""Generic Modbus sensor against pymodbus's real server: TCP on loopback, RTU over a socat pty."""

from __future__ import annotations

import asyncio
import struct
import threading
import time

import pytest
from device_rigs import pty_pair  # noqa: F401 - pytest fixture
from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from rigs import free_port, wait_for_port

from carbonedge.devices.health import DeviceState
from carbonedge.devices.sensors import create_sensor
from carbonedge.devices.sensors.modbus import ModbusConfig

TEMPERATURE = struct.unpack(">2H", struct.pack(">f", 21.5))
REGISTERS = [
    {"name": "temperature", "address": 10, "data_type": "float32", "unit": "degc"},
    {"name": "humidity", "address": 12, "scale": 0.1, "unit": "pct"},
    {"name": "co2", "address": 3, "table": "input", "unit": "ppm"},
    {"name": "missing", "address": 900},  # outside the device's map: refused, counted
]


def datastore() -> ModbusServerContext:
    # pymodbus addresses a block from its first address + 1 (Modbus 1-based register numbers)
    holding = [0] * 20
    holding[10:12] = TEMPERATURE
    holding[12] = 456
    device = ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(1, holding), ir=ModbusSequentialDataBlock(1, [0, 0, 0, 612])
    )
    return ModbusServerContext(devices={1: device}, single=False)


class ServerThread:
    """A pymodbus server running on its own event loop thread."""

    def __init__(self, make_server) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = None
        self._make = make_server
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def start(self) -> None:
        async def run():
            self.server = self._make()
            await self.server.listen()

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
            self.server = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def expect_values(sensor) -> dict[str, float]:
    reading = sensor.read(timeout_s=10)
    assert reading is not None, sensor.health.snapshot()
    return dict(reading.values)


def test_modbus_tcp_register_map_and_reconnect() -> None:
    port = free_port()
    context = datastore()
    server = ServerThread(lambda: ModbusTcpServer(context, address=("127.0.0.1", port)))
    server.start()
    wait_for_port(port)
    config = ModbusConfig(id="env", host="127.0.0.1", tcp_port=port, interval_s=0.2,
                          registers=REGISTERS, stall_after_s=0.8, reconnect_after_s=1.0,
                          backoff_initial_s=0.1, backoff_max_s=0.5)  # fmt: skip
    try:
        with create_sensor(config, "box-1") as sensor:
            values = expect_values(sensor)
            assert values == pytest.approx(
                {"temperature_degc": 21.5, "humidity_pct": 45.6, "co2_ppm": 612.0}
            )
            assert sensor.health.counter("modbus_errors") >= 1
            server.stop()
            deadline = time.monotonic() + 10
            while sensor.state == DeviceState.STREAMING and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sensor.state in (DeviceState.STALLED, DeviceState.CONNECTING)
            server.start()
            while sensor.read(timeout_s=0.05) is not None:  # readings from before the outage
                pass
            assert expect_values(sensor)["co2_ppm"] == 612.0
            assert sensor.health.counter("reconnects") >= 1
    finally:
        server.close()


def test_modbus_rtu_over_pty(pty_pair) -> None:
    context = datastore()
    server = ServerThread(lambda: ModbusSerialServer(
        context, framer=FramerType.RTU, port=str(pty_pair.test), baudrate=9600))  # fmt: skip
    server.start()
    config = ModbusConfig(id="env", transport="rtu", port=str(pty_pair.device), interval_s=0.2,
                          registers=REGISTERS[:3])  # fmt: skip
    try:
        with create_sensor(config, "box-1") as sensor:
            assert expect_values(sensor) == pytest.approx(
                {"temperature_degc": 21.5, "humidity_pct": 45.6, "co2_ppm": 612.0}
            )
    finally:
        server.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"transport": "tcp"}, "transport tcp needs host"),
        ({"transport": "rtu"}, "transport rtu needs port"),
        ({"host": "h", "registers": [REGISTERS[0], REGISTERS[0]]}, "must be unique"),
        ({"host": "h", "registers": []}, "at least 1"),
    ],
)
def test_modbus_config_errors(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        ModbusConfig(**{"id": "env", "registers": REGISTERS, **fields})
