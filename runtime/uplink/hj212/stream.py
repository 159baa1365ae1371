"""HJ 212 over a byte stream: framing of TCP data into packets, split packets and reassembly.

Both are bounded: ``FrameReader`` holds at most one frame plus the last chunk fed, and
``Reassembler`` drops incomplete split uploads after ``timeout_s`` or beyond ``max_pending``
(an edge box runs for months; a platform that never finishes a transfer must not leak memory).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Callable

from carbonedge.runtime.uplink.hj212.codec import (
    FLAG_SPLIT,
    MAX_CP_LEN,
    MAX_DATA_LEN,
    CpData,
    Hj212Error,
    Hj212Packet,
    qn_add_ms,
)

logger = logging.getLogger(__name__)

__all__ = ["FrameReader", "Reassembler", "split_packets"]


class FrameReader:
    """Cuts a TCP byte stream into raw packets (``##`` .. ``\\r\\n``), without decoding them.

    ``feed(chunk)`` returns, in stream order, each complete raw packet (bytes, trailer included;
    pass it to ``decode_packet``) and an ``Hj212Error`` for each run of garbage or broken frame,
    after which the reader resynchronises on the next ``##``. A line end inside the declared data
    segment ends a frame early (no valid data segment contains CR or LF), so a wrong length field
    costs one frame, not the frames behind it.
    """

    def __init__(self, *, max_data_len: int = MAX_DATA_LEN) -> None:
        if not 0 < max_data_len <= 9999:
            raise ValueError(f"max_data_len {max_data_len}: expected 1-9999")
        self.max_data_len = max_data_len
        self._buf = bytearray()
        self._offset = 0  # stream offset of self._buf[0]
        self._junk_at = 0  # stream offset where the current run of garbage began
        self._junk_n = 0  # its length, reported as one error when it ends (or grows long)
        self._junk_reason = ""  # why the run began, when a bad frame began it

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[bytes | Hj212Error]:
        """Add received bytes; return complete raw packets and errors, in stream order.

        What comes out does not depend on how the stream was cut into chunks, except that a
        long run of garbage is reported in pieces as it arrives.
        """
        self._buf += chunk
        out: list[bytes | Hj212Error] = []
        while self._buf:
            start = self._buf.find(b"##")
            if start < 0:
                # Keep a trailing '#': it may be the first half of the next header.
                keep = 1 if self._buf.endswith(b"#") else 0
                self._skip(len(self._buf) - keep, out)
                break
            self._skip(start, out)
            self._report_junk(out)
            result = self._try_frame()
            if result is None:
                break  # incomplete: wait for more bytes
            if isinstance(result, str):
                # A bad frame: drop its first '#' and resync on the next '##'; the bytes
                # skipped on the way are reported with the reason, as one error.
                self._junk_reason = f"frame at stream offset {self._offset}: {result}"
                self._skip(1, out)
                continue
            out.append(result)
        return out

    def _skip(self, n: int, out: list[bytes | Hj212Error]) -> None:
        """Drop ``n`` bytes of garbage; a long run is reported before it ends."""
        if n <= 0:
            return
        if self._junk_n == 0:
            self._junk_at = self._offset
        self._junk_n += n
        del self._buf[:n]
        self._offset += n
        if self._junk_n > 12 + self.max_data_len:
            self._report_junk(out)

    def _report_junk(self, out: list[bytes | Hj212Error]) -> None:
        if self._junk_n:
            if self._junk_reason:
                text = f"{self._junk_reason}; skipped {self._junk_n} bytes to resync"
            else:
                text = f"skipped {self._junk_n} bytes at stream offset {self._junk_at}"
                text += ": no '##' header"
            out.append(Hj212Error(text))
            self._junk_n = 0
            self._junk_reason = ""

    def _try_frame(self) -> bytes | str | None:
        """The buffer starts with '##': a packet, why the frame is bad, or None (wait)."""
        buf = self._buf
        digits = bytes(buf[2:6])
        if len(digits) < 4:
            return None
        if not digits.isdigit():
            return f"expected a 4-digit length after '##', got {digits!r}"
        n = int(digits)
        if n > self.max_data_len:
            return f"length {n} is over {self.max_data_len}"
        end = 6 + n + 4  # where the trailer must start
        for line_end in (b"\r", b"\n"):
            hit = buf.find(line_end, 6, min(end, len(buf)))
            if hit >= 0:
                return f"line end at frame byte {hit} inside the data segment and CRC (length {n})"
        if len(buf) < end + 2:
            return None
        if buf[end : end + 2] != b"\r\n":
            return (
                f"expected '\\r\\n' at frame byte {end} after {n} data bytes and the CRC, "
                f"got {bytes(buf[end : end + 2])!r}"
            )
        packet = bytes(buf[: end + 2])
        del buf[: end + 2]
        self._offset += end + 2
        return packet


class Reassembler:
    """Joins the parts of split packets (D bit, PNUM/PNO) back into one packet.

    ``feed(packet)`` returns an unsplit packet at once, None while a split upload is incomplete,
    and the joined packet (QN and header of part 1, D bit cleared, pollutant groups in PNO order)
    when the last part arrives. Parts belong together when MN, ST, CN, PNUM and the plain CP items
    (DataTime) agree. A part repeated with the same content (a retry) is ignored.
    """

    def __init__(
        self,
        *,
        max_pending: int = 32,
        timeout_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_pending < 1 or timeout_s <= 0:
            raise ValueError("max_pending must be >= 1 and timeout_s > 0")
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self._clock = clock
        self._groups: dict[tuple, tuple[float, dict[int, Hj212Packet]]] = {}
        self.dropped = 0  # incomplete uploads given up (timeout, overflow, conflict)

    @property
    def pending(self) -> int:
        """Incomplete split uploads held."""
        return len(self._groups)

    def feed(self, packet: Hj212Packet) -> Hj212Packet | None:
        """Add one decoded packet; return a complete packet or None (see the class doc)."""
        if not packet.is_split:
            return packet
        now = self._clock()
        self._evict(now)
        key = (packet.mn, packet.st, packet.cn, packet.pnum, tuple(packet.cp.items))
        started, parts = self._groups.get(key, (now, {}))
        old = parts.get(packet.pno)  # type: ignore[arg-type]
        if old is not None and old.cp != packet.cp:
            del self._groups[key]
            self.dropped += 1
            raise Hj212Error(
                f"MN={packet.mn} CN={packet.cn}: part PNO={packet.pno} of PNUM={packet.pnum} "
                "arrived twice with different content; the upload is dropped"
            )
        parts[packet.pno] = packet  # type: ignore[index]
        if len(parts) < packet.pnum:  # type: ignore[operator]
            self._groups[key] = (started, parts)
            if len(self._groups) > self.max_pending:
                oldest = min(self._groups, key=lambda k: self._groups[k][0])
                self._drop(oldest, "more than max_pending incomplete uploads")
            return None
        self._groups.pop(key, None)
        return self._join(parts)

    def _join(self, parts: dict[int, Hj212Packet]) -> Hj212Packet:
        first = parts[1]
        factors: dict[str, dict[str, str]] = {}
        for pno in sorted(parts):
            for code, fields in parts[pno].cp.factors.items():
                if code in factors:
                    raise Hj212Error(
                        f"MN={first.mn} CN={first.cn}: pollutant {code!r} is in two parts"
                    )
                factors[code] = fields
        return replace(
            first,
            flag=first.flag & ~FLAG_SPLIT,  # type: ignore[operator]
            pnum=None,
            pno=None,
            cp=CpData(list(first.cp.items), factors),
        )

    def _evict(self, now: float) -> None:
        for key in [k for k, (t0, _) in self._groups.items() if now - t0 > self.timeout_s]:
            self._drop(key, f"incomplete after {self.timeout_s:g} s")

    def _drop(self, key: tuple, why: str) -> None:
        _, parts = self._groups.pop(key)
        self.dropped += 1
        logger.warning(
            "HJ 212 split upload MN=%s CN=%s dropped (%s): got PNO %s of %s",
            key[0], key[2], why, sorted(parts), key[3],
        )  # fmt: skip


def split_packets(packet: Hj212Packet, max_data_len: int = MAX_DATA_LEN) -> list[Hj212Packet]:
    """Split a packet whose data segment is over ``max_data_len`` bytes (App. C.49).

    Every part repeats the plain CP items (DataTime) and carries whole pollutant groups, the D
    bit, PNUM/PNO, and its own QN (the original plus the part's index in milliseconds). A packet
    that fits is returned unchanged, as the only element.
    """
    if not 0 < max_data_len <= MAX_DATA_LEN:
        raise Hj212Error(f"max_data_len {max_data_len}: expected 1-{MAX_DATA_LEN}")

    def fits(p: Hj212Packet) -> bool:
        cp_len = len(p.cp.encode().encode("utf-8")) + 7
        return len(p.data_segment().encode("utf-8")) <= max_data_len and cp_len <= MAX_CP_LEN

    if fits(packet):
        return [packet]
    if packet.flag is None or packet.qn is None:
        raise Hj212Error("a packet without Flag or QN (2005 style) cannot be split")
    digits = 1
    while True:  # PNUM's digit count changes the length: retry with one more digit if needed
        chunks = _chunk_factors(packet, fits, int("9" * digits))
        if len(str(len(chunks))) <= digits:
            break
        digits += 1
    flag = packet.flag | FLAG_SPLIT
    return [
        replace(
            packet,
            qn=qn_add_ms(packet.qn, i),
            flag=flag,
            pnum=len(chunks),
            pno=i + 1,
            cp=CpData(list(packet.cp.items), chunk),
        )  # fmt: skip
        for i, chunk in enumerate(chunks)
    ]


def _chunk_factors(packet: Hj212Packet, fits, pn: int) -> list[dict[str, dict[str, str]]]:
    """Greedy: pollutant groups in order into parts that fit with PNUM=PNO=``pn``."""
    probe_flag = (packet.flag or 0) | FLAG_SPLIT
    items = list(packet.cp.items)
    chunks: list[dict[str, dict[str, str]]] = []
    current: dict[str, dict[str, str]] = {}
    for code, fields in packet.cp.factors.items():
        trial = {**current, code: fields}
        probe = replace(packet, flag=probe_flag, pnum=pn, pno=pn, cp=CpData(items, trial))
        if fits(probe):
            current = trial
            continue
        if not current:
            raise Hj212Error(f"pollutant {code!r} with the CP items does not fit in one part")
        chunks.append(current)
        current = {code: fields}
        probe = replace(packet, flag=probe_flag, pnum=pn, pno=pn, cp=CpData(items, current))
        if not fits(probe):
            raise Hj212Error(f"pollutant {code!r} with the CP items does not fit in one part")
    if not current:
        raise Hj212Error("the CP items alone do not fit in one part")
    chunks.append(current)
    return chunks
