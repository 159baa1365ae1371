"""Signed envelopes: build on the box, verify on the platform.

Wire format: one UTF-8 JSON object (schema ``envelope.v1.json``). ``sig`` is
``"hmac-sha256:" + hex(HMAC-SHA256(key, canonical(envelope without sig)))`` where canonical is JSON
with sorted keys, separators ``,`` ``:``, no ASCII escaping; with an Ed25519 signer it is
``"ed25519:" + base64url(Ed25519(canonical(envelope without sig)))`` and the envelope carries the
signer's key id in ``kid``. Building is deterministic, so a resent
message is byte-identical to the first copy. Replays are detected by (device, seq): see
``carbonedge.runtime.uplink.verify``.
"""

from __future__ import annotations

from typing import Any, Union

from carbonedge.runtime.base.signing import (  # noqa: F401 - re-exported
    SIG_PREFIX,
    Ed25519Signer,
    canonical_json,
    load_ed25519_private,
    read_key,
    signature,
    signature_ok,
)
from carbonedge.runtime.uplink.errors import MessageTooLargeError
from carbonedge.runtime.uplink.schema import ENVELOPE_VERSION

SigningKey = Union[bytes, Ed25519Signer]


def signer_from_config(signing: Any) -> SigningKey:
    """The box's signing key of an ``uplink.signing`` section: the HMAC secret (bytes) or the
    Ed25519 private key of ``key_file`` (mode 0600)."""
    if getattr(signing, "algorithm", "hmac-sha256") == "ed25519":
        return load_ed25519_private(signing.key_file)
    return read_key(signing.key, signing.key_file)


def build_envelope(
    *,
    kind: str,
    site_id: str,
    device_id: str,
    msg_id: str,
    seq: int,
    created_at: str,
    body: dict[str, Any],
    key: SigningKey,
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
    if isinstance(key, Ed25519Signer):
        unsigned["kid"] = key.kid
        sig = key.sign(unsigned)
    else:
        sig = signature(unsigned, key)
    payload = canonical_json({**unsigned, "sig": sig})
    if max_bytes is not None and len(payload) > max_bytes:
        raise MessageTooLargeError(
            f"{kind} message seq {seq} ({msg_id}) is {len(payload)} bytes, over "
            f"uplink.max_message_bytes={max_bytes}"
        )
    return payload
