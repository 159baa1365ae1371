"""The live page's routes on the health server: ``/``, ``/api/live``, each camera's frames.

- ``GET /``: every camera with its latest annotated frame (refreshed about once a second), its
  counts per line, direction and class, its state; the site's health; links to ``/metrics``,
  ``/healthz`` and ``/api/live``. Plain HTML first (it reads without JavaScript), a small script
  refreshes the frames and the counts.
- ``GET /cameras/<id>/latest.jpg``: the latest annotated frame (JPEG). Asking marks the camera
  watched for ``hub.WATCH_S`` seconds: frames are kept (up to ``watched_fps``) only then.
- ``GET /cameras/<id>/stream.mjpg``: the same as an MJPEG stream (``multipart/x-mixed-replace``),
  for at most ``MJPEG_MAX_S`` per connection (each holds one of the server's workers).
- ``GET /api/live``: the page's data as JSON (``LiveView.status``).

When the server listens beyond loopback these need the box's page token, the calibration page's
scheme (``runtime/calibrate/web/auth.py``): ``?token=`` once (answered with a cookie), then the
cookie, or an ``Authorization: Bearer`` / ``X-Carbonedge-Token`` header.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from carbonedge.runtime.calibrate.web.auth import COOKIE_NAME, presented_token, token_matches
from carbonedge.runtime.live.view import LiveView

logger = logging.getLogger(__name__)

__all__ = ["MJPEG_MAX_S", "handle"]

MJPEG_MAX_S = 300.0
_FIRST_FRAME_WAIT_S = 3.0
_BOUNDARY = "carbonedgeframe"


def handle(handler: Any, view: LiveView, stopping: threading.Event) -> bool:
    """Serve the request if it is the live page's (True); False: not one of its paths."""
    url = urlsplit(handler.path)
    path = url.path
    if not (path in ("/", "/index.html", "/api/live") or path.startswith("/cameras/")):
        return False
    if view.token is not None and not _authorised(handler, view.token, url):
        return True
    if path in ("/", "/index.html"):
        _send(handler, 200, "text/html; charset=utf-8", render_page(view.status()).encode())
    elif path == "/api/live":
        body = json.dumps(view.status(), sort_keys=True, default=str).encode()
        _send(handler, 200, "application/json", body)
    else:
        _camera(handler, view, path, stopping)
    return True


def _authorised(handler: Any, token: str, url: Any) -> bool:
    query_token = parse_qs(url.query).get("token", [None])[0]
    presented = presented_token(handler.headers, query_token)
    if presented is None:
        _send(handler, 401, "text/plain; charset=utf-8",
              b"this page needs the box's token: open it with ?token=... (the calibration "
              b"page's token)\n")  # fmt: skip
        return False
    if not token_matches(presented, token):
        _send(handler, 403, "text/plain; charset=utf-8", b"wrong token\n")
        return False
    if query_token is not None:  # set the cookie, drop the token from the address bar
        cookie = f"{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict"
        _send(handler, 303, "text/plain", b"", {"Location": url.path or "/", "Set-Cookie": cookie})
        return False
    return True


def _camera(handler: Any, view: LiveView, path: str, stopping: threading.Event) -> None:
    parts = path.split("/")  # "", "cameras", id, what
    slot = view.slot(parts[2]) if len(parts) == 4 else None
    if slot is None or parts[3] not in ("latest.jpg", "stream.mjpg"):
        _send(handler, 404, "text/plain; charset=utf-8",
              f"no such camera or image: {path}\n".encode())  # fmt: skip
        return
    slot.watch()
    if parts[3] == "latest.jpg":
        latest = slot.latest_jpeg()
        if latest is None and slot.wait_newer(None, _FIRST_FRAME_WAIT_S):
            latest = slot.latest_jpeg()
        if latest is None:
            _send(
                handler,
                503,
                "text/plain; charset=utf-8",
                f"camera {slot.camera_id}: no frame yet\n".encode(),
                {"Retry-After": "1"},
            )
            return
        _send(handler, 200, "image/jpeg", latest[1], {"X-Frame-Index": str(latest[0])})
        return
    _stream(handler, slot, stopping)


def _stream(handler: Any, slot: Any, stopping: threading.Event) -> None:
    handler.close_connection = True
    handler.send_response(200)
    handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
    handler.send_header("Cache-Control", "no-store")
    handler.send_header("Connection", "close")
    handler.end_headers()
    end_s, index = time.monotonic() + MJPEG_MAX_S, None
    try:
        while not stopping.is_set() and time.monotonic() < end_s:
            slot.watch()
            if not slot.wait_newer(index, 1.0):
                continue
            latest = slot.latest_jpeg()
            if latest is None:
                continue
            index, jpeg = latest
            handler.wfile.write(f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                f"Content-Length: {len(jpeg)}\r\n\r\n".encode())  # fmt: skip
            handler.wfile.write(jpeg + b"\r\n")
            handler.wfile.flush()
    except OSError:  # the viewer went away
        pass


def _send(handler: Any, status: int, content_type: str, body: bytes,
          headers: dict[str, str] | None = None) -> None:  # fmt: skip
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        handler.close_connection = True


def _counts_table(camera: dict[str, Any]) -> str:
    rows = []
    for line_id in camera["lines"]:
        per_dir = camera["counts"].get(line_id, {})
        for direction in ("in", "out"):
            by_class = per_dir.get(direction, {})
            detail = ", ".join(f"{html.escape(k)} {v}" for k, v in sorted(by_class.items()) if v)
            rows.append(
                f"<tr><td>{html.escape(line_id)}</td><td>{direction}</td>"
                f"<td class=n>{sum(by_class.values())}</td><td>{detail or '-'}</td></tr>"
            )
    if not rows:
        return "<p class=muted>no counting lines</p>"
    return (
        "<table class=counts><thead><tr><th>line</th><th>dir</th><th>total</th>"
        "<th>by class</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def render_page(status: dict[str, Any]) -> str:
    """The whole page for ``status`` (``LiveView.status``); the script keeps it current."""
    cards = []
    for camera_id, cam in status["cameras"].items():
        q = quote(camera_id, safe="")
        cards.append(
            f'<section class=camera data-camera="{html.escape(camera_id)}">'
            f"<h2>{html.escape(camera_id)} <span class=state>{html.escape(str(cam['state']))}"
            f"</span></h2>"
            f'<img class=frame alt="latest annotated frame of {html.escape(camera_id)}" '
            f'src="cameras/{q}/latest.jpg">'
            f"<p class=meta><span class=figures>{cam['frames']} frames, {cam['crossings']} "
            f'crossings</span> · <a href="cameras/{q}/stream.mjpg">live stream (MJPEG)</a></p>'
            f"<div class=table>{_counts_table(cam)}</div></section>"
        )
    reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in status.get("reasons", []))
    return _PAGE.format(
        device=html.escape(str(status["device_id"])), status=html.escape(str(status["status"])),
        reasons=f"<ul class=reasons>{reasons}</ul>" if reasons else "", cards="".join(cards),
    )  # fmt: skip


_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{device} · carbonedge live</title>
<style>
body{{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1c1e21}}
header{{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;padding:.6em 1em;
background:#1c2733;color:#fff}}
header h1{{font-size:1.1em;margin:0}} header a{{color:#9cd0ff}}
.status{{padding:.1em .6em;border-radius:1em;background:#2e7d32}}
.status.degraded{{background:#c62828}}
main{{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,560px),1fr));
gap:1em;padding:1em}}
.camera{{background:#fff;border-radius:8px;padding:.8em;box-shadow:0 1px 3px #0002;min-width:0}}
.camera h2{{font-size:1.05em;margin:0 0 .5em}} .state{{font-weight:normal;color:#555}}
img.frame{{display:block;width:100%;height:auto;min-height:120px;background:#222;
border-radius:4px;object-fit:contain}}
table.counts{{border-collapse:collapse;width:100%;margin-top:.5em}}
.counts td,.counts th{{border-bottom:1px solid #ddd;padding:.25em .4em;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.muted,.meta{{color:#555}} ul.reasons{{margin:.3em 1em;color:#c62828}}
</style></head><body>
<header><h1>{device}</h1><span id=status class="status {status}">{status}</span>
<nav><a href="metrics">metrics</a> · <a href="healthz">health</a> ·
<a href="api/live">JSON</a> · report: <code>carbonedge report</code></nav></header>
{reasons}
<main>{cards}</main>
<script>
"use strict";
function refreshFrame(img) {{
  const base = img.getAttribute("src").split("?")[0];
  const next = new Image();
  next.onload = () => {{ img.src = next.src; setTimeout(() => refreshFrame(img), 1000); }};
  next.onerror = () => setTimeout(() => refreshFrame(img), 2000);
  next.src = base + "?n=" + Date.now();
}}
document.querySelectorAll("img.frame").forEach((img) => setTimeout(() => refreshFrame(img), 1000));
async function refreshCounts() {{
  try {{
    const r = await fetch("api/live", {{cache: "no-store"}});
    if (r.ok) {{
      const s = await r.json();
      const badge = document.getElementById("status");
      badge.textContent = s.status; badge.className = "status " + s.status;
      for (const [id, cam] of Object.entries(s.cameras)) {{
        const sec = document.querySelector(`section[data-camera="${{CSS.escape(id)}}"]`);
        if (!sec) continue;
        sec.querySelector(".state").textContent = cam.state;
        sec.querySelector(".figures").textContent =
          `${{cam.frames}} frames, ${{cam.crossings}} crossings`;
        const rows = [];
        for (const line of cam.lines) for (const d of ["in", "out"]) {{
          const by = (cam.counts[line] || {{}})[d] || {{}};
          const total = Object.values(by).reduce((a, b) => a + b, 0);
          const detail = Object.entries(by).filter(([, v]) => v).sort()
            .map(([k, v]) => `${{k}} ${{v}}`).join(", ") || "-";
          rows.push([line, d, total, detail]);
        }}
        const body = sec.querySelector("table.counts tbody");
        if (body) body.replaceChildren(...rows.map((cells) => {{
          const tr = document.createElement("tr");
          cells.forEach((c, i) => {{
            const td = document.createElement("td"); td.textContent = c;
            if (i === 2) td.className = "n"; tr.appendChild(td); }});
          return tr; }}));
      }}
    }}
  }} catch (e) {{ /* the box restarts: try again */ }}
  setTimeout(refreshCounts, 2000);
}}
setTimeout(refreshCounts, 2000);
</script></body></html>
"""
