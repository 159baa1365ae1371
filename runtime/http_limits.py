"""Limits shared by the box's small HTTP servers (``/healthz``, the calibration page).

A client that opens a connection and sends half a request must not hold a thread forever:
every connection gets a socket timeout (``REQUEST_TIMEOUT_S``, set as the handler's ``timeout``)
and at most ``MAX_WORKERS`` requests are served at once; a connection beyond that is closed at
once (the client retries), so 200 half-open requests hold at most ``MAX_WORKERS`` threads for at
most ``REQUEST_TIMEOUT_S`` each.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["MAX_WORKERS", "REQUEST_TIMEOUT_S", "BoundedHTTPServer", "is_loopback"]

REQUEST_TIMEOUT_S = 10.0
MAX_WORKERS = 16


class BoundedHTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` with at most ``max_workers`` request threads at once."""

    daemon_threads = True

    def __init__(self, *args: Any, max_workers: int = MAX_WORKERS, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(max_workers)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # every worker busy: refuse, never queue
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to loopback (``localhost``)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
