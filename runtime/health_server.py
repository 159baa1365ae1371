"""Local HTTP endpoint of the box: ``GET /metrics`` (Prometheus), ``GET /healthz`` (JSON) and the
live page (``GET /``: each camera's latest annotated frame, its counts, the health; see
``runtime/live/page.py``; behind the page token when the server listens beyond loopback).

A stdlib ``ThreadingHTTPServer`` on a daemon thread; it binds to loopback by default (expose it
through a reverse proxy or a firewall rule, never by accident). ``/healthz`` answers 200 when the
health callable's ``"status"`` is ``"ok"`` and 503 otherwise, so a supervisor or a load balancer
can act on the status code alone. A handler that raises answers 500 and is logged; the server keeps
serving.

    server = HealthServer(metrics, health=lambda: {"status": "ok"}, port=0)
    server.start()                 # server.port is the bound port
    ...
    server.stop()
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.http_limits import REQUEST_TIMEOUT_S, BoundedHTTPServer, is_loopback
from carbonedge.runtime.live import page as live_page
from carbonedge.runtime.metrics import CONTENT_TYPE, Metrics

logger = logging.getLogger(__name__)


class HealthConfig(BaseModel):
    """The local health and metrics endpoint (``health:`` in a site config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="serve /health, /metrics and the pages")
    host: str = Field("127.0.0.1", min_length=1, description="address to bind (loopback default)")
    port: int = Field(9101, ge=0, le=65535, description="TCP port; 0 picks a free one")
    live_page: bool = Field(
        True, description="serve the live page on / (frames drawn only while someone watches)"
    )
    disk_min_free_mb: float = Field(
        64.0, ge=0.0, description="less free space on the store's filesystem: degraded (503)"
    )


class HealthServer:
    """Serves ``/metrics`` and ``/healthz`` from a daemon thread until ``stop()``.

    Args:
        metrics: the registry rendered on ``GET /metrics``.
        health: returns a JSON-ready dict with at least ``"status"`` (``"ok"`` means healthy);
            called on every ``GET /healthz``, from the server's thread.
        host, port: where to listen; port 0 picks a free port (read ``.port`` after ``start()``).
        live: the live page's ``runtime.live.view.LiveView`` (None: no live page, ``/`` is 404).
    """

    def __init__(
        self,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        host: str = "127.0.0.1",
        port: int = 9101,
        live: Any = None,
    ) -> None:
        self.metrics, self.health, self.host, self.live = metrics, health, host, live
        self.stopping = threading.Event()  # ends the MJPEG streams
        self._requested_port = port
        self._server: BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(
        cls,
        config: HealthConfig,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        live: Callable[[], Any] | None = None,
    ) -> HealthServer | None:
        """A server for ``config``, or None when ``enabled`` is false (not started yet).
        ``live`` makes the live page's view (called only when ``live_page`` is on)."""
        if not config.enabled:
            return None
        view = live() if live is not None and config.live_page else None
        return cls(metrics, health, host=config.host, port=config.port, live=view)

    @property
    def port(self) -> int:
        """The bound port (the requested one until ``start()``)."""
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HealthServer:
        """Bind and serve in a daemon thread. A port in use is a ``ConfigError`` naming it."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"owner": self})
        try:
            server = BoundedHTTPServer((self.host, self._requested_port), handler)
        except OSError as exc:
            raise ConfigError(
                f"health.port: cannot listen on {self.host}:{self._requested_port} "
                f"({exc.strerror or exc})"
            ) from None
        server.daemon_threads = True  # a slow client never holds up stop() or the exit
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="carbonedge-health",
            daemon=True,
        )
        self._thread.start()
        logger.info("health and metrics on %s (/healthz, /metrics%s)", self.url,
                    ", live page /" if self.live is not None else "")  # fmt: skip
        if not is_loopback(self.host):
            logger.warning("health.host %s is not loopback: /metrics and /healthz are exposed to "
                           "the network without authentication", self.host)  # fmt: skip
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop serving and close the socket (within ``timeout_s`` plus one poll interval)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout_s)
        self._server, self._thread = None, None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: HealthServer  # set on the per-server subclass
    protocol_version = "HTTP/1.1"
    server_version = "carbonedge-health"
    timeout = REQUEST_TIMEOUT_S  # a half-open request gives its thread back after this

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                body = self.owner.metrics.render().encode("utf-8")
                self._reply(200, CONTENT_TYPE, body)
            elif path == "/healthz":
                report = self.owner.health()
                status = 200 if report.get("status") == "ok" else 503
                body = json.dumps(report, sort_keys=True, default=str).encode("utf-8")
                self._reply(status, "application/json", body)
            elif self.owner.live is not None and live_page.handle(
                self, self.owner.live, self.owner.stopping
            ):
                pass  # the live page answered (runtime/live/page.py)
            else:
                text = b"not found: try /metrics or /healthz\n"
                self._reply(404, "text/plain; charset=utf-8", text)
        except Exception:  # noqa: BLE001 - a failing handler answers 500; the server lives on
            logger.exception("health server: GET %s failed", path)
            self._reply(500, "text/plain; charset=utf-8", b"internal error (see the log)\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        logger.debug("health server: " + format, *args)
