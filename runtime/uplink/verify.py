"""Receiving side: verify a message (size, schema, signature) and detect replays by (device, seq).

``verify_message`` is what a platform needs to trust a payload; ``SeenLedger`` remembers, in
SQLite, which (device, seq) pairs and message ids were accepted, so a re-delivery (same msg_id) is
a duplicate and a different message reusing a (device, seq) is a replay or a reset counter.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.uplink.envelope import signature_ok
from carbonedge.runtime.uplink.errors import SchemaViolation, VerificationError
from carbonedge.runtime.uplink.schema import validate_envelope

KeyLookup = Callable[[str], "bytes | None"]
DEFAULT_MAX_BYTES = 16384


def keys_from_dir(folder: Path) -> dict[str, bytes]:
    """Per-device keys from ``<folder>/<device_id>.key`` files (contents stripped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: keys folder not found (expected <device_id>.key files)")
    keys = {p.stem: p.read_bytes().strip() for p in sorted(folder.glob("*.key"))}
    if not keys:
        raise ConfigError(f"{folder}: no <device_id>.key files")
    return keys


def verify_message(
    payload: bytes,
    keys: Mapping[str, bytes] | KeyLookup,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """The envelope of ``payload`` if it is well-formed, valid and signed by its device's key.

    Raises ``VerificationError`` with the reason otherwise. Checks, in order: size, JSON, schema
    (envelope and body), known device, HMAC signature.
    """
    if len(payload) > max_bytes:
        raise VerificationError(f"message is {len(payload)} bytes, over the {max_bytes} limit")
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationError(f"not a JSON message ({exc})") from None
    try:
        validate_envelope(envelope)
    except SchemaViolation as exc:
        raise VerificationError(str(exc)) from None
    device = envelope["device_id"]
    key = keys(device) if callable(keys) else keys.get(device)
    if key is None:
        raise VerificationError(f"device {device!r}: no key known for this device")
    if not signature_ok(envelope, key):
        raise VerificationError(
            f"device {device!r} seq {envelope['seq']}: bad signature (wrong key or altered)"
        )
    return envelope


Verdict = Literal["new", "duplicate", "replay"]


class SeenLedger:
    """Accepted (device, seq) -> msg_id, in SQLite (``:memory:`` by default)."""

    def __init__(self, db: sqlite3.Connection | None = None) -> None:
        self.db = db or sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS seen (device_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "msg_id TEXT NOT NULL, PRIMARY KEY (device_id, seq))"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS seen_msg ON seen (msg_id)")

    def check(self, envelope: dict[str, Any]) -> Verdict:
        """``new`` (and recorded), ``duplicate`` (same msg_id seen) or ``replay`` (a seq of this
        device, or one it merged, was already accepted under another msg_id)."""
        device, msg_id = envelope["device_id"], envelope["msg_id"]
        if self.db.execute("SELECT 1 FROM seen WHERE msg_id = ?", (msg_id,)).fetchone():
            return "duplicate"
        seqs = [envelope["seq"], *envelope.get("merged_seqs", [])]
        marks = ",".join("?" * len(seqs))
        taken = self.db.execute(
            f"SELECT 1 FROM seen WHERE device_id = ? AND seq IN ({marks})", (device, *seqs)
        ).fetchone()
        if taken:
            return "replay"
        self.db.executemany(
            "INSERT INTO seen VALUES (?, ?, ?)", [(device, s, msg_id) for s in seqs]
        )
        return "new"
