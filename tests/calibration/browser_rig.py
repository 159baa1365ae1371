"""Real headless Chromium for page tests, driven over the DevTools protocol (CDP) on a pipe.

``chromium --remote-debugging-pipe`` reads CDP commands from file descriptor 3 and writes replies
and events to descriptor 4, each a JSON text ending in a NUL byte: no websocket library and no
chromedriver needed. Debian's ``chromium`` is installed by ``.ci/install-rigs``; without it the
fixture skips outside CI and fails in CI (``rigs.require_executable``).

``Browser.page(url)`` opens a tab and returns a :class:`Page` whose methods send real input
events (``Input.dispatchMouseEvent``, ``Input.insertText``), evaluate JavaScript and take
screenshots.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rigs import require_executable, stop_process


class CDPError(RuntimeError):
    """Chromium answered a command with an error, or did not answer in time."""


def _high_fds(*fds: int) -> tuple[int, ...]:
    """The same pipe ends moved to descriptors >= 10, so dup2 onto 3 and 4 cannot clobber them."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved


class Browser:
    """One headless Chromium process and its CDP pipe."""

    def __init__(self, executable: str, profile_dir: Path, *, size_px: tuple[int, int]) -> None:
        to_browser_r, self._to_browser = _high_fds(*os.pipe())
        self._from_browser, from_browser_w = _high_fds(*os.pipe())
        args = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--remote-debugging-pipe",
            f"--user-data-dir={profile_dir}", f"--window-size={size_px[0]},{size_px[1]}",
            "about:blank",
        ]  # fmt: skip

        def child_fds() -> None:  # descriptors 3 and 4 are the protocol's pipe ends
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        # pass_fds would close 3 and 4 after preexec_fn runs; os.pipe() ends are not inheritable
        # (PEP 446), so with close_fds=False only the two dup2 copies reach Chromium.
        self.proc = subprocess.Popen(
            args,
            preexec_fn=child_fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self, method: str, params: dict | None = None, *, session: str | None = None,
        timeout_s: float = 15.0,
    ) -> dict[str, Any]:  # fmt: skip
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left_s = deadline - time.monotonic()
            if left_s <= 0 or self.proc.poll() is not None:
                raise CDPError(f"no reply from Chromium to {waiting_for} (exit {self.proc.poll()})")
            ready, _, _ = select.select([self._from_browser], [], [], left_s)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise CDPError(f"Chromium closed the pipe while waiting for {waiting_for}")
                self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(text)

    def page(self, url: str) -> Page:
        """A new tab showing ``url``, attached in flat session mode."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.send("Page.navigate", {"url": url})
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout_s=5.0)
        except (CDPError, OSError):
            pass
        stop_process(self.proc)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass


class Page:
    """One tab: evaluate JavaScript, click, type, screenshot."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict | None = None, **kw: Any) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, **kw)

    def eval(self, expression: str) -> Any:
        """Value of a JavaScript expression (promises awaited); a thrown error fails the test."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 15.0) -> Any:
        """Poll until the expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.05)
        raise CDPError(f"timed out after {timeout_s} s waiting for {expression!r}")

    def click_at(self, x_css: float, y_css: float) -> None:
        """A real left click (press and release) at viewport CSS pixels."""
        common = {"x": x_css, "y": y_css, "button": "left", "clickCount": 1}
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x_css, "y": y_css})
        self.send("Input.dispatchMouseEvent", {"type": "mousePressed", **common})
        self.send("Input.dispatchMouseEvent", {"type": "mouseReleased", **common})

    def center_of(self, selector: str) -> tuple[float, float]:
        rect = self.eval(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if rect is None:
            raise CDPError(f"no element matches {selector!r}")
        return rect[0], rect[1]

    def click(self, selector: str) -> None:
        """Scroll the element into view, then click its centre with the mouse."""
        self.eval(
            f"document.querySelector({json.dumps(selector)}).scrollIntoView({{block: 'center'}})"
        )
        self.click_at(*self.center_of(selector))

    def type_into(self, selector: str, text: str) -> None:
        """Click the field, select what is in it, and type ``text`` as keyboard input."""
        self.click(selector)
        self.eval(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(data["data"]))
        return path


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Browser]:
    executable = require_executable("chromium")
    b = Browser(executable, tmp_path / "chromium-profile", size_px=(1280, 1000))
    try:
        b.send("Browser.getVersion", timeout_s=30.0)
        yield b
    finally:
        b.close()
