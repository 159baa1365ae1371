"""HTTP(S) sink: one POST per message, in order, with retries (stdlib ``urllib``).

2xx acknowledges. 408, 425, 429, 5xx and network errors are retryable: the message stays in the
outbox and is posted again after a capped exponential backoff with jitter (a ``Retry-After`` in
seconds is honoured up to ``retry_max_s``). Any other status (other 4xx, 3xx: redirects are not
followed) is permanent: the forwarder moves the message to the dead-letter table and logs it.
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from carbonedge.runtime.base.backoff import Backoff
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.uplink.config import HttpSinkConfig
from carbonedge.runtime.uplink.sink import Outcome, Outgoing, Sink

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429})


def classify(status: int) -> str:
    """``acked`` | ``retry`` | ``permanent`` for an HTTP status code."""
    if 200 <= status < 300:
        return "acked"
    if status in RETRYABLE_STATUS or 500 <= status < 600:
        return "retry"
    return "permanent"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 - urllib's signature
        return None


class HttpSink(Sink):
    """Posts synchronously from the forwarder thread; one message in flight at a time."""

    def __init__(self, config: HttpSinkConfig, *, site_id: str, device_id: str) -> None:
        self.config, self.site_id, self.device_id = config, site_id, device_id
        self._done: list[Outcome] = []
        self._retry_at = 0.0
        self._backoff = Backoff(config.retry_min_s, config.retry_max_s, jitter="full")
        self._failing = False
        self.reconnects = 0
        token = config.token
        if config.token_file is not None:
            try:
                token = Path(config.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{config.token_file}: cannot read the token ({exc})") from None
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if config.url.startswith("https://"):
            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def start(self) -> None:
        pass

    def free_slots(self) -> int:
        return 1 if time.monotonic() >= self._retry_at else 0

    def in_flight(self) -> int:
        return 0

    def _post(self, message: Outgoing) -> tuple[int | None, str, float | None]:
        request = urllib.request.Request(
            self.config.url, data=message.payload, method="POST",
            headers={**self._headers, "X-CarbonEdge-Msg-Id": message.msg_id,
                     "X-CarbonEdge-Kind": message.topic_kind},
        )  # fmt: skip
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as response:
                return response.status, "", None
        except urllib.error.HTTPError as exc:
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            body = exc.read(200).decode("utf-8", "replace") if exc.fp else ""
            after = float(retry_after) if retry_after and retry_after.isdigit() else None
            return exc.code, body.strip(), after
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            return None, str(reason), None

    def submit(self, message: Outgoing) -> None:
        status, detail, retry_after_s = self._post(message)
        verdict = "retry" if status is None else classify(status)
        what = f"HTTP {status}" if status is not None else "network error"
        if verdict == "acked":
            self._backoff.reset()
            if self._failing:
                logger.warning("%s reachable again", self.config.url)
                self._failing = False
        elif verdict == "retry":
            delay_s = self._backoff.next_delay_s()
            if retry_after_s is not None:
                delay_s = min(self.config.retry_max_s, max(delay_s, retry_after_s))
            self._retry_at = time.monotonic() + delay_s
            if not self._failing:
                logger.warning("%s: %s %s; retrying (message kept)", self.config.url, what, detail)
                self._failing = True
        self._done.append(Outcome(message.row_id, verdict, f"{what} {detail}".strip()))

    def outcomes(self, timeout_s: float) -> list[Outcome]:
        if not self._done:
            time.sleep(min(timeout_s, max(0.0, self._retry_at - time.monotonic())))
        done, self._done = self._done, []
        return done

    def stop(self) -> None:
        pass
