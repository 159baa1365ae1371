"""Remove credentials from URLs and pipeline strings before they reach a log or an error message.

Camera URLs carry passwords (``rtsp://admin:pw@cam/...``, ``?token=...``) and GStreamer pipelines
carry them as properties (``user-pw=...``). Every message a device writes about its location goes
through ``redact`` first; the tests check that a password never appears in logs or errors.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s?#]*@")
_SECRET_PARAM = re.compile(
    r"(?i)\b(password|passwd|pass|pwd|user-pw|user_pw|token|access_token|api_key|apikey|key|"
    r"auth|secret|signature|sig)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^&\s!;,]+)"
)


def redact(text: str) -> str:
    """``text`` with URL user-info and secret-looking parameters replaced by ``***``.

    >>> redact("rtsp://admin:hunter2@10.0.0.5:554/live?token=abc&ch=1")
    'rtsp://***@10.0.0.5:554/live?token=***&ch=1'
    """
    text = _USERINFO.sub(r"\1***@", text)
    return _SECRET_PARAM.sub(r"\1\2***", text)
