"""Plantower PMS5003 (and PMS7003, same frame) particulate sensor over UART, active mode.

The sensor sends a 32-byte frame every 0.2-2.3 s at 9600 8N1 (Plantower PMS5003 datasheet,
"Appendix I"): ``42 4D``, frame length (2 bytes, big-endian, = 2*13 + 2 = 28), 13 data words
(big-endian uint16), and a checksum: the 16-bit sum of all bytes before it. Data words:
PM1.0, PM2.5, PM10 in ug/m3 "CF=1, standard particle" (factory calibration); the same for
"atmospheric environment" (the ones to report outdoors); particle counts per 0.1 L of air above
0.3, 0.5, 1.0, 2.5, 5.0 and 10 um; a reserved word.
"""

from __future__ import annotations

import struct
from typing import Literal

from pydantic import Field

from carbonedge.devices.sensors.base import register_sensor
from carbonedge.devices.sensors.frames import FrameError, FrameScanner
from carbonedge.devices.sensors.serial_sensor import SerialSensor, SerialSensorConfig

HEADER = b"\x42\x4d"
FRAME_BYTES = 32
_LENGTH_FIELD = FRAME_BYTES - 4  # 28: the data words and the checksum
_KEYS = (
    "pm1_0_cf1_ugm3", "pm2_5_cf1_ugm3", "pm10_cf1_ugm3",
    "pm1_0_ugm3", "pm2_5_ugm3", "pm10_ugm3",
    "particles_0_3um_per_dl", "particles_0_5um_per_dl", "particles_1_0um_per_dl",
    "particles_2_5um_per_dl", "particles_5_0um_per_dl", "particles_10um_per_dl",
)  # fmt: skip


def frame_length(buffer: bytes) -> int | None:
    """32 when the length field says 28; -1 (malformed) otherwise; None until it is there."""
    if len(buffer) < 4:
        return None
    return FRAME_BYTES if int.from_bytes(buffer[2:4], "big") == _LENGTH_FIELD else -1


def checksum_ok(frame: bytes) -> bool:
    return len(frame) == FRAME_BYTES and sum(frame[:-2]) & 0xFFFF == int.from_bytes(
        frame[-2:], "big"
    )


def make_scanner() -> FrameScanner:
    return FrameScanner(HEADER, frame_length, checksum_ok)


def parse_frame(frame: bytes) -> dict[str, float]:
    """A checked 32-byte frame -> values with units; ``FrameError`` if it is not one."""
    if len(frame) != FRAME_BYTES or not frame.startswith(HEADER) or not checksum_ok(frame):
        raise FrameError(f"not a valid PMS5003 frame ({len(frame)} bytes)")
    words = struct.unpack(">13H", frame[4:30])
    return {key: float(value) for key, value in zip(_KEYS, words[:12], strict=True)}


def encode_frame(values: dict[str, float]) -> bytes:
    """The frame a sensor would send for ``values`` (missing keys are 0); for tests and replay."""
    words = [int(values.get(key, 0)) for key in _KEYS] + [0]
    body = HEADER + _LENGTH_FIELD.to_bytes(2, "big") + struct.pack(">13H", *words)
    return body + (sum(body) & 0xFFFF).to_bytes(2, "big")


class Pms5003Config(SerialSensorConfig):
    type: Literal["pms5003"] = "pms5003"
    baudrate: int = Field(
        9600,
        ge=1200,
        le=115200,
        description="serial line speed (the PMS5003 talks at 9600)",
    )


@register_sensor("pms5003", Pms5003Config)
class Pms5003Sensor(SerialSensor):
    """PM1/PM2.5/PM10 readings from a PMS5003 in active mode (the sensor talks on its own)."""

    def make_scanner(self) -> FrameScanner:
        return make_scanner()

    def parse(self, frame: bytes) -> dict[str, float]:
        return parse_frame(frame)
