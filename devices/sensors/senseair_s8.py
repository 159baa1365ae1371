"""SenseAir S8 NDIR CO2 sensor over Modbus RTU (9600 8N1, polled).

Request (SenseAir "Modbus on Senseair S8" TDE2067): read input register IR4 (address 3, CO2 in
ppm) from the "any sensor" address 0xFE: ``FE 04 00 03 00 01 D5 C5``. Response: ``FE 04 02 HH LL``
and the Modbus CRC (low byte first). An exception response (``FE 84 code CRC``) is a checked
frame that carries no value: it is counted as malformed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from carbonedge.devices.sensors.base import register_sensor
from carbonedge.devices.sensors.frames import FrameError, FrameScanner, crc16_modbus, with_crc16
from carbonedge.devices.sensors.serial_sensor import SerialSensor, SerialSensorConfig

ADDRESS = 0xFE
REQUEST = with_crc16(bytes([ADDRESS, 0x04, 0x00, 0x03, 0x00, 0x01]))  # FE 04 00 03 00 01 D5 C5
RESPONSE_BYTES = 7
_EXCEPTION_BYTES = 5


def frame_length(buffer: bytes) -> int | None:
    if len(buffer) < 3:
        return None
    if buffer[1] == 0x04:
        return RESPONSE_BYTES if buffer[2] == 2 else -1
    if buffer[1] == 0x84:
        return _EXCEPTION_BYTES
    return -1


def checksum_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16_modbus(frame[:-2]) == int.from_bytes(frame[-2:], "little")


def make_scanner() -> FrameScanner:
    return FrameScanner(bytes([ADDRESS]), frame_length, checksum_ok)


def parse_frame(frame: bytes) -> dict[str, float]:
    """A checked response -> ``{"co2_ppm": ...}``; ``FrameError`` for anything else."""
    if len(frame) == _EXCEPTION_BYTES and frame[1] == 0x84 and checksum_ok(frame):
        raise FrameError(f"S8 answered with Modbus exception {frame[2]}")
    if (
        len(frame) != RESPONSE_BYTES
        or frame[:3] != bytes([ADDRESS, 4, 2])
        or not checksum_ok(frame)
    ):
        raise FrameError(f"not a valid S8 response ({len(frame)} bytes)")
    return {"co2_ppm": float(int.from_bytes(frame[3:5], "big"))}


def encode_response(co2_ppm: int) -> bytes:
    """The response a sensor would send; for tests and replay."""
    return with_crc16(bytes([ADDRESS, 0x04, 0x02]) + int(co2_ppm).to_bytes(2, "big"))


class SenseAirS8Config(SerialSensorConfig):
    type: Literal["senseair_s8"] = "senseair_s8"
    baudrate: int = Field(
        9600,
        ge=1200,
        le=115200,
        description="serial line speed (the SenseAir S8 talks at 9600)",
    )
    interval_s: float = Field(2.0, gt=0, le=3600, description="time between requests")


@register_sensor("senseair_s8", SenseAirS8Config)
class SenseAirS8Sensor(SerialSensor):
    """CO2 in ppm from a SenseAir S8, polled every ``interval_s``."""

    def request(self) -> bytes | None:
        return REQUEST

    def make_scanner(self) -> FrameScanner:
        return make_scanner()

    def parse(self, frame: bytes) -> dict[str, float]:
        return parse_frame(frame)
