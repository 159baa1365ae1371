"""Winsen MH-Z19B/C NDIR CO2 sensor over UART (9600 8N1, polled).

Command 0x86 "read CO2" (Winsen MH-Z19B manual v1.0): ``FF 01 86 00 00 00 00 00 79``. Response
(9 bytes): ``FF 86 HH LL`` and four more bytes, then a checksum: ``(0xFF - (sum of bytes 1..7)) +
1``, modulo 256.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from carbonedge.devices.sensors.base import register_sensor
from carbonedge.devices.sensors.frames import FrameError, FrameScanner
from carbonedge.devices.sensors.serial_sensor import SerialSensor, SerialSensorConfig

FRAME_BYTES = 9


def checksum(frame: bytes) -> int:
    return (0xFF - (sum(frame[1:8]) & 0xFF) + 1) & 0xFF


def _with_checksum(body: bytes) -> bytes:
    return body + bytes([checksum(body + b"\x00")])


REQUEST = _with_checksum(bytes([0xFF, 0x01, 0x86, 0, 0, 0, 0, 0]))  # ... 79


def frame_length(buffer: bytes) -> int | None:
    return FRAME_BYTES


def checksum_ok(frame: bytes) -> bool:
    return len(frame) == FRAME_BYTES and checksum(frame) == frame[8]


def make_scanner() -> FrameScanner:
    return FrameScanner(b"\xff\x86", frame_length, checksum_ok)


def parse_frame(frame: bytes) -> dict[str, float]:
    """A checked response -> ``{"co2_ppm": ...}``; ``FrameError`` for anything else."""
    if len(frame) != FRAME_BYTES or frame[:2] != b"\xff\x86" or not checksum_ok(frame):
        raise FrameError(f"not a valid MH-Z19 response ({len(frame)} bytes)")
    return {"co2_ppm": float(int.from_bytes(frame[2:4], "big"))}


def encode_response(co2_ppm: int) -> bytes:
    """The response a sensor would send; for tests and replay."""
    return _with_checksum(bytes([0xFF, 0x86]) + int(co2_ppm).to_bytes(2, "big") + bytes(4))


class Mhz19Config(SerialSensorConfig):
    type: Literal["mhz19"] = "mhz19"
    baudrate: int = Field(
        9600,
        ge=1200,
        le=115200,
        description="serial line speed (the MH-Z19 talks at 9600)",
    )
    interval_s: float = Field(2.0, gt=0, le=3600, description="time between requests")


@register_sensor("mhz19", Mhz19Config)
class Mhz19Sensor(SerialSensor):
    """CO2 in ppm from an MH-Z19B/C, polled every ``interval_s``."""

    def request(self) -> bytes | None:
        return REQUEST

    def make_scanner(self) -> FrameScanner:
        return make_scanner()

    def parse(self, frame: bytes) -> dict[str, float]:
        return parse_frame(frame)
