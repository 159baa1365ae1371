"""Fuzz every sensor frame parser: random bytes, in random chunks, never raise past the driver."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonedge.devices.sensors import mhz19, pms5003, senseair_s8
from carbonedge.devices.sensors.frames import FrameError
from carbonedge.devices.sensors.modbus import RegisterSpec, decode_registers

PROTOCOLS = [
    (pms5003, lambda: pms5003.encode_frame({"pm2_5_ugm3": 35, "pm10_ugm3": 50}), 0x42),
    (senseair_s8, lambda: senseair_s8.encode_response(612), 0xFE),
    (mhz19, lambda: mhz19.encode_response(845), 0xFF),
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_stream(module, chunks: list[bytes]) -> list[dict[str, float]]:
    """What a driver does with incoming bytes: scan, parse, skip FrameErrors."""
    scanner = module.make_scanner()
    values = []
    for chunk in chunks:
        for frame in scanner.feed(chunk):
            try:
                values.append(module.parse_frame(frame))
            except FrameError:
                pass
    return values


@pytest.mark.parametrize(("module", "encode", "header_byte"), PROTOCOLS)
@FUZZ
@given(chunks=st.lists(st.binary(max_size=80), max_size=30))
def test_random_bytes_never_raise(module, encode, header_byte, chunks) -> None:
    run_stream(module, chunks)


@pytest.mark.parametrize(("module", "encode", "header_byte"), PROTOCOLS)
@FUZZ
@given(data=st.binary(max_size=64))
def test_parse_frame_raises_only_frame_error(module, encode, header_byte, data) -> None:
    try:
        module.parse_frame(data)
    except FrameError:
        pass


@pytest.mark.parametrize(("module", "encode", "header_byte"), PROTOCOLS)
@FUZZ
@given(before=st.binary(max_size=100), after=st.binary(max_size=100), cut=st.integers(1, 6))
def test_valid_frame_is_found_in_garbage(module, encode, header_byte, before, after, cut) -> None:
    """Garbage around a frame (without its header byte, so no look-alike frame can swallow it)."""
    before = before.replace(bytes([header_byte]), b"")
    frame = encode()
    data = before + frame + after
    chunks = [data[i : i + cut * 7] for i in range(0, len(data), cut * 7)]
    values = run_stream(module, chunks)
    assert module.parse_frame(frame) in values


@FUZZ
@given(
    registers=st.lists(st.integers(-5, 0x1_0005), max_size=3),
    data_type=st.sampled_from(["uint16", "int16", "uint32", "int32", "float32"]),
    word_order=st.sampled_from(["big", "little"]),
    scale=st.floats(allow_nan=True, allow_infinity=True),
)
def test_register_decoding_raises_only_frame_error(registers, data_type, word_order, scale):
    spec = RegisterSpec(name="v", address=3, data_type=data_type, word_order=word_order,
                        scale=scale)  # fmt: skip
    try:
        decode_registers(registers, spec)
    except FrameError:
        pass


@pytest.mark.parametrize(
    ("data_type", "word_order", "registers", "expected"),
    [
        ("uint16", "big", [65535], 65535.0),
        ("int16", "big", [65535], -1.0),
        ("int32", "big", [0xFFFF, 0xFFFE], -2.0),
        ("uint32", "little", [0x0002, 0x0001], 65538.0),
        ("float32", "big", [0x41C8, 0x0000], 25.0),
        ("float32", "big", [0x7FC0, 0x0000], FrameError),  # NaN
        ("uint32", "big", [1], FrameError),  # too few registers
    ],
)
def test_register_decoding_table(data_type, word_order, registers, expected) -> None:
    spec = RegisterSpec(name="v", address=0, data_type=data_type, word_order=word_order)
    if expected is FrameError:
        with pytest.raises(FrameError, match="register 0"):
            decode_registers(registers, spec)
    else:
        assert decode_registers(registers, spec) == expected
