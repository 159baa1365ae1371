"""Plain-Python reference of the HJ 212 CRC: Appendix A of HJ 212-2017, step by step."""

from __future__ import annotations

__all__ = ["crc16_hj212"]


def crc16_hj212(data: bytes | bytearray | memoryview) -> int:
    """HJ 212-2017 Appendix A "ANSI CRC16" of ``data``, as the standard's C listing does it.

    Register 0xFFFF; per byte ``reg = (reg >> 8) ^ byte`` (not MODBUS's ``reg ^= byte``), then 8
    times: shift right, XOR 0xA001 when the bit shifted out was 1. Written high byte first
    (``'%04X'``). Check values: ``b"123456789"`` -> 0x2F80, ``b""`` -> 0xFFFF.
    """
    reg = 0xFFFF
    for byte in bytes(data):
        reg = (reg >> 8) ^ byte
        for _ in range(8):
            lsb = reg & 1
            reg >>= 1
            if lsb:
                reg ^= 0xA001
    return reg
