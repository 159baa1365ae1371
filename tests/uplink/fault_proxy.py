"""A TCP proxy on loopback, in front of a real broker, whose link the test breaks on purpose.

``FaultProxy(port).set(mode)``: ``"pass"`` forwards both ways; ``"blackhole"`` accepts connections
but forwards and answers nothing, and resets nothing (no RST, no FIN): the box sees silence, as
behind a dead route. What arrives meanwhile is held and forwarded, in order, once the mode changes
back, as TCP retransmission would deliver it when a partition heals; a connection opened during
the blackhole reaches the broker only then. ``"slow"`` delays every chunk read by ``delay_s`` and
throttles each direction to ``rate_bps`` bytes per second (512-byte slices). Used by the
network-fault tests and by ``benchmarks/chaos.py``.
"""

from __future__ import annotations

import socket
import threading
import time


class FaultProxy:
    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.mode, self.delay_s, self.rate_bps = "pass", 0.0, 0.0
        self._link_up = threading.Condition()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="fault-proxy").start()

    def set(self, mode: str, *, delay_s: float = 0.0, rate_bps: float = 0.0) -> None:
        assert mode in ("pass", "blackhole", "slow"), mode
        with self._link_up:
            self.mode, self.delay_s, self.rate_bps = mode, delay_s, rate_bps
            self._link_up.notify_all()

    def _wait_link(self) -> None:
        with self._link_up:
            self._link_up.wait_for(lambda: self.mode != "blackhole")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._wait_link()
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except OSError:  # the broker is down: the box sees its connection end
            client.close()
            return
        self._sockets.append(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._wait_link()
                if self.mode != "slow":
                    dst.sendall(data)
                    continue
                time.sleep(self.delay_s)
                step = 512 if self.rate_bps else len(data)  # throttled: a slice at a time
                for i in range(0, len(data), step):
                    time.sleep(step / self.rate_bps if self.rate_bps else 0.0)
                    dst.sendall(data[i : i + step])
        except OSError:
            pass
        for s in (src, dst):  # one side ended: end both
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.set("pass")
        self._server.close()
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
