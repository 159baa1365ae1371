"""Canonical JSON and HMAC-SHA256 signatures: the uplink envelope and calibration records both
sign the same bytes (sorted keys, no spaces, UTF-8)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import ConfigError

__all__ = ["SIG_PREFIX", "canonical_json", "read_key", "signature", "signature_ok"]

SIG_PREFIX = "hmac-sha256:"


def canonical_json(obj: Any) -> bytes:
    """The bytes that are signed and sent: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(unsigned: dict[str, Any], key: bytes) -> str:
    return SIG_PREFIX + hmac.new(key, canonical_json(unsigned), hashlib.sha256).hexdigest()


def signature_ok(envelope: dict[str, Any], key: bytes) -> bool:
    """Constant-time check of ``envelope['sig']`` against ``key``."""
    sig = envelope.get("sig")
    if not isinstance(sig, str):
        return False
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    return hmac.compare_digest(sig, signature(unsigned, key))


def read_key(key: str | None, key_file: Path | None, *, what: str = "uplink.signing") -> bytes:
    """The HMAC key: the ``key`` string, or the contents of ``key_file`` without surrounding
    whitespace. At least 16 bytes."""
    if key_file is not None:
        try:
            data = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"{key_file}: cannot read the signing key ({exc.strerror})") from None
        where = str(key_file)
    else:
        data, where = (key or "").encode(), f"{what}.key"
    if len(data) < 16:
        raise ConfigError(f"{where}: the signing key must be at least 16 bytes (got {len(data)})")
    return data
