"""Signed envelopes: build on the box, verify on the platform.

Wire format: one UTF-8 JSON object (schema ``envelope.v1.json``). ``sig`` is
``"hmac-sha256:" + hex(HMAC-SHA256(key, canonical(envelope without sig)))`` where canonical is JSON
with sorted keys, separators ``,`` ``:``, no ASCII escaping. Building is deterministic, so a resent
message is byte-identical to the first copy. Replays are detected by (device, seq): see
``carbonedge.runtime.uplink.verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from carbonedge.runtime.errors import ConfigError
from carbonedge.runtime.uplink.errors import MessageTooLargeError
from carbonedge.runtime.uplink.schema import ENVELOPE_VERSION

SIG_PREFIX = "hmac-sha256:"


def canonical_json(obj: Any) -> bytes:
    """The bytes that are signed and sent: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(unsigned: dict[str, Any], key: bytes) -> str:
    return SIG_PREFIX + hmac.new(key, canonical_json(unsigned), hashlib.sha256).hexdigest()


def build_envelope(
    *,
    kind: str,
    site_id: str,
    device_id: str,
    msg_id: str,
    seq: int,
    created_at: str,
    body: dict[str, Any],
    key: bytes,
    merged_seqs: list[int] | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """The signed wire bytes of one message; ``MessageTooLargeError`` over ``max_bytes``."""
    unsigned: dict[str, Any] = {
        "envelope_version": ENVELOPE_VERSION,
        "kind": kind,
        "schema_version": body.get("schema_version", 1),
        "site_id": site_id,
        "device_id": device_id,
        "msg_id": msg_id,
        "seq": seq,
        "created_at": created_at,
        "body": body,
    }
    if merged_seqs:
        unsigned["merged_seqs"] = merged_seqs
    payload = canonical_json({**unsigned, "sig": signature(unsigned, key)})
    if max_bytes is not None and len(payload) > max_bytes:
        raise MessageTooLargeError(
            f"{kind} message seq {seq} ({msg_id}) is {len(payload)} bytes, over "
            f"uplink.max_message_bytes={max_bytes}"
        )
    return payload


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
