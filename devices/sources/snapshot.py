"""Snapshot URL source: polls a camera's still-image URL (HTTP GET, JPEG/PNG) every interval.

For cameras or gateways that offer only ``/snapshot.jpg``-style endpoints. Credentials in the URL
(``http://user:pw@cam/snap.jpg``) are sent as HTTP Basic authentication and never logged; a
failed request (timeout, refused, HTTP error) reconnects with backoff; a body that is not an image
is counted in ``decode_errors`` and skipped. A camera whose snapshot stops changing is flagged
``frozen`` like any live source.
"""

from __future__ import annotations

import base64
import logging
import time
import urllib.error
import urllib.request
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import cv2
import numpy as np
from pydantic import Field, field_validator

from carbonedge.devices.redact import redact
from carbonedge.devices.sources.base import register_source
from carbonedge.devices.sources.live import Grabbed, LiveSource, LiveSourceConfig
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)

_MAX_BODY_BYTES = 32 * 1024 * 1024


class SnapshotConfig(LiveSourceConfig):
    type: Literal["snapshot"] = "snapshot"
    url: str = Field(repr=False, description="http(s) URL of a still image; may hold credentials")
    interval_s: float = Field(1.0, gt=0, le=86400, description="time between requests")
    timeout_s: float = Field(5.0, gt=0, le=300, description="how long one HTTP request may take")
    stall_after_s: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="no new image this long marks the source stalled (health, watchdog)",
    )

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, url: str) -> str:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return url


@register_source("snapshot", SnapshotConfig)
class SnapshotSource(LiveSource):
    """Frames polled from a snapshot URL (see the module docstring)."""

    config: SnapshotConfig

    def __init__(self, config: SnapshotConfig) -> None:
        super().__init__(config)
        if config.fps is None:
            self.fps = 1.0 / config.interval_s
        self._next_due_s = 0.0

    def describe(self) -> str:
        return f"snapshot URL {redact(self.config.url)}"

    def _connect(self) -> Any:
        """A ready request: the URL without user-info, Basic auth from it."""
        parts = urlsplit(self.config.url)
        headers = {"User-Agent": "carbonedge"}
        if "@" in parts.netloc:
            userinfo, host = parts.netloc.rsplit("@", 1)
            user, _, password = userinfo.partition(":")
            token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
            parts = parts._replace(netloc=host)
        return urllib.request.Request(urlunsplit(parts), headers=headers)

    def _grab(self, handle: Any) -> Grabbed | None:
        while not self._stop.is_set():
            delay_s = self._next_due_s - time.monotonic()
            if delay_s > 0 and self._stop.wait(delay_s):
                return None
            self._next_due_s = max(self._next_due_s + self.config.interval_s, time.monotonic())
            body = self._fetch(handle)
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            if image is not None:
                return Grabbed.now(image)
            self.decode_errors += 1
            self.health.count("decode_errors")
            logger.warning("source %s: %s returned %d bytes that are not an image; skipped",
                           self.source_id, self.describe(), len(body))  # fmt: skip
        return None

    def _fetch(self, request: urllib.request.Request) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                return response.read(_MAX_BODY_BYTES)
        except urllib.error.HTTPError as exc:
            raise DeviceError(f"{self.describe()}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeviceError(f"{self.describe()}: {redact(str(reason))}") from None
