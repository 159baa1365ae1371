"""``carbonedge calibrate serve SITE.yaml --source ID``: the technician page, served by the box.

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 by default (no internet, no build step): plain files
from ``static/`` and a small JSON API over :class:`~.session.CalibrationSession`:

- ``GET /`` the page; ``GET /static/<file>`` its script and style.
- ``GET /api/state`` source, image size, snapshot hash, the record in force.
- ``GET /api/snapshot.png`` the snapshot; ``POST /api/snapshot`` takes a fresh one.
- ``GET /api/detections`` the camera's detector on its current frame (the page draws the boxes
  over the snapshot: a live check of the lines; ``live_detections.py``).
- ``POST /api/fit`` ground points -> fit, per-point and leave-one-out errors, verdict, grid.
- ``POST /api/save`` lines, zones, masks, points -> a signed record (with the snapshot).

Every request needs the per-box token (see :mod:`.auth`): none gives 401, a wrong one 403. Bad
input gets 400 with ``{"error": "<what is wrong>"}``; the page shows that message.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from carbonedge.runtime.base.errors import CarbonEdgeError, ConfigError, DeviceError
from carbonedge.runtime.calibrate.web.auth import (
    COOKIE_NAME,
    load_or_create_token,
    presented_token,
    token_matches,
)
from carbonedge.runtime.http_limits import REQUEST_TIMEOUT_S, BoundedHTTPServer

logger = logging.getLogger(__name__)

__all__ = ["make_server", "register"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_STATIC_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.(js|css|html)$")
_MAX_BODY_BYTES = 1 << 20
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
}


class _HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class CalibrationHandler(BaseHTTPRequestHandler):
    """Routes one request; ``make_server`` sets ``session`` and ``token`` on a subclass."""

    session: Any
    token: str
    server_version = "carbonedge-calibrate"
    timeout = REQUEST_TIMEOUT_S  # a half-open request gives its thread back after this
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query_token = parse_qs(url.query).get("token", [None])[0]
        try:
            presented = presented_token(self.headers, query_token)
            if presented is None:
                raise _HTTPError(
                    HTTPStatus.UNAUTHORIZED,
                    "this page needs the box's token: open the URL that "
                    "'carbonedge calibrate serve' printed",
                )
            if not token_matches(presented, self.token):
                raise _HTTPError(HTTPStatus.FORBIDDEN, "wrong token")
            if query_token is not None and method == "GET":  # set the cookie, drop the token
                self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", location=url.path or "/",
                           cookie=True)  # fmt: skip
                return
            self._route(method, url.path)
        except _HTTPError as exc:
            self._send_json(exc.status, {"error": str(exc)})
        except (ConfigError, ValueError) as exc:  # CalibrationInputError is a ConfigError
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except DeviceError as exc:
            self._send_json(HTTPStatus.BAD_GATEWAY, {"error": str(exc)})
        except CarbonEdgeError as exc:
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a bug: logged with its traceback, page told
            logger.exception("calibration page: %s %s failed", method, url.path)
            self._send_json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": f"internal error ({type(exc).__name__}); see the server log"},
            )

    def _route(self, method: str, path: str) -> None:
        session = self.session
        if method == "GET" and path in ("/", "/index.html"):
            self._send_static("index.html")
        elif method == "GET" and path.startswith("/static/"):
            self._send_static(path.removeprefix("/static/"))
        elif method == "GET" and path == "/api/state":
            self._send_json(HTTPStatus.OK, session.state())
        elif method == "GET" and path == "/api/detections":
            self._send_json(HTTPStatus.OK, session.detections())
        elif method == "GET" and path == "/api/snapshot.png":
            self._send(HTTPStatus.OK, session.snapshot().png, "image/png")
        elif method == "POST" and path == "/api/snapshot":
            self._read_json()
            session.snapshot(fresh=True)
            self._send_json(HTTPStatus.OK, session.state())
        elif method == "POST" and path == "/api/fit":
            self._send_json(HTTPStatus.OK, session.fit(self._read_json()))
        elif method == "POST" and path == "/api/save":
            self._send_json(HTTPStatus.OK, session.save(self._read_json()))
        elif path.startswith("/api/") or path in ("/", "/index.html"):
            raise _HTTPError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} {path} is not allowed")
        else:
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"no such page: {path}")

    def _read_json(self) -> Any:
        """The request body as JSON (a JSON content type is required: no cross-site forms)."""
        if self.headers.get_content_type() != "application/json":
            raise _HTTPError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the request body as application/json"
            )
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if not 0 <= length <= _MAX_BODY_BYTES:
            raise _HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body over 1 MiB")
        body = self.rfile.read(length)
        try:
            return json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _HTTPError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {exc}") from None
        except RecursionError:  # e.g. 50,000 nested brackets: bad input, not a server bug
            raise _HTTPError(
                HTTPStatus.BAD_REQUEST, "the body is not valid JSON: nested too deeply"
            ) from None

    def _send_static(self, name: str) -> None:
        path = STATIC_DIR / name
        if not _STATIC_NAME.match(name) or not path.is_file():
            raise _HTTPError(HTTPStatus.NOT_FOUND, f"no such file: {name}")
        self._send(HTTPStatus.OK, path.read_bytes(), _STATIC_TYPES[path.suffix])

    def _send_json(self, status: HTTPStatus, payload: Any) -> None:
        body = json.dumps(payload, allow_nan=False).encode()
        self._send(status, body, "application/json")

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, *, location: str | None = None,
        cookie: bool = False,
    ) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        if location is not None:
            self.send_header("Location", location)
        if cookie:
            self.send_header(
                "Set-Cookie", f"{COOKIE_NAME}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Requests go to the debug log, without the query string (it may hold the token)."""
        logger.debug("%s %s -> %s", self.command, urlsplit(self.path).path, args[1:2])


def make_server(session: Any, token: str, host: str, port: int) -> BoundedHTTPServer:
    """A ready (bound, not yet serving) server for ``session`` behind ``token``."""
    handler = type("Handler", (CalibrationHandler,), {"session": session, "token": token})
    try:
        server = BoundedHTTPServer((host, port), handler)  # bounded threads, socket timeouts
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    server.daemon_threads = True
    return server


def _cmd_serve(args: argparse.Namespace) -> int:
    from carbonedge.runtime.calibrate.active import record_store_for
    from carbonedge.runtime.calibrate.web.session import CalibrationSession
    from carbonedge.runtime.config import load_site_config

    config = load_site_config(args.config)
    if args.source not in config.cameras:
        raise ConfigError(
            f"{args.config}: --source {args.source!r} is not among cameras "
            f"({', '.join(config.cameras)})"
        )
    try:
        store = record_store_for(config)
    except ConfigError as exc:
        raise ConfigError(f"{args.config}: {exc}") from None
    if store is None:
        raise ConfigError(
            f"{args.config}: add a 'calibration:' section (records_dir, and key/key_file unless "
            "the uplink signing key is to be used) so the page has somewhere to save records"
        )
    token = load_or_create_token(config.calibration.token_file, store.root)
    camera = config.cameras[args.source]
    session = CalibrationSession(camera.source, store, camera=camera)
    session.snapshot()  # fail now, with the source's message, rather than on the first page load
    server = make_server(session, token, args.host, args.port)
    host, port = server.server_address[:2]
    if host not in ("127.0.0.1", "::1", "localhost"):
        logger.warning(
            "the calibration page listens on %s, reachable from the network over plain HTTP: "
            "use it only on the commissioning network",
            host,
        )
    sys.stdout.write(
        f"calibration page for source {args.source!r} (stop with Ctrl-C):\n"
        f"  http://{host}:{port}/?token={token}\n"
    )
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: close the socket, exit 0
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        session.close()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def register(calibrate_sub: argparse._SubParsersAction) -> None:
    p = calibrate_sub.add_parser(
        "serve", help="serve the technician page: draw lines/zones, fit the ground plane, save"
    )
    p.add_argument("config", type=Path, help="site YAML file")
    p.add_argument("--source", required=True, help="camera id (its key under cameras:)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    p.set_defaults(handler=_cmd_serve)
