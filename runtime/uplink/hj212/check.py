"""``carbonedge hj212 check PACKET``: validate one HJ 212 packet given on the command line.

Exit 0 with a short field dump when the packet is valid, 1 with the reason when it is not. The
trailer may be typed literally (``\\r\\n`` as four characters) or left out; either is noted.
"""

from __future__ import annotations

import argparse
import sys

# Table 9 names of the command codes a technician meets on the bench.
CN_NAMES: dict[str, str] = {
    "1000": "set timeout and retry count",
    "1011": "get field-unit time / time reply",
    "1012": "set field-unit time",
    "1013": "time calibration request",
    "1061": "get real-time data interval",
    "1062": "set real-time data interval",
    "1063": "get minute data interval",
    "1064": "set minute data interval",
    "1072": "set password",
    "2011": "real-time data",
    "2012": "stop real-time data",
    "2021": "equipment running status",
    "2031": "day data",
    "2041": "equipment running time (day)",
    "2051": "minute data",
    "2061": "hour data",
    "2081": "data-logger restart time",
    "3020": "field-unit information",
    "9011": "request answer",
    "9012": "execution result",
    "9013": "notification answer",
    "9014": "data answer",
    "9015": "heartbeat (HJ 212-2025)",
}


def register(hj_sub: argparse._SubParsersAction) -> None:
    p = hj_sub.add_parser(
        "check",
        help="validate one packet: exit 0 and a field dump, or 1 and the reason",
        description="Validate one HJ 212 packet (framing, length, CRC, fields, CP grammar).",
    )
    p.add_argument("packet", help="the packet, quoted ('##0101QN=...&&1C80'); '-' reads stdin")
    p.add_argument(
        "--edition",
        choices=("2005", "2017", "2025"),
        default=None,
        help="also require this edition (Flag version bits); default: any recognised",
    )
    p.set_defaults(handler=_cmd_check)


def normalise_input(data: bytes) -> tuple[bytes, list[str]]:
    """The packet bytes to check, with notes on how the typed trailer was read."""
    notes: list[str] = []
    if data.endswith(b"\r\n"):
        return data, notes
    if data.endswith(b"\\r\\n"):
        notes.append("the trailer was typed as the text \\r\\n; read as CR LF")
        return data[:-4] + b"\r\n", notes
    if data.endswith(b"\n"):  # echo / a text file: the shell's line end, not the packet's
        data = data[:-1]
        if data.endswith(b"\\r\\n"):
            notes.append("the trailer was typed as the text \\r\\n; read as CR LF")
            return data[:-4] + b"\r\n", notes
    notes.append("no \\r\\n trailer given; checked as if it were there")
    return data + b"\r\n", notes


def describe(packet, raw: bytes) -> list[str]:
    """Short field dump of a valid packet, one field per line."""
    from carbonedge.runtime.uplink.hj212.codec import DATA_FLAGS, parse_qn

    crc = raw[-6:-2].decode()
    lines = [f"valid HJ 212 packet: edition {packet.version}, {len(raw)} bytes, CRC {crc}"]
    if packet.qn is not None:
        lines.append(
            f"  QN    {packet.qn} ({parse_qn(packet.qn).isoformat(timespec='milliseconds')})"
        )
    lines += [
        f"  ST    {packet.st}",
        f"  CN    {packet.cn} ({CN_NAMES.get(packet.cn, 'not in Table 9')})",
        f"  PW    {packet.pw}",
        f"  MN    {packet.mn}",
    ]
    if packet.flag is not None:
        ack = "answer required" if packet.needs_ack else "no answer"
        lines.append(
            f"  Flag  {packet.flag} (V={packet.version}, D={int(packet.is_split)}, "
            f"A={int(packet.needs_ack)}: {ack})"
        )
    if packet.pnum is not None:
        lines.append(f"  PNO   {packet.pno} of PNUM {packet.pnum}")
    label = "  CP    "
    for key, value in packet.cp.items:
        lines.append(f"{label}{key}={value}")
        label = "        "
    for code, fields in packet.cp.factors.items():
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        flag = fields.get("Flag")
        if flag in DATA_FLAGS:
            text += f" ({DATA_FLAGS[flag]})"
        lines.append(f"{label}{code}: {text}")
        label = "        "
    if label.startswith("  CP"):
        lines.append("  CP    (empty)")
    return lines


def _cmd_check(args: argparse.Namespace) -> int:
    from carbonedge.runtime.uplink.hj212.codec import Hj212Error, decode_packet, lint_packet

    if args.packet == "-":
        data = sys.stdin.buffer.read()
    else:
        data = args.packet.encode("utf-8", errors="surrogateescape")
    raw, notes = normalise_input(data)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    try:
        packet = decode_packet(raw)
    except Hj212Error as exc:
        sys.stderr.write(f"invalid HJ 212 packet: {exc}\n")
        return 1
    if args.edition is not None and packet.version != args.edition:
        sys.stderr.write(
            f"invalid HJ 212 packet: edition {packet.version} (Flag={packet.flag}), "
            f"expected {args.edition}\n"
        )
        return 1
    sys.stdout.write("\n".join(describe(packet, raw)) + "\n")
    for note in lint_packet(packet):
        sys.stdout.write(f"note: {note}\n")
    return 0
