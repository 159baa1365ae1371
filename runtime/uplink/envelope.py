"""Signed envelopes: build on the box, verify on the platform.

Wire format: one UTF-8 JSON object (schema ``envelope.v1.json``). ``sig`` is
``"hmac-sha256:" + hex(HMAC-SHA256(key, canonical(envelope without sig)))`` where canonical is JSON
with sorted keys, separators ``,`` ``:``, no ASCII escaping. Building is deterministic, so a resent
message is byte-identical to the first copy. Replays are detected by (device, seq): see
``carbonedge.runtime.uplink.verify``.
"""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.signing import (  # noqa: F401 - re-exported
    SIG_PREFIX,
    canonical_json,
    read_key,
    signature,
    signature_ok,
)
from carbonedge.runtime.uplink.errors import MessageTooLargeError
from carbonedge.runtime.uplink.schema import ENVELOPE_VERSION


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
