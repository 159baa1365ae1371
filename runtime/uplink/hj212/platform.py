"""A small HJ 212 platform (上位机) of our own: for tests and for technicians on the bench.

``carbonedge hj212 listen`` accepts field units over TCP, validates every packet (framing, CRC,
Table 3 grammar, CP grammar) and logs it (one JSON line each with ``--log``; a readable line on
stdout), answers 9014 to uploads that ask for it (A=1), optionally ``--delay-s`` late, and can
set a box's clock when it connects (``--set-time``, the first step of §6.7). From Python,
``Hj212Platform`` also sends requests (history re-upload, time set, intervals) and lets a test
wait for what arrived.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.uplink.hj212.codec import (
    CN,
    CpData,
    Hj212Error,
    Hj212Packet,
    decode_packet,
    encode_packet,
    flag_for,
    format_qn,
    lint_packet,
)
from carbonedge.runtime.uplink.hj212.stream import FrameReader

logger = logging.getLogger(__name__)

_ANSWERS = (CN.REQUEST_ANSWER, CN.EXECUTION_RESULT, CN.NOTIFICATION_ANSWER, CN.DATA_ANSWER)


@dataclass(frozen=True)
class Received:
    """One packet (or garbage) as it arrived, with its verdict."""

    t_s: float
    peer: str
    raw: bytes
    packet: Hj212Packet | None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        p = self.packet
        return {"t": utc_iso(self.t_s), "peer": self.peer, "ok": self.error is None,
                "error": self.error, "cn": p.cn if p else None, "qn": p.qn if p else None,
                "mn": p.mn if p else None, "notes": self.notes,
                "raw": self.raw.decode("utf-8", "replace").rstrip("\r\n")}  # fmt: skip


class _Conn:
    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock, self.peer = sock, peer
        self.lock = threading.Lock()
        self.mn: str | None = None
        self.pw: str | None = None

    def send(self, raw: bytes) -> bool:
        with self.lock:
            try:
                self.sock.sendall(raw)
                return True
            except OSError:
                return False


class Hj212Platform:
    """TCP server; ``ack``, ``ack_delay_s`` may be changed while it runs."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9212,
        *,
        ack: bool = True,
        ack_delay_s: float = 0.0,
        log_path: Path | None = None,
        set_time_on_connect: bool = False,
        on_packet: Callable[[Received], None] | None = None,
        keep: int = 100_000,
    ) -> None:
        """``keep``: how many of the latest packets ``received`` holds (a bench platform may
        run for weeks; ``counts`` has the totals)."""
        self.host, self.port = host, port
        self.ack, self.ack_delay_s = ack, ack_delay_s
        self.log_path, self.set_time_on_connect = log_path, set_time_on_connect
        self.on_packet = on_packet
        self.received: list[Received] = []
        self.keep = keep
        self.counts = {"ok": 0, "invalid": 0}
        self.connections = 0
        self._cond = threading.Condition()
        self._conns: list[_Conn] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._log = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Hj212Platform:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(8)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - see stop()
        self._spawn(self._accept, "hj212-platform-accept")
        return self

    def stop(self) -> None:
        """Close the listener and every connection (the boxes see the platform go down)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._cond:
            conns, self._conns = list(self._conns), []
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.sock.close()
        for t in self._threads:
            t.join(2.0)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Hj212Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = _Conn(sock, f"{addr[0]}:{addr[1]}")
            with self._cond:
                self._conns.append(conn)
                self.connections += 1
                self._cond.notify_all()
            logger.info("hj212 platform: %s connected", conn.peer)
            self._spawn(self._serve, f"hj212-platform-{conn.peer}", conn)

    def _serve(self, conn: _Conn) -> None:
        reader = FrameReader()
        conn.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = conn.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            for item in reader.feed(data):
                self._on_item(conn, item)
        with self._cond:
            if conn in self._conns:
                self._conns.remove(conn)
        conn.sock.close()
        logger.info("hj212 platform: %s disconnected", conn.peer)

    # --- packets ---------------------------------------------------------------------------
    def _on_item(self, conn: _Conn, item: bytes | Hj212Error) -> None:
        now = time.time()
        if isinstance(item, Hj212Error):
            self._record(Received(now, conn.peer, b"", None, item.reason))
            return
        try:
            packet = decode_packet(item)
        except Hj212Error as exc:
            self._record(Received(now, conn.peer, item, None, str(exc)))
            return
        first = conn.mn is None
        conn.mn, conn.pw = packet.mn, packet.pw
        self._record(Received(now, conn.peer, item, packet, None, lint_packet(packet)))
        if first and self.set_time_on_connect:
            self.send_request(CN.SET_TIME, [("SystemTime", time.strftime("%Y%m%d%H%M%S"))],
                              conn=conn)  # fmt: skip
        if packet.needs_ack and packet.cn not in _ANSWERS and self.ack:
            answer = self.reply(packet, CN.DATA_ANSWER)
            if self.ack_delay_s > 0:
                timer = threading.Timer(self.ack_delay_s, conn.send, args=(answer,))
                timer.daemon = True
                timer.start()
            else:
                conn.send(answer)

    def _record(self, r: Received) -> None:
        with self._cond:
            self.received.append(r)
            self.counts["ok" if r.error is None else "invalid"] += 1
            if len(self.received) > self.keep:
                del self.received[: len(self.received) - self.keep]
            self._cond.notify_all()
            if self._log is not None:
                self._log.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
                self._log.flush()
        if self.on_packet is not None:
            self.on_packet(r)

    @staticmethod
    def reply(packet: Hj212Packet, cn: str, items: list[tuple[str, str]] | None = None) -> bytes:
        """An answer to ``packet``: its QN, ST=91, its PW and MN, Flag without A (App. C)."""
        return encode_packet(Hj212Packet(
            qn=packet.qn, st="91", cn=cn, pw=packet.pw, mn=packet.mn,
            flag=flag_for(packet.version if packet.flag is not None else "2017", ack=False),
            cp=CpData(list(items or [])),
        ))  # fmt: skip

    def send_request(
        self,
        cn: str,
        items: list[tuple[str, str]],
        *,
        conn: _Conn | None = None,
        st: str = "22",
        pw: str | None = None,
        mn: str | None = None,
        timeout_s: float = 10.0,
    ) -> str:
        """Send a request (Flag=5) to the newest connected box; return its QN.

        Without ``mn`` the box must have sent a packet first (its MN and PW are used)."""
        if conn is None:
            if not self.wait_for(lambda: any(c.mn or mn for c in self._conns), timeout_s):
                raise TimeoutError("no box is connected (or none has sent a packet yet)")
            with self._cond:
                conn = next(c for c in reversed(self._conns) if c.mn or mn)
        qn = format_qn(_now_local())
        time.sleep(0.002)  # QNs of two quick requests differ
        raw = encode_packet(Hj212Packet(qn=qn, st=st, cn=cn, pw=pw or conn.pw or "123456",
                                        mn=mn or conn.mn or "", flag=5,
                                        cp=CpData(items)))  # fmt: skip
        if not conn.send(raw):
            raise ConnectionError(f"cannot send CN={cn} to {conn.peer}")
        return qn

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are to the newest connection (garbage, broken packets)."""
        with self._cond:
            conn = self._conns[-1] if self._conns else None
        if conn is None or not conn.send(data):
            raise ConnectionError("no box connected")

    # --- for tests -------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def packets(self, cn: str | None = None) -> list[Hj212Packet]:
        """Valid packets received, in order (all, or those of ``cn``)."""
        with self._cond:
            return [r.packet for r in self.received
                    if r.packet is not None and (cn is None or r.packet.cn == cn)]  # fmt: skip

    def errors(self) -> list[str]:
        with self._cond:
            return [r.error for r in self.received if r.error is not None]


def _now_local():
    from datetime import datetime

    return datetime.now()


# --- carbonedge hj212 listen ----------------------------------------------------------------
def register(hj_sub: argparse._SubParsersAction) -> None:
    p = hj_sub.add_parser("listen", help="run a test platform: log, validate and answer packets")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9212)
    p.add_argument("--ack", action="store_true", help="answer 9014 to packets with A=1")
    p.add_argument("--delay-s", type=float, default=0.0, help="answer this many seconds late")
    p.add_argument("--log", type=Path, default=None, help="append one JSON line per packet")
    p.add_argument("--set-time", action="store_true", help="send CN 1012 when a box connects")
    p.set_defaults(handler=_cmd_listen)


def _cmd_listen(args: argparse.Namespace) -> int:
    import signal
    import sys

    def show(r: Received) -> None:
        verdict = "ok " if r.error is None else "BAD"
        what = f"CN={r.packet.cn} QN={r.packet.qn}" if r.packet else (r.error or "")
        extra = f" ({r.error})" if r.packet is None and r.raw else ""
        notes = f" notes: {'; '.join(r.notes)}" if r.notes else ""
        sys.stdout.write(f"{utc_iso(r.t_s)} {r.peer} {verdict} {what}{extra}{notes}\n")
        sys.stdout.flush()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        platform = Hj212Platform(args.host, args.port, ack=args.ack, ack_delay_s=args.delay_s,
                                 log_path=args.log, set_time_on_connect=args.set_time,
                                 on_packet=show, keep=1000).start()  # fmt: skip
    except OSError as exc:
        from carbonedge.runtime.base.errors import CarbonEdgeError

        raise CarbonEdgeError(f"cannot listen on {args.host}:{args.port} ({exc})") from None
    sys.stdout.write(f"listening on {args.host}:{platform.port}\n")
    sys.stdout.flush()
    stop.wait()
    platform.stop()
    counts = platform.counts
    sys.stdout.write(f"{counts['ok'] + counts['invalid']} packets, {counts['invalid']} invalid\n")
    return 0
