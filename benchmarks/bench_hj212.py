"""HJ 212 CRC: the Cython kernel against the plain-Python Appendix A reference (and crcmod).

crcmod cannot express the HJ 212 CRC (its byte feed is not a catalogued CRC), so when crcmod is
installed its CRC-16/MODBUS of the same bytes is timed only as a yardstick for a C CRC-16.
"""

from __future__ import annotations

import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import crc16_hj212
from carbonedge.kernels import reference as ref

# A typical upload (one 2011 packet), a full data segment, and a history batch of 64 KiB.
_SIZES = {"101 B": 101, "1024 B": 1024, "64 KiB": 65536}


def _data(n: int) -> bytes:
    return np.random.default_rng(n).integers(0x20, 0x7F, n, dtype=np.uint8).tobytes()


def _table_crc(data: bytes, _table: list[int] = []) -> int:  # noqa: B006 - the table, built once
    """The usual table-driven CRC in plain Python (one lookup per byte): the best straightforward
    alternative to a compiled kernel. HJ 212's byte feed (``reg = (reg >> 8) ^ byte``) leaves
    one byte in the register before the 8 shifts, so each step is a single lookup."""
    if not _table:
        for byte in range(256):
            reg = byte
            for _ in range(8):
                reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
            _table.append(reg)
    reg = 0xFFFF
    for byte in data:
        reg = _table[(reg >> 8) ^ byte]
    return reg


def _crcmod_modbus():
    try:
        import crcmod  # type: ignore[import-not-found]
    except ImportError:
        return None
    return crcmod.predefined.mkCrcFun("modbus")


def run(quick: bool) -> list[Row]:
    sizes = ["101 B", "1024 B"] if quick else list(_SIZES)
    modbus = _crcmod_modbus()
    rows = []
    for name in sizes:
        data = _data(_SIZES[name])
        rows.append(
            compare("crc16_hj212", name, lambda d=data: crc16_hj212(d),
                    lambda d=data: ref.crc16_hj212(d), reference_name="python App. A")
        )  # fmt: skip
        rows.append(
            compare("crc16_hj212", name, lambda d=data: crc16_hj212(d),
                    lambda d=data: _table_crc(d), reference_name="python table-driven")
        )  # fmt: skip
        if modbus is not None:
            rows.append(
                compare("crc16_hj212", f"{name} vs crcmod", lambda d=data: crc16_hj212(d),
                        lambda d=data: modbus(d), reference_name="crcmod MODBUS (C)")
            )  # fmt: skip
    return rows
