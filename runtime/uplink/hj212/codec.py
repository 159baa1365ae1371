"""HJ 212 packets: framing, CRC, strict parsing with precise errors, encoding, split packets.

A packet (HJ 212-2017 §6.3, Table 2) is ``##`` + 4-digit data-segment length + data segment +
4 hex CRC (Appendix A, over the data segment) + ``\\r\\n``. The data segment is
``QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&&..&&`` (Table 3). Lengths count
bytes of the UTF-8 encoding (the standard says ASCII, Chinese text as UTF-8).
See ``HJ212.md`` for the grammar and the edition notes; ``stream.py`` holds the TCP framing,
``split_packets`` and the reassembly (re-exported here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from carbonedge.runtime.uplink.hj212.cp import CpData, Hj212Error, parse_cp

__all__ = [
    "CN",
    "CpData",
    "DATA_FLAGS",
    "FLAG_ACK",
    "FLAG_SPLIT",
    "Hj212Error",
    "Hj212Packet",
    "MAX_CP_LEN",
    "MAX_DATA_LEN",
    "VERSION_BITS",
    "crc16_hj212",
    "decode_packet",
    "encode_packet",
    "flag_for",
    "format_qn",
    "lint_packet",
    "parse_qn",
    "qn_add_ms",
    # in stream.py, resolved lazily by __getattr__ below
    "FrameReader",  # noqa: F822
    "Reassembler",  # noqa: F822
    "split_packets",  # noqa: F822
]

MAX_DATA_LEN = 1024  # Table 2: data segment 0 <= n <= 1024
MAX_CP_LEN = 950  # Table 3: "CP=&&...&&" 0 <= n <= 950
FLAG_ACK = 0x01  # A: the receiver must answer (9014 for uploads, 9011/9012 for requests)
FLAG_SPLIT = 0x02  # D: the packet carries PNUM and PNO
# Flag bits V5..V0 (value >> 2) -> edition. 2025 from caoyiliang/HJ212 Enum.cs (not verified).
VERSION_BITS: dict[str, int] = {"2005": 0, "2017": 1, "2025": 2}
_VERSION_OF_BITS = {bits: name for name, bits in VERSION_BITS.items()}

# Table 8 data flags (the table is extensible; these are the standard's).
DATA_FLAGS: dict[str, str] = {
    "N": "normal",
    "F": "stopped (停运)",
    "M": "maintenance",
    "S": "manually entered value",
    "D": "instrument fault",
    "C": "calibrating",
    "T": "over the upper measuring limit",
    "B": "instrument to data-logger communication abnormal",
}


class CN:
    """Command codes used by carbonedge (Table 9; 9015 is 2025-only)."""

    SET_TIMEOUT_RETRY = "1000"
    GET_TIME = "1011"
    SET_TIME = "1012"
    ASK_TIME_CALIBRATION = "1013"
    GET_RTD_INTERVAL = "1061"
    SET_RTD_INTERVAL = "1062"
    GET_MIN_INTERVAL = "1063"
    SET_MIN_INTERVAL = "1064"
    SET_PASSWORD = "1072"
    REALTIME = "2011"
    STOP_REALTIME = "2012"
    DAY = "2031"
    MINUTE = "2051"
    HOUR = "2061"
    RESTART_TIME = "2081"
    FIELD_INFO = "3020"
    REQUEST_ANSWER = "9011"
    EXECUTION_RESULT = "9012"
    NOTIFICATION_ANSWER = "9013"
    DATA_ANSWER = "9014"
    HEARTBEAT_2025 = "9015"


_HEADER_ORDER = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")
_REQUIRED = frozenset(("ST", "CN", "PW", "MN"))
_QN_RE = re.compile(r"[0-9]{17}\Z")
_ST_RE = re.compile(r"[0-9A-Z]{2}\Z")
_CN_RE = re.compile(r"[0-9]{4}\Z")
_PW_RE = re.compile(r"(?:(?![;,=&])[!-~]){6}\Z")  # 6 printable ASCII, no space or ;,=&
_MN_RE = re.compile(r"[0-9A-Za-z]{1,24}\Z")
_MN_2017_RE = re.compile(r"[0-9A-F]{24}\Z")
_NUM_RE = re.compile(r"[1-9][0-9]{0,3}\Z")  # PNUM/PNO: 1..9999, no leading zero
_FLAG_RE = re.compile(r"(0|[1-9][0-9]{0,2})\Z")
_HEX4_RE = re.compile(rb"[0-9A-Fa-f]{4}\Z")
_CONTROL_BYTE = re.compile(rb"[\x00-\x1f\x7f]")


def crc16_hj212(data: bytes | bytearray | memoryview) -> int:
    """HJ 212 CRC of ``data`` (``carbonedge.kernels.hj212``, imported on first use so that
    ``carbonedge --help``, which registers the ``hj212`` commands, loads no compiled kernels)."""
    from carbonedge.kernels.hj212 import crc16_hj212 as crc16

    return crc16(data)


def parse_qn(qn: str) -> datetime:
    """QN ``YYYYMMDDhhmmsszzz`` -> datetime (naive, the box's clock). Raises Hj212Error."""
    if not _QN_RE.match(qn):
        raise Hj212Error(f"QN {qn!r}: expected 17 digits YYYYMMDDhhmmsszzz")
    try:
        return datetime(int(qn[:4]), int(qn[4:6]), int(qn[6:8]), int(qn[8:10]), int(qn[10:12]),
                        int(qn[12:14]), int(qn[14:]) * 1000)  # fmt: skip
    except ValueError as exc:
        raise Hj212Error(f"QN {qn!r}: not a valid date and time ({exc})") from None


def format_qn(when: datetime) -> str:
    """datetime -> QN ``YYYYMMDDhhmmsszzz`` (milliseconds truncated)."""
    return (
        f"{when.year:04d}{when.month:02d}{when.day:02d}{when.hour:02d}{when.minute:02d}"
        f"{when.second:02d}{when.microsecond // 1000:03d}"
    )


def qn_add_ms(qn: str, ms: int) -> str:
    """The QN ``ms`` milliseconds later (split packets each carry their own QN, App. C.49)."""
    try:
        return format_qn(parse_qn(qn) + timedelta(milliseconds=ms))
    except OverflowError:
        raise Hj212Error(f"QN {qn!r} + {ms} ms is past year 9999") from None


def flag_for(version: str = "2017", *, ack: bool, split: bool = False) -> int:
    """Flag value for an edition and the A/D bits: 2017 gives 4 + 2*D + A."""
    if version not in VERSION_BITS:
        raise Hj212Error(f"version {version!r}: expected one of {sorted(VERSION_BITS)}")
    return (VERSION_BITS[version] << 2) | (FLAG_SPLIT if split else 0) | (FLAG_ACK if ack else 0)


def _check_flag(flag: int | None, pnum: int | None, pno: int | None) -> str | None:
    for name, value in (("PNUM", pnum), ("PNO", pno)):
        if value is not None and (type(value) is not int):
            return f"{name} {value!r}: expected an int or None"
    if flag is None:
        return "PNUM/PNO need a Flag with the D bit" if (pnum, pno) != (None, None) else None
    if type(flag) is not int or not 0 <= flag <= 255:
        return f"Flag {flag!r}: expected an integer 0-255"
    if flag >> 2 not in _VERSION_OF_BITS:
        return (
            f"Flag={flag}: version bits V5..V0={flag >> 2:06b} are not HJ/T 212-2005 (000000), "
            "HJ 212-2017 (000001) or HJ 212-2025 (000010)"
        )
    split = bool(flag & FLAG_SPLIT)
    if split != (pnum is not None) or split != (pno is not None):
        return f"Flag={flag} has D={int(split)} but PNUM={pnum}, PNO={pno} (D=1 iff both present)"
    if split and not (1 <= pno <= pnum <= 9999):  # type: ignore[operator]
        return f"PNO={pno} PNUM={pnum}: expected 1 <= PNO <= PNUM <= 9999"
    return None


@dataclass(frozen=True)
class Hj212Packet:
    """One HJ 212 packet (Table 3). ``qn`` and ``flag`` are None only in 2005-style packets.

    Validated on construction: a bad field raises Hj212Error naming it.
    """

    qn: str | None
    st: str
    cn: str
    pw: str
    mn: str
    flag: int | None
    pnum: int | None = None
    pno: int | None = None
    cp: CpData = field(default_factory=CpData)

    def __post_init__(self) -> None:
        if self.qn is not None:
            parse_qn(self.qn)
        for name, value, pattern, expected in (
            ("ST", self.st, _ST_RE, "2 characters 0-9/A-Z (Table 5)"),
            ("CN", self.cn, _CN_RE, "4 digits (Table 9)"),
            ("PW", self.pw, _PW_RE, "6 printable ASCII characters, none of ;,=&"),
            ("MN", self.mn, _MN_RE, "1-24 letters or digits (2017: 24 hex)"),
        ):
            if not isinstance(value, str) or not pattern.match(value):
                raise Hj212Error(f"{name} {value!r}: expected {expected}")
        problem = _check_flag(self.flag, self.pnum, self.pno)
        if problem:
            raise Hj212Error(problem)
        if not isinstance(self.cp, CpData):
            raise Hj212Error(f"CP: expected CpData, got {type(self.cp).__name__}")

    @property
    def needs_ack(self) -> bool:
        """The A bit: the receiver answers (9014 for uploads)."""
        return self.flag is not None and bool(self.flag & FLAG_ACK)

    @property
    def is_split(self) -> bool:
        """The D bit: one of PNUM packets."""
        return self.flag is not None and bool(self.flag & FLAG_SPLIT)

    @property
    def version(self) -> str:
        """Edition from the V bits: "2005" (also when Flag is absent), "2017" or "2025"."""
        return "2005" if self.flag is None else _VERSION_OF_BITS[self.flag >> 2]

    def data_segment(self) -> str:
        """The data segment text, fields in the order of Table 3."""
        parts = [] if self.qn is None else [f"QN={self.qn}"]
        parts += [f"ST={self.st}", f"CN={self.cn}", f"PW={self.pw}", f"MN={self.mn}"]
        if self.flag is not None:
            parts.append(f"Flag={self.flag}")
        if self.pnum is not None:
            parts += [f"PNUM={self.pnum}", f"PNO={self.pno}"]
        parts.append(f"CP=&&{self.cp.encode()}&&")
        return ";".join(parts)


def encode_packet(packet: Hj212Packet) -> bytes:
    """``##`` + length + data segment + upper-case CRC hex + ``\\r\\n``.

    Raises Hj212Error when the data segment is over 1024 bytes or CP over 950 (split it first).
    """
    segment = packet.data_segment().encode("utf-8")
    cp_len = len(packet.cp.encode().encode("utf-8")) + 7
    if cp_len > MAX_CP_LEN:
        raise Hj212Error(f"CP is {cp_len} bytes, over {MAX_CP_LEN}: use split_packets()")
    if len(segment) > MAX_DATA_LEN:
        raise Hj212Error(
            f"data segment is {len(segment)} bytes, over {MAX_DATA_LEN}: use split_packets()"
        )
    return b"##%04d%s%04X\r\n" % (len(segment), segment, crc16_hj212(segment))


def _frame(raw: bytes) -> bytes:
    """Step 1 of decoding: check header, length, CRC and trailer; return the data segment."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise Hj212Error(f"packet must be bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if raw[:2] != b"##":
        raise Hj212Error(f"expected header '##', got {raw[:2]!r}", 0)
    digits = raw[2:6]
    if len(digits) < 4 or not digits.isdigit():
        raise Hj212Error(f"expected a 4-digit data-segment length, got {digits!r}", 2)
    n = int(digits)
    if n > MAX_DATA_LEN:
        raise Hj212Error(f"length field {digits.decode()} is over {MAX_DATA_LEN}", 2)
    want = 6 + n + 4 + 2
    if len(raw) != want:
        hint = ""
        if raw.endswith(b"\r\n") and len(raw) >= 12:
            hint = f"; the data segment before CRC and trailer is {len(raw) - 12} bytes"
        elif len(raw) == want - 2 and not raw.endswith(b"\r\n"):
            hint = "; the \\r\\n trailer is missing"
        raise Hj212Error(
            f"packet is {len(raw)} bytes but length field {digits.decode()} needs {want} "
            f"(6 header + {n} data + 4 CRC + 2 trailer){hint}",
            2,
        )
    if raw[-2:] != b"\r\n":
        raise Hj212Error(f"expected trailer '\\r\\n', got {raw[-2:]!r}", len(raw) - 2)
    crc_text = raw[6 + n : 10 + n]
    if not _HEX4_RE.match(crc_text):  # int(..., 16) alone would take "0x1C" and " 1C8"
        raise Hj212Error(f"expected 4 hex CRC digits, got {crc_text!r}", 6 + n)
    crc_given = int(crc_text, 16)
    segment = raw[6 : 6 + n]
    crc = crc16_hj212(segment)
    if crc != crc_given:
        raise Hj212Error(
            f"CRC mismatch: packet has {crc_text.decode()}, data segment gives {crc:04X}", 6 + n
        )
    return segment


def _segment_text(segment: bytes) -> str:
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Hj212Error(f"data segment is not UTF-8 ({exc.reason})", 6 + exc.start) from None
    bad = _CONTROL_BYTE.search(segment)
    if bad:
        raise Hj212Error(
            f"control byte 0x{bad.group()[0]:02X} in the data segment", 6 + bad.start()
        )
    return text


def _byte_offset(text: str, index: int) -> int:
    return 6 + (index if text.isascii() else len(text[:index].encode("utf-8")))


def decode_packet(raw: bytes) -> Hj212Packet:
    """Parse one complete packet (trailer included), strictly.

    Raises Hj212Error(reason) naming the field, its byte offset, and what was expected vs got.
    """
    # Step 1: frame and CRC; Step 2: header fields in Table 3 order; Step 3: CP.
    text = _segment_text(_frame(raw))
    cp_at = 0 if text.startswith("CP=&&") else text.find(";CP=&&") + 1
    if cp_at == 0 and not text.startswith("CP=&&"):
        raise Hj212Error("no 'CP=&&' field in the data segment", 6)
    if not text.endswith("&&") or len(text) < cp_at + 7:
        raise Hj212Error(
            "CP is not closed by '&&' at the end of the data segment", _byte_offset(text, cp_at)
        )
    cp_len = len(text[cp_at:].encode("utf-8"))
    if cp_len > MAX_CP_LEN:
        raise Hj212Error(f"CP is {cp_len} bytes, over {MAX_CP_LEN}", _byte_offset(text, cp_at))
    header = _parse_header(text[: max(cp_at - 1, 0)], text)
    cp = parse_cp(text[cp_at + 5 : -2], _byte_offset(text, cp_at + 5))
    flag = header.get("Flag")
    pnum, pno = header.get("PNUM"), header.get("PNO")
    problem = _check_flag(flag, pnum, pno)  # type: ignore[arg-type]
    if problem:
        head = text[:cp_at]
        at = head.find("Flag=") if "Flag=" in head else max(head.find("PNUM="), 0)
        raise Hj212Error(problem, _byte_offset(text, at))
    return Hj212Packet(
        qn=header.get("QN"),  # type: ignore[arg-type]
        st=header["ST"],  # type: ignore[arg-type]
        cn=header["CN"],  # type: ignore[arg-type]
        pw=header["PW"],  # type: ignore[arg-type]
        mn=header["MN"],  # type: ignore[arg-type]
        flag=flag,  # type: ignore[arg-type]
        pnum=pnum,  # type: ignore[arg-type]
        pno=pno,  # type: ignore[arg-type]
        cp=cp,
    )


def _parse_header(head: str, text: str) -> dict[str, str | int]:
    """``QN=..;ST=..;...`` -> {name: value}; order, presence and format of each field checked."""
    out: dict[str, str | int] = {}
    last = -1
    pos = 0
    for part in head.split(";") if head else []:
        at = _byte_offset(text, pos)
        name, eq, value = part.partition("=")
        if not eq or name not in _HEADER_ORDER:
            raise Hj212Error(f"unknown header field {part[:24]!r}: expected one of "
                             f"{', '.join(_HEADER_ORDER)} then CP", at)  # fmt: skip
        index = _HEADER_ORDER.index(name)
        if index <= last:
            raise Hj212Error(f"header field {name} is repeated or out of Table 3 order", at)
        missing = [f for f in _HEADER_ORDER[last + 1 : index] if f in _REQUIRED]
        if missing:
            raise Hj212Error(f"missing header field {missing[0]} before {name}", at)
        last = index
        if "," in value:
            raise Hj212Error(f"{name}={value[:30]!r}: header fields are separated by ';'", at)
        out[name] = _header_value(name, value, at)
        pos += len(part) + 1
    missing = [f for f in _HEADER_ORDER if f in _REQUIRED and f not in out]
    if missing:
        raise Hj212Error(f"missing header field {missing[0]} before CP", _byte_offset(text, pos))
    return out


def _header_value(name: str, value: str, at: int) -> str | int:
    checks = {
        "QN": (_QN_RE, "17 digits YYYYMMDDhhmmsszzz"),
        "ST": (_ST_RE, "2 characters 0-9/A-Z (Table 5)"),
        "CN": (_CN_RE, "4 digits (Table 9)"),
        "PW": (_PW_RE, "6 printable ASCII characters, none of ;,=&"),
        "MN": (_MN_RE, "1-24 letters or digits (2017: 24 hex)"),
        "Flag": (_FLAG_RE, "an integer 0-255 without leading zeros"),
        "PNUM": (_NUM_RE, "an integer 1-9999 without leading zeros"),
        "PNO": (_NUM_RE, "an integer 1-9999 without leading zeros"),
    }
    pattern, expected = checks[name]
    if not pattern.match(value):
        raise Hj212Error(f"{name}={value[:30]!r}: expected {expected}", at + len(name) + 1)
    if name == "QN":
        try:
            parse_qn(value)
        except Hj212Error as exc:
            raise Hj212Error(exc.reason, at + 3) from None
    if name in ("Flag", "PNUM", "PNO"):
        return int(value)
    return value


def lint_packet(packet: Hj212Packet) -> list[str]:
    """Notes on a valid packet that a platform may still object to (not errors)."""
    notes: list[str] = []
    if packet.flag is None:
        notes.append("no Flag: HJ/T 212-2005 style packet")
    if packet.qn is None:
        notes.append("no QN: HJ/T 212-2005 style packet")
    if packet.version != "2005" and not _MN_2017_RE.match(packet.mn):
        notes.append(f"MN {packet.mn!r} is not 24 hex digits (EPC-96, Table 3)")
    for key, _ in packet.cp.items:
        if key != key.strip():
            notes.append(f"CP item {key!r} has spaces around its name (kept verbatim)")
    for code, fields in packet.cp.factors.items():
        if code != code.strip() or any(k != k.strip() for k in fields):
            notes.append(f"CP pollutant {code!r} has spaces in a field name (kept verbatim)")
        flag = fields.get("Flag")
        if flag is not None and flag not in DATA_FLAGS:
            notes.append(f"{code}-Flag={flag!r} is not a Table 8 data flag")
    return notes


def __getattr__(name: str):
    """``FrameReader``, ``Reassembler`` and ``split_packets`` live in ``stream.py``.

    (``stream.py`` imports this module, so they are looked up lazily.)
    """
    if name in ("FrameReader", "Reassembler", "split_packets"):
        from carbonedge.runtime.uplink.hj212 import stream

        return getattr(stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
