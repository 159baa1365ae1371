"""Byte-stream framing for UART sensors: find frames among garbage, check them, count what fails.

A serial line delivers bytes, not frames: a driver may open it mid-frame, a cable may pick up noise,
a sensor may reset halfway through a frame. ``FrameScanner`` keeps a bounded buffer, looks for the
protocol's header, waits until a whole frame is there, checks its checksum and hands it on; any
byte that cannot start a valid frame is skipped and counted. Protocol modules give it the header,
a length rule and a checksum; nothing they are fed can raise (tests/devices fuzz every parser).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class FrameError(ValueError):
    """A frame that has the right shape but wrong content (checksum, length, range)."""


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of ``data``; sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc16(data: bytes) -> bytes:
    """``data`` followed by its Modbus CRC (low byte first)."""
    return data + crc16_modbus(data).to_bytes(2, "little")


@dataclass
class ScanCounters:
    """What a scanner rejected so far."""

    checksum_errors: int = 0  # whole frames whose checksum did not match
    malformed_frames: int = 0  # a header with an impossible length or content
    skipped_bytes: int = 0  # bytes that were not part of any valid frame

    def as_dict(self) -> dict[str, int]:
        return {
            "checksum_errors": self.checksum_errors,
            "malformed_frames": self.malformed_frames,
            "skipped_bytes": self.skipped_bytes,
        }


@dataclass
class FrameScanner:
    """Finds checked frames in a byte stream.

    Args:
        header: bytes every frame starts with.
        frame_length: total frame length given the buffer from the header on (``None`` while more
            bytes are needed to tell, ``-1`` when the header announces an impossible length).
        checksum_ok: whether a whole frame's checksum matches.
        max_buffer: bytes kept at most while waiting for a frame (older ones are dropped).
    """

    header: bytes
    frame_length: Callable[[bytes], int | None]
    checksum_ok: Callable[[bytes], bool]
    max_buffer: int = 4096
    counters: ScanCounters = field(default_factory=ScanCounters)
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every whole frame with a valid checksum, in order."""
        self._buffer += data
        frames: list[bytes] = []
        while True:
            # Step 1: drop bytes before the next header (keep a partial header at the end)
            start = self._buffer.find(self.header)
            if start < 0:
                keep = self._partial_header_length()
                self._skip(len(self._buffer) - keep)
                break
            self._skip(start)
            # Step 2: wait for the whole frame
            length = self.frame_length(bytes(self._buffer))
            if length is None:
                break
            if length < len(self.header):
                self.counters.malformed_frames += 1
                self._skip(1)
                continue
            if len(self._buffer) < length:
                break
            # Step 3: check it; on failure, resync one byte later (the header may be noise)
            frame = bytes(self._buffer[:length])
            if self.checksum_ok(frame):
                frames.append(frame)
                del self._buffer[:length]
            else:
                self.counters.checksum_errors += 1
                self._skip(1)
        if len(self._buffer) > self.max_buffer:
            self._skip(len(self._buffer) - self.max_buffer)
        return frames

    def reset(self) -> None:
        """Forget buffered bytes (after a reconnect)."""
        self._buffer.clear()

    def _partial_header_length(self) -> int:
        for n in range(min(len(self.header) - 1, len(self._buffer)), 0, -1):
            if self._buffer.endswith(self.header[:n]):
                return n
        return 0

    def _skip(self, n: int) -> None:
        if n > 0:
            del self._buffer[:n]
            self.counters.skipped_bytes += n
