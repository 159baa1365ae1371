"""HJ 212 codec: published vectors, strict errors, encoding, split packets, framing, the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DIR, _in_ci

from carbonedge.kernels.reference import crc16_hj212 as ref_crc
from carbonedge.runtime.cli import main as cli_main
from carbonedge.runtime.uplink.hj212.codec import (
    CpData,
    FrameReader,
    Hj212Error,
    Hj212Packet,
    Reassembler,
    decode_packet,
    encode_packet,
    flag_for,
    lint_packet,
    qn_add_ms,
    split_packets,
)

HJ212_DIR = SHARED_DIR / "docs" / "hj212"
MN = "010000A8900016F000169DC0"
# Reason each negative vector of vectors.tsv is rejected for (README §3: "should be 3C00").
NEGATIVE_REASONS = {"N01": r"CRC mismatch: packet has 4980, data segment gives 3C00"}


def _missing(what: str):
    reason = f"{what} not found under {HJ212_DIR}"
    if _in_ci():
        return pytest.param(None, None, marks=pytest.mark.xfail(reason=reason, strict=True))
    return pytest.param(None, None, marks=pytest.mark.skip(reason=reason))


def _tsv_vectors(prefixes: tuple[str, ...]) -> list:
    path = HJ212_DIR / "vectors.tsv"
    if not path.is_file():
        return [_missing("vectors.tsv")]
    out = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        vid, _source, packet = line.split("\t")
        if vid.startswith(prefixes):
            out.append(pytest.param(vid, packet.encode("utf-8") + b"\r\n", id=vid))
    return out


def _appendix_c_vectors() -> list:
    """The framed App. C examples of README §3 (lengths and CRCs computed by us)."""
    path = HJ212_DIR / "README.md"
    if not path.is_file():
        return [_missing("README.md")]
    found = re.findall(r"^(C\.\d+ \d{4})\s+(##\S+)$", path.read_text("utf-8"), re.M)
    return [pytest.param(n, p.encode() + b"\r\n", id=n.replace(" ", "-")) for n, p in found]


def frame(segment: str | bytes, crc: str | None = None, trailer: bytes = b"\r\n") -> bytes:
    """A packet around ``segment`` with the right length and (unless given) the right CRC."""
    data = segment.encode("utf-8") if isinstance(segment, str) else segment
    crc = f"{ref_crc(data):04X}" if crc is None else crc
    return b"##%04d" % len(data) + data + crc.encode() + trailer


def seg(head: str = "", cp: str = "RtdInterval=30", flag: str = "Flag=5") -> str:
    base = f"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN={MN};{flag};{head}"
    return f"{base}CP=&&{cp}&&"


# --- published vectors ------------------------------------------------------------------------


@pytest.mark.parametrize(("vid", "raw"), _tsv_vectors(("V", "S")) + _appendix_c_vectors())
def test_positive_vector_parses_verifies_and_reencodes(vid: str, raw: bytes) -> None:
    assert vid is not None
    packet = decode_packet(raw)  # the CRC is verified here
    assert int(raw[-6:-2], 16) == ref_crc(raw[6:-6])
    # Same bytes, CRC hex case aside (V08 and peers send lower case; we write upper case).
    assert encode_packet(packet) == raw[:-6] + raw[-6:].upper()


def test_vector_fields_are_read() -> None:
    raw = b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=%s;Flag=5;" % MN.encode()
    packet = decode_packet(raw + b"CP=&&RtdInterval=30&&1C80\r\n")
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn) == (
        "20160801085857223", "32", "1062", "100000", MN)  # fmt: skip
    assert (packet.flag, packet.needs_ack, packet.is_split, packet.version) == (
        5,
        True,
        False,
        "2017",
    )
    assert packet.cp == CpData([("RtdInterval", "30")], {})
    s01 = b"CP=&&DataTime=20191018104900;a34002-Rtd=30,a34002-Flag=N;a34004-Rtd=25,a34004-Flag=N&&"
    seg01 = b"QN=20191018104952418;ST=22;CN=2011;PW=123456;MN=ZX00001;Flag=5;" + s01
    p = decode_packet(frame(seg01.decode()))
    assert p.cp.get("DataTime") == "20191018104900"
    assert p.cp.factors == {
        "a34002": {"Rtd": "30", "Flag": "N"},
        "a34004": {"Rtd": "25", "Flag": "N"},
    }
    assert lint_packet(p) == ["MN 'ZX00001' is not 24 hex digits (EPC-96, Table 3)"]


@pytest.mark.parametrize(("vid", "raw"), _tsv_vectors(("N",)))
def test_negative_vector_is_rejected_with_its_reason(vid: str, raw: bytes) -> None:
    assert vid in NEGATIVE_REASONS, f"new negative vector {vid}: add its reason to the table"
    with pytest.raises(Hj212Error, match=NEGATIVE_REASONS[vid]):
        decode_packet(raw)


# --- strict parsing: one row per rule ---------------------------------------------------------

_GOOD = seg()
ERROR_CASES = [
    ("header", b"#!" + frame(_GOOD)[2:], r"expected header '##', got b'#!' \(byte 0\)"),
    ("length digits", b"##01a1" + frame(_GOOD)[6:], r"4-digit data-segment length, got b'01a1'"),
    ("length over 1024", b"##1025" + frame(_GOOD)[6:], r"length field 1025 is over 1024"),
    ("length wrong", b"##0100" + frame(_GOOD)[6:], r"length field 0100 needs 112.*segment .* 101"),
    ("no trailer", frame(_GOOD, trailer=b""), r"the \\r\\n trailer is missing"),
    ("bad trailer", frame(_GOOD, trailer=b"\n\n"), r"expected trailer '\\r\\n', got b'\\n\\n'"),
    ("crc not hex", frame(_GOOD, crc="1C8G"), r"4 hex CRC digits, got b'1C8G' \(byte 107\)"),
    ("crc 0x", frame(_GOOD, crc="0x40"), r"expected 4 hex CRC digits, got b'0x40'"),
    ("crc wrong", frame(_GOOD, crc="1C81"), r"has 1C81, data segment gives 1C80 \(byte 107\)"),
    ("modbus crc", frame(_GOOD, crc="0759"), r"CRC mismatch: packet has 0759"),
    ("control byte", frame(_GOOD.replace("PW=100000", "PW=10\t000")),
     r"control byte 0x09 in the data segment \(byte 46\)"),
    ("not utf-8", frame(_GOOD.encode().replace(b"PW=100000", b"PW=10\xff000")),
     r"data segment is not UTF-8 \(invalid start byte\) \(byte 46\)"),
    ("no CP", frame(_GOOD.replace(";CP=&&RtdInterval=30&&", "")), r"no 'CP=&&' field"),
    ("CP not closed", frame(_GOOD[:-2]), r"CP is not closed by '&&'"),
    ("missing ST", frame(_GOOD.replace("ST=32;", "")), r"missing header field ST before CN"),
    ("missing MN", frame(_GOOD.replace(f"MN={MN};", "")), r"missing header field MN before Flag"),
    ("order", frame(_GOOD.replace("ST=32;CN=1062", "CN=1062;ST=32")),
     r"missing header field ST before CN \(byte 27\)"),
    ("repeated", frame(seg(head="MN=1;")), r"header field MN is repeated or out of Table 3 order"),
    ("unknown field", frame(seg(head="XX=1;")), r"unknown header field 'XX=1'.* \(byte 86\)"),
    ("comma (App. C.22)", frame(_GOOD.replace("223;ST", "223,ST")), r"separated by ';'"),
    ("QN digits", frame(_GOOD.replace("223;", "22;")), r"QN='2016080108585722': expected 17"),
    ("QN date", frame(_GOOD.replace("20160801", "20161301")), r"'20161301085857223': not a valid"),
    ("ST", frame(_GOOD.replace("ST=32", "ST=3")), r"ST='3': expected 2 characters"),
    ("CN", frame(_GOOD.replace("CN=1062", "CN=106")), r"CN='106': expected 4 digits"),
    ("PW", frame(_GOOD.replace("PW=100000", "PW=10000")), r"PW='10000': expected 6"),
    ("MN", frame(_GOOD.replace(MN, MN + "0")), r"MN='010000A8900016F000169DC00'"),
    ("Flag unicode digit", frame(seg(flag="Flag=\u0665")), r"Flag='\u0665': expected an integer"),
    ("QN unicode digits", frame(_GOOD.replace("223;", "22\u0663;")), r"expected 17 digits"),
    ("Flag zero", frame(seg(flag="Flag=05")), r"Flag='05': expected an integer 0-255 without"),
    ("Flag 256", frame(seg(flag="Flag=256")), r"Flag 256: expected an integer 0-255 \(byte 79\)"),
    ("Flag version", frame(seg(flag="Flag=13")), r"version bits V5..V0=000011 are not"),
    ("D without PNUM", frame(seg(flag="Flag=7")), r"Flag=7 has D=1 but PNUM=None"),
    ("PNUM without D", frame(seg(flag="Flag=5", head="PNUM=2;PNO=1;")), r"D=0 but PNUM=2, PNO=1"),
    ("PNUM without Flag", frame("ST=32;CN=2011;PW=123456;MN=1;PNUM=2;PNO=1;CP=&&a-Flag=N&&"),
     r"PNUM/PNO need a Flag with the D bit \(byte 35\)"),
    ("PNO > PNUM", frame(seg(flag="Flag=7", head="PNUM=2;PNO=3;")), r"PNO=3 PNUM=2: expected"),
    ("PNUM zero", frame(seg(flag="Flag=7", head="PNUM=0;PNO=1;")), r"PNUM='0': expected an int"),
    ("CP no =", frame(seg(cp="RtdInterval")), r"CP field 'RtdInterval' has no '=' \(byte 91\)"),
    ("CP empty group", frame(seg(cp="A=1;;B=2")), r"empty CP group .* \(byte 95\)"),
    ("CP trailing ;", frame(seg(cp="A=1;")), r"empty CP group"),
    ("CP , of items (App. C.23)", frame(seg(cp="BeginTime=1,EndTime=2")),
     r"'BeginTime' in a ',' list is not 'Code-Field'"),
    ("CP , across pollutants", frame(seg(cp="a1-Rtd=1,a2-Rtd=2")),
     r"',' joins fields of 'a1' and 'a2'.*\(byte 100\)"),
    ("CP item after factor", frame(seg(cp="a1-Rtd=1;DataTime=2")), r"'DataTime' follows pollutant"),
    ("CP item twice", frame(seg(cp="A=1;A=2")), r"CP item 'A' appears twice"),
    ("CP pollutant twice", frame(seg(cp="a1-Rtd=1;a1-Flag=N")), r"'a1' appears in two ';' groups"),
    ("CP field twice", frame(seg(cp="a1-Rtd=1,a1-Rtd=2")), r"'a1-Rtd' appears twice"),
    ("CP lone space (App. C.4)", frame(seg(cp=" ")), r"CP field ' ' has no '='"),
    ("CP over 950", frame("ST=32;CN=2011;PW=123456;MN=1;CP=&&a1-Rtd=" + "9" * 940 + "&&"),
     r"CP is 954 bytes, over 950 \(byte 35\)"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "reason"), [pytest.param(r, m, id=i) for i, r, m in ERROR_CASES])
def test_strict_parsing_names_field_and_offset(raw: bytes, reason: str) -> None:
    with pytest.raises(Hj212Error, match=reason):
        decode_packet(raw)


def test_error_offset_counts_utf8_bytes() -> None:
    raw = frame(seg(cp="DataTime=1;i11001-Info=//清洗管路//;x1-Rtd=1,x2-Rtd=2"))
    with pytest.raises(Hj212Error) as info:
        decode_packet(raw)
    assert info.value.offset == raw.index(b"x2-Rtd")
    assert decode_packet(frame(seg(cp="i11001-Info=//清洗管路//"))).cp.factors == {
        "i11001": {"Info": "//清洗管路//"}
    }


# --- encoding ---------------------------------------------------------------------------------


def test_encode_appendix_a_example_exactly() -> None:
    packet = Hj212Packet(
        qn="20160801085857223", st="32", cn="1062", pw="100000", mn=MN,
        flag=flag_for("2017", ack=True), cp=CpData([("RtdInterval", "30")]),
    )  # fmt: skip
    assert encode_packet(packet) == (
        b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
        b"Flag=5;CP=&&RtdInterval=30&&1C80\r\n"
    )


def test_flags_and_versions() -> None:
    assert [flag_for(ack=a, split=s) for s in (False, True) for a in (False, True)] == [4, 5, 6, 7]
    assert flag_for("2025", ack=True) == 9 and flag_for("2005", ack=False) == 0
    p = Hj212Packet(None, "32", "2011", "123456", MN, 9)
    assert (p.version, p.needs_ack) == ("2025", True)
    assert Hj212Packet(None, "32", "2011", "123456", MN, None).version == "2005"
    with pytest.raises(Hj212Error, match="version"):
        flag_for("2019", ack=True)
    assert qn_add_ms("20161231235959999", 1) == "20170101000000000"


_BASE = {"qn": "20160801085857223", "st": "22", "cn": "2011", "pw": "123456", "mn": MN, "flag": 5}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: Hj212Packet(**{**_BASE, "st": "3"}), r"ST '3': expected 2"),
        (lambda: Hj212Packet(**{**_BASE, "pw": "1234567"}), r"PW '1234567'"),
        (lambda: Hj212Packet(**{**_BASE, "flag": 7}), r"D=1 but PNUM=None"),
        (lambda: Hj212Packet(**{**_BASE, "flag": 300}), r"expected an integer 0-255"),
        (lambda: Hj212Packet(**{**_BASE, "flag": True}), r"Flag True: expected an integer"),
        (lambda: Hj212Packet(**{**_BASE, "flag": 7, "pnum": "2", "pno": 1}), r"PNUM '2': expected"),
        (lambda: Hj212Packet(**{**_BASE, "qn": "2016"}), r"QN '2016'"),
        (lambda: CpData([("Data-Time", "1")]), r"a name with '-' is a pollutant field"),
        (lambda: CpData([], {"a1": {"Rtd": "1;2"}}), r"value '1;2' contains"),
        (lambda: CpData([], {"a1": {}}), r"'a1' has no fields"),
        (lambda: CpData([], {"a1": {"Rt=d": "1"}}), r"name 'Rt=d' contains"),
        (lambda: CpData([("A", 1)]), r"value must be a str, got int"),
    ],
)
def test_construction_validates(make, reason: str) -> None:
    with pytest.raises(Hj212Error, match=reason):
        make()


# --- split packets and reassembly ------------------------------------------------------------


def _big_packet(n_factors: int = 60) -> Hj212Packet:
    factors = {f"a{i:05d}": {"Min": "1.5", "Avg": "12.25", "Max": "30.0", "Flag": "N"}
               for i in range(n_factors)}  # fmt: skip
    return Hj212Packet("20160801085857534", "22", "2061", "123456", MN, 5, cp=CpData(
        [("DataTime", "20160801080000")], factors))  # fmt: skip


def test_split_packets_fit_and_reassemble_in_any_order() -> None:
    packet = _big_packet()
    with pytest.raises(Hj212Error, match="over 950: use split_packets"):
        encode_packet(packet)
    parts = split_packets(packet, max_data_len=400)
    assert len(parts) >= 7
    raws = [encode_packet(p) for p in parts]
    assert all(len(r) - 12 <= 400 for r in raws)
    decoded = [decode_packet(r) for r in raws]
    assert [(p.flag, p.pnum, p.pno) for p in decoded] == [(7, len(parts), i + 1)
                                                          for i in range(len(parts))]  # fmt: skip
    assert [p.qn for p in decoded] == [qn_add_ms(packet.qn, i) for i in range(len(parts))]
    assert all(p.cp.items == [("DataTime", "20160801080000")] for p in decoded)
    reassembler = Reassembler()
    order = decoded[::2] + [decoded[0]] + decoded[1::2]  # with one retry of part 1
    results = [reassembler.feed(p) for p in order]
    assert [r is None for r in results].count(False) == 1 and reassembler.pending == 0
    (joined,) = [r for r in results if r is not None]
    assert joined == packet
    assert split_packets(parts[0]) == [parts[0]]  # fits: unchanged


def test_split_refuses_what_cannot_fit() -> None:
    with pytest.raises(Hj212Error, match="'a00000' with the CP items does not fit"):
        split_packets(_big_packet(), max_data_len=120)
    old = Hj212Packet(None, "22", "2011", "123456", MN, None, cp=_big_packet().cp)
    with pytest.raises(Hj212Error, match="cannot be split"):
        split_packets(old)


def test_reassembler_is_bounded_and_detects_conflicts() -> None:
    now = [0.0]
    reassembler = Reassembler(max_pending=2, timeout_s=10.0, clock=lambda: now[0])
    parts = split_packets(_big_packet(), max_data_len=400)
    assert reassembler.feed(parts[0]) is None
    now[0] = 11.0
    assert reassembler.feed(parts[1]) is None  # part 1 timed out and was dropped
    assert (reassembler.pending, reassembler.dropped) == (1, 1)
    for hour in ("09", "10"):  # two more uploads: the oldest pending one is dropped
        other = _big_packet()
        other = Hj212Packet(**{**other.__dict__, "cp": CpData([("DataTime", f"201608010{hour}00")],
                                                              other.cp.factors)})  # fmt: skip
        assert reassembler.feed(split_packets(other, max_data_len=400)[0]) is None
    assert (reassembler.pending, reassembler.dropped) == (2, 2)
    clash = Hj212Packet(
        **{**parts[2].__dict__, "cp": CpData(parts[2].cp.items, parts[3].cp.factors)}
    )
    reassembler.feed(parts[2])
    with pytest.raises(Hj212Error, match="PNO=3 .* arrived twice with different content"):
        reassembler.feed(clash)
    unsplit = decode_packet(frame(_GOOD))
    assert reassembler.feed(unsplit) is unsplit


# --- stream framing ---------------------------------------------------------------------------


def test_frame_reader_byte_by_byte_with_garbage() -> None:
    good = [frame(_GOOD), frame(seg(cp="a34004-Rtd=25,a34004-Flag=N"))]
    stream = b"\x00noise" + good[0] + b"#" + good[1] + b"##0005abc\r\n" + good[0] + b"tail#"
    reader = FrameReader()
    out: list = []
    for i in range(len(stream)):
        out += reader.feed(stream[i : i + 1])
    packets = [o for o in out if isinstance(o, bytes)]
    errors = [str(o) for o in out if isinstance(o, Hj212Error)]
    assert packets == [good[0], good[1], good[0]]
    assert errors[0] == "skipped 6 bytes at stream offset 0: no '##' header"
    assert errors[1].endswith("got b'#011'; skipped 1 bytes to resync")
    assert any("line end at frame byte 9" in e for e in errors)
    assert reader.buffered == 1  # the trailing '#' may start the next header
    at_once = FrameReader().feed(stream)  # chunking does not change what comes out
    assert [o for o in at_once if isinstance(o, bytes)] == packets
    assert [str(o) for o in at_once if isinstance(o, Hj212Error)] == errors


def test_frame_reader_resyncs_without_waiting_for_a_wrong_length() -> None:
    reader = FrameReader()
    short = frame(_GOOD).replace(b"##0101", b"##0900")  # says 900 bytes, has 101
    out = reader.feed(short + frame(_GOOD))
    assert [type(o) for o in out] == [Hj212Error, bytes]
    assert "line end at frame byte 111" in str(out[0])
    assert reader.feed(b"##9999") == []
    assert [str(e) for e in reader.feed(b"x" * 100_000 + b"##")] == [
        "frame at stream offset 226: length 9999 is over 1024; skipped 100006 bytes to resync"
    ]
    fresh = FrameReader()  # endless garbage: reported as it comes, nothing held
    junk = [str(e) for _ in range(1000) for e in fresh.feed(b"y" * 100)]
    assert len(junk) == 90 and fresh.buffered == 0
    assert junk[1] == "skipped 1100 bytes at stream offset 1100: no '##' header"


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_check_valid_invalid_and_typed_trailer(capsys: pytest.CaptureFixture) -> None:
    text = frame(seg(cp="DataTime=20160801085857;a34004-Rtd=25,a34004-Flag=N"))[:-2].decode()
    assert cli_main(["hj212", "check", text]) == 0
    out, err = capsys.readouterr()
    assert "valid HJ 212 packet: edition 2017" in out and "CN    1062" in out
    assert "a34004: Rtd=25 Flag=N (normal)" in out
    assert "no \\r\\n trailer given" in err
    assert cli_main(["hj212", "check", text + "\\r\\n"]) == 0
    assert "typed as the text \\r\\n" in capsys.readouterr().err
    assert cli_main(["hj212", "check", text[:-1] + ("1" if text[-1] == "0" else "0")]) == 1
    assert "invalid HJ 212 packet: CRC mismatch" in capsys.readouterr().err
    assert cli_main(["hj212", "check", "--edition", "2025", text]) == 1
    assert "edition 2017 (Flag=5), expected 2025" in capsys.readouterr().err


def test_cli_check_reads_stdin_in_a_real_process(tmp_path: Path) -> None:
    def run(data: bytes) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "carbonedge.runtime.cli", "hj212", "check", "-"],
            input=data, capture_output=True, timeout=60,
        )  # fmt: skip

    ok = run(frame(_GOOD))
    assert ok.returncode == 0, ok.stderr
    assert b"RtdInterval=30" in ok.stdout and ok.stderr == b""
    bad = run(frame(_GOOD.replace("ST=32;", "")))
    assert bad.returncode == 1
    assert b"missing header field ST before CN" in bad.stderr
