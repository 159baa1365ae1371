"""HJ 212 CRC: the compiled kernel against the Appendix A reference, check values, input types."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonedge.kernels import crc16_hj212, kernel_status
from carbonedge.kernels import reference as ref

# HJ 212-2017 App. A example (data segment of vector V01) and its printed CRC.
APP_A = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&"
)


def _modbus(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


@pytest.mark.parametrize(
    ("data", "crc"),
    # One byte b gives ARC_TABLE[0xFF ^ b]: 0x00 -> table[255] = 0x4040, 0xFF -> table[0] = 0.
    [(b"", 0xFFFF), (b"123456789", 0x2F80), (APP_A, 0x1C80), (b"\x00", 0x4040), (b"\xff", 0x0000)],
)
def test_check_values(data: bytes, crc: int) -> None:
    assert crc16_hj212(data) == crc
    assert ref.crc16_hj212(data) == crc


def test_it_is_not_modbus() -> None:
    assert _modbus(APP_A) == 0x0759 != crc16_hj212(APP_A)


@pytest.mark.parametrize("n", [1, 2, 7, 101, 1024, 4095, 4096, 65_537])
def test_parity_on_seeded_random_input(n: int) -> None:
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert crc16_hj212(data) == ref.crc16_hj212(data)


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=600))
def test_parity_property(data: bytes) -> None:
    crc = crc16_hj212(data)
    assert crc == ref.crc16_hj212(data)
    # Only 256 values are possible (README §1.3): the low byte is one of eight.
    assert data == b"" or crc & 0xFF in (0x00, 0xC0, 0x80, 0x01, 0x41, 0xC1, 0x81, 0x40)


def test_threads_share_the_kernel() -> None:
    """Long input runs without the GIL; results from 4 threads match the reference."""
    blobs = [np.random.default_rng(i).bytes(200_000) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(crc16_hj212, blobs))
    assert got == [ref.crc16_hj212(b) for b in blobs]


def test_input_types() -> None:
    want = ref.crc16_hj212(APP_A)
    arr = np.frombuffer(APP_A, np.uint8)
    for data in (APP_A, bytearray(APP_A), memoryview(APP_A), arr, arr.view(np.int8)):
        assert crc16_hj212(data) == want
    with pytest.raises(TypeError, match="got str"):
        crc16_hj212(APP_A.decode())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected bytes-like, got int"):
        crc16_hj212(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D contiguous bytes"):
        crc16_hj212(arr[::2])
    with pytest.raises(ValueError, match="ndim=2"):
        crc16_hj212(arr[:100].reshape(10, 10))
    with pytest.raises(ValueError, match="itemsize=4"):
        crc16_hj212(np.zeros(4, np.float32))


def test_registered_as_cython() -> None:
    assert kernel_status()["crc16_hj212"]["backend"] == "cython"
    assert kernel_status()["crc16_hj212"]["status"] == "ok"
