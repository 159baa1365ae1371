"""The live page on the health server (issue 29, item 2), against a real ``carbonedge run``.

A synthetic camera (weight-free motion detector) runs in a ``carbonedge run`` process; the tests
talk HTTP to its health port and open the page in headless Chromium at desktop and phone width.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from rigs import free_port, stop_process, wait_for_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "calibration"))  # the Chromium rig
from browser_rig import Browser, browser  # noqa: E402, F401 - the fixture

SITE = """\
device_id: live-test
detector: {{type: motion}}
cameras:
  road:
    source: {{type: synthetic, duration_s: 3600, seed: 7}}
    lines:
      - {{id: main, start_px: [0, 216], end_px: [640, 216]}}
  side:
    source: {{type: synthetic, duration_s: 3600, seed: 11}}
output:
  sqlite_path: {out}/store.sqlite
  jsonl_path: null
health: {{host: {host}, port: {port}}}
"""


def _start(tmp_path: Path, host: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(out=tmp_path, host=host, port=port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonedge.runtime.cli", "run", str(site)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    wait_for_port(port, timeout_s=60.0, proc=proc)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = _start(tmp_path_factory.mktemp("live"), "127.0.0.1")
    try:
        yield url
    finally:
        stop_process(proc, timeout_s=20.0)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kw: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _status(url: str) -> dict:
    code, _, body = _get(f"{url}/api/live")
    assert code == 200
    return json.loads(body)


def _wait(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_nobody_watching_keeps_few_frames_and_a_viewer_gets_annotated_jpegs(running: str) -> None:
    _wait(lambda: _status(running)["cameras"]["road"]["frames"] > 100)
    status = _status(running)
    road = status["cameras"]["road"]
    # unwatched: one frame kept every 5 s at most (the run has made hundreds)
    assert road["live_frames"] <= 2 + road["frames"] / road["fps"] / 5.0, road
    code, headers, jpeg = _get(f"{running}/cameras/road/latest.jpg")
    assert code == 200 and headers["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (360, 640, 3)
    band = image[212:221]  # the counting line at y = 216, drawn in magenta
    magenta = (band[..., 0] > 180) & (band[..., 2] > 180) & (band[..., 1] < 90)
    assert magenta.any(axis=0).mean() > 0.6
    # watched: frames are kept at up to 5 a second; each new request gets a newer frame
    first = int(headers["X-Frame-Index"])
    time.sleep(1.5)
    _, headers2, _ = _get(f"{running}/cameras/road/latest.jpg")
    assert int(headers2["X-Frame-Index"]) > first
    assert _status(running)["cameras"]["road"]["live_frames"] > road["live_frames"] + 2


def test_the_page_lists_cameras_counts_health_and_links(running: str) -> None:
    _wait(lambda: _status(running)["cameras"]["road"]["crossings"] > 0)
    code, headers, body = _get(f"{running}/")
    page = body.decode()
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    for text in ('data-camera="road"', 'data-camera="side"', 'src="cameras/road/latest.jpg"',
                 'href="cameras/road/stream.mjpg"', 'href="metrics"', 'href="healthz"',
                 "<td>main</td><td>in</td>", "live-test"):  # fmt: skip
        assert text in page, text
    status = _status(running)
    counts = status["cameras"]["road"]["counts"]["main"]
    assert sum(counts["in"].values()) + sum(counts["out"].values()) > 0
    assert status["status"] in ("ok", "degraded") and status["cameras"]["side"]["lines"] == []
    assert _get(f"{running}/cameras/nope/latest.jpg")[0] == 404
    assert _get(f"{running}/metrics")[0] == 200 and _get(f"{running}/healthz")[0] == 200


def test_the_mjpeg_stream_sends_decodable_frames(running: str) -> None:
    with urllib.request.urlopen(f"{running}/cameras/side/stream.mjpg", timeout=30) as reply:
        assert reply.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        data = b""
        while data.count(b"\xff\xd9") < 3 and len(data) < 5_000_000:
            data += reply.read1(65536)
    start = data.index(b"\xff\xd8")
    image = cv2.imdecode(np.frombuffer(data[start : data.index(b"\xff\xd9", start) + 2], np.uint8),
                         cv2.IMREAD_COLOR)  # fmt: skip
    assert image is not None and image.shape == (360, 640, 3)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (412, 915)])
def test_the_page_in_chromium_at_desktop_and_phone_width(
    running: str,
    browser: Browser,
    tmp_path: Path,
    width: int,
    height: int,  # noqa: F811
) -> None:
    page = browser.page("about:blank")
    page.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    page.send("Page.navigate", {"url": f"{running}/"})
    page.wait_for("document.querySelectorAll('img.frame').length === 2 && "
                  "[...document.querySelectorAll('img.frame')].every(i => i.naturalWidth > 0)",
                  timeout_s=30)  # fmt: skip
    rects = page.eval(
        "[...document.querySelectorAll('img.frame')].map(i => "
        "{const r = i.getBoundingClientRect(); return [r.width, r.height]})"
    )
    for w, h in rects:
        assert w > 300 and h > 150, rects  # never collapsed, the frame fills the card
        assert w <= width
    assert page.eval("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    # the counts refresh from /api/live (the script runs)
    page.wait_for("document.querySelector('section[data-camera=road] .figures')"
                  ".textContent !== ''")  # fmt: skip
    shot = page.screenshot(tmp_path / f"live-{width}.png")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] == width and image.std() > 10


def test_beyond_loopback_the_page_needs_the_token(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, "0.0.0.0")
    try:
        token = (tmp_path / "web-token").read_text().strip()
        assert _get(f"{url}/")[0] == 401
        assert _get(f"{url}/cameras/road/latest.jpg")[0] == 401
        assert _get(f"{url}/", {"Authorization": "Bearer wrong-token-123456"})[0] == 403
        code, headers, _ = _get(f"{url}/?token={token}")
        assert code == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"].split(";")[0]
        assert _get(f"{url}/", {"Cookie": cookie})[0] == 200
        assert _get(f"{url}/api/live", {"X-Carbonedge-Token": token})[0] == 200
        assert _get(f"{url}/healthz")[0] in (200, 503)  # /healthz and /metrics stay open
    finally:
        stop_process(proc, timeout_s=20.0)
