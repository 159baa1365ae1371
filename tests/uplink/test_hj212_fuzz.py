"""Fuzzing the HJ 212 parser: random and mutated packets, generated round trips, stream framing.

No exception other than Hj212Error may escape, and nothing may hang. The parser's run time is
bounded by its structure rather than by a clock: every loop in ``decode_packet``, ``parse_cp``
and ``FrameReader.feed`` consumes at least one byte or field per step, and inputs are at most a
few KiB, so a case that looped would never finish and the test run would stop on its timeout.
"""

from __future__ import annotations

import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from carbonedge.kernels.reference import crc16_hj212 as ref_crc
from carbonedge.runtime.uplink.hj212.codec import (
    CpData,
    FrameReader,
    Hj212Error,
    Hj212Packet,
    Reassembler,
    decode_packet,
    encode_packet,
    format_qn,
    split_packets,
)

FUZZ = settings(max_examples=250, deadline=None, database=None)
SEEDS = [
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&1C80\r\n",
    b"##0136ST=32;CN=2011;PW=000000;MN=LD130133000015;CP=&&DataTime=20160824003817;"
    b"011-Rtd=231.0,011-Flag=N;B01-Rtd=36.91;060-Rtd=1.803,060-Flag=N&&1dc0\r\n",
]

# --- strategies for valid packets -------------------------------------------------------------

_NAME = st.text(string.ascii_letters + string.digits, min_size=1, max_size=8)
_VALUE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters=";,&"),
    max_size=10,
)
_CP = st.builds(
    CpData,
    st.lists(st.tuples(_NAME, _VALUE), max_size=4, unique_by=lambda kv: kv[0]),
    st.dictionaries(_NAME, st.dictionaries(_NAME, _VALUE, min_size=1, max_size=3), max_size=5),
)


@st.composite
def packets(
    draw: st.DrawFn, cp: st.SearchStrategy[CpData] = _CP, whole: bool = False
) -> Hj212Packet:
    """Any valid packet; ``whole``: with QN and Flag, not a part of a split packet."""
    flags = st.sampled_from([0, 1, 4, 5, 8, 9]) if whole else st.none() | st.integers(0, 11)
    flag = draw(flags)
    split = flag is not None and bool(flag & 2)
    pnum = draw(st.integers(1, 9999)) if split else None
    pno = draw(st.integers(1, pnum)) if split else None
    qns = st.datetimes().map(format_qn)
    qn = draw(qns if whole else st.none() | qns)
    return Hj212Packet(
        qn=qn,
        st=draw(st.from_regex(r"[0-9A-Z]{2}", fullmatch=True)),
        cn=draw(st.from_regex(r"[0-9]{4}", fullmatch=True)),
        pw=draw(
            st.text(string.ascii_letters + string.digits + "!#$%*+-./:?@_~", min_size=6, max_size=6)
        ),  # fmt: skip
        mn=draw(_NAME),
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=draw(cp),
    )


def _encode_or_reject(packet: Hj212Packet) -> bytes:
    try:
        return encode_packet(packet)
    except Hj212Error as exc:  # too long for one packet: not this test's subject
        assert "use split_packets" in str(exc)
        assume(False)
        raise


def _reframe(segment: bytes) -> bytes:
    """Valid length and CRC around any segment, so mutations reach the field parser."""
    return b"##%04d%s%04X\r\n" % (len(segment), segment, ref_crc(segment))


def _decode_is_strict_and_canonical(raw: bytes) -> None:
    """Either Hj212Error, or a packet that encodes back to the same bytes (CRC case aside)."""
    try:
        packet = decode_packet(raw)
    except Hj212Error:
        return
    assert encode_packet(packet) == raw[:-6] + raw[-6:].upper()


# --- properties -------------------------------------------------------------------------------


@FUZZ
@given(packets())
def test_round_trip_of_generated_packets(packet: Hj212Packet) -> None:
    raw = _encode_or_reject(packet)
    assert decode_packet(raw) == packet
    assert encode_packet(decode_packet(raw)) == raw


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _decode_is_strict_and_canonical(data)
    _decode_is_strict_and_canonical(b"##" + data)
    _decode_is_strict_and_canonical(_reframe(data))


_MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]),
    st.integers(0, 2000),
    st.integers(0, 2000),
    st.binary(min_size=1, max_size=8) | st.sampled_from([b";", b",", b"=", b"&&", b"-", b"CP=&&"]),
)


def _mutate(data: bytes, mutations: list) -> bytes:
    for op, i, j, blob in mutations:
        i, j = sorted((i % (len(data) + 1), j % (len(data) + 1)))
        if op == "flip" and i < len(data):
            data = data[:i] + blob[:1] + data[i + 1 :]
        elif op == "insert":
            data = data[:i] + blob + data[i:]
        elif op == "delete":
            data = data[:i] + data[j:]
        elif op == "duplicate":
            data = data[:j] + data[i:j] + data[j:]
        elif op == "truncate":
            data = data[:i]
    return data


@FUZZ
@given(st.one_of(st.sampled_from(SEEDS), packets().map(encode_packet)),
       st.lists(_MUTATION, min_size=1, max_size=4))  # fmt: skip
def test_mutated_packets(raw: bytes, mutations: list) -> None:
    _decode_is_strict_and_canonical(_mutate(raw, mutations))
    # The same mutations inside the data segment, length and CRC fixed: the field parser's turn.
    _decode_is_strict_and_canonical(_reframe(_mutate(raw[6:-6], mutations)))


_GARBAGE = st.binary(max_size=40).map(lambda b: b.replace(b"#", b"x"))


@FUZZ
@given(
    st.lists(st.tuples(_GARBAGE, st.sampled_from(SEEDS) | packets().map(encode_packet)),
             max_size=5),
    st.binary(max_size=60),
    st.lists(st.integers(1, 64), min_size=1, max_size=20),
)  # fmt: skip
def test_frame_reader_recovers_packets_from_any_chunking(pieces, noise, cuts) -> None:
    stream = b"".join(g + p for g, p in pieces)
    for data, exact in ((stream, True), (noise + stream + noise, False)):
        whole = FrameReader().feed(data)
        reader, chunked, pos, k = FrameReader(), [], 0, 0
        while pos < len(data):
            step = cuts[k % len(cuts)]
            chunked += reader.feed(data[pos : pos + step])
            pos, k = pos + step, k + 1
        assert all(isinstance(o, (bytes, Hj212Error)) for o in chunked)
        assert [str(o) for o in chunked] == [str(o) for o in whole]
        assert reader.buffered <= 12 + 1024
        if exact:  # garbage without '#' never hides a packet
            assert [o for o in whole if isinstance(o, bytes)] == [p for _, p in pieces]


_BIG_CP = st.builds(
    CpData,
    st.just([("DataTime", "20240101000000")]),
    st.dictionaries(_NAME, st.dictionaries(_NAME, _VALUE, min_size=1, max_size=4),
                    min_size=1, max_size=60),
)  # fmt: skip


@FUZZ
@given(packets(_BIG_CP, whole=True), st.integers(300, 1024), st.randoms(use_true_random=False))
def test_split_and_reassemble(packet: Hj212Packet, max_len: int, rnd) -> None:
    try:
        parts = split_packets(packet, max_data_len=max_len)
    except Hj212Error as exc:
        assert "does not fit" in str(exc) or "past year 9999" in str(exc)
        return
    raws = [encode_packet(p) for p in parts]
    assert all(len(r) - 12 <= max_len for r in raws)
    rnd.shuffle(raws)
    reassembler = Reassembler()
    out = [reassembler.feed(decode_packet(r)) for r in raws]
    assert [o for o in out if o is not None] == [packet]
