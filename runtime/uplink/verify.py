"""Receiving side: verify a message (size, schema, signature) and detect replays by (device, seq).

``verify_message`` is what a platform needs to trust a payload; it never raises anything but
``VerificationError`` (a ``Rejected`` with a one-line reason and, when the payload names one, the
claimed device), whatever the bytes: deep nesting, huge numbers, non-UTF-8 and oversize payloads
are rejected before they reach the JSON parser's or SQLite's limits. ``SeenLedger`` remembers, in
SQLite, which (device, seq) pairs and message ids were accepted, so a re-delivery (same msg_id) is
a duplicate and a different message reusing a (device, seq) is a replay or a reset counter.

Keys (``keys_from_dir``): ``<device_id>.key`` is a device's HMAC secret (mode 0600),
``<device_id>/<kid>.pub`` one of its Ed25519 public keys (PEM) with an optional
``<device_id>/<kid>.not_after`` (ISO 8601 UTC: messages created after it are refused, the key is
retired), and ``<device_id>.site`` the site the device belongs to (ingest refuses another).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.signing import (
    ED25519_PREFIX,
    check_key_mode,
    ed25519_ok,
    load_ed25519_public,
    signature_ok,
)
from carbonedge.runtime.uplink.errors import SchemaViolation, VerificationError
from carbonedge.runtime.uplink.schema import validate_envelope

KeyLookup = Callable[[str], "bytes | None"]
DEFAULT_MAX_BYTES = 16384
MAX_DEPTH = 32  # envelope -> body -> section -> ...: real messages are under 8 deep
MAX_INT_DIGITS = 20  # 2**64 has 20 digits
SEQ_MAX = 2**63 - 1  # SQLite INTEGER is a signed 64-bit number


class Rejected(VerificationError):
    """A payload that failed verification; ``device_id`` is the device it claims, if any."""

    def __init__(self, reason: str, device_id: str | None = None) -> None:
        super().__init__(reason)
        self.device_id = device_id


@dataclass(frozen=True)
class PublicKey:
    """One Ed25519 public key of a device; ``not_after``: retired for messages created later."""

    key: Any
    kid: str
    not_after: datetime | None = None


class KeyRing(dict):  # type: ignore[type-arg]
    """Device id -> HMAC secret (the mapping itself, so ``{device: key}`` dicts still work), plus
    ``public``: device id -> kid -> ``PublicKey`` and ``sites``: device id -> site id."""

    def __init__(
        self,
        hmac_keys: Mapping[str, bytes] | None = None,
        public: Mapping[str, Mapping[str, PublicKey]] | None = None,
        sites: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(hmac_keys or {})
        self.public: dict[str, dict[str, PublicKey]] = {
            d: dict(k) for d, k in (public or {}).items()
        }
        self.sites: dict[str, str] = dict(sites or {})

    def devices(self) -> set[str]:
        return set(self) | set(self.public)


def parse_utc(text: str, *, what: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; ``ValueError`` naming ``what`` otherwise."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: not an ISO 8601 time: {text.strip()[:40]!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def keys_from_dir(folder: Path) -> KeyRing:
    """The keys of a keys folder (module docstring). Secret files readable by group or others
    are refused (``chmod 600``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: keys folder not found (expected <device_id>.key or <device_id>/<kid>.pub)"
        )
    hmac_keys: dict[str, bytes] = {}
    for p in sorted(folder.glob("*.key")):
        check_key_mode(p, what="device key")
        hmac_keys[p.stem] = p.read_bytes().strip()
    public: dict[str, dict[str, PublicKey]] = {}
    for p in sorted(folder.glob("*/*.pub")):
        end_file = p.with_suffix(".not_after")
        not_after = None
        if end_file.exists():
            try:
                not_after = parse_utc(end_file.read_text(encoding="utf-8"), what=str(end_file))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        public.setdefault(p.parent.name, {})[p.stem] = PublicKey(
            load_ed25519_public(p), p.stem, not_after
        )
    sites = {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(folder.glob("*.site"))}
    if not hmac_keys and not public:
        raise ConfigError(f"{folder}: no <device_id>.key or <device_id>/<kid>.pub files")
    return KeyRing(hmac_keys, public, sites)


class _IntTooLong(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1:
        raise _IntTooLong(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _depth_over(obj: Any, limit: int) -> bool:
    """Whether ``obj`` nests deeper than ``limit`` (iterative: no recursion)."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def _claimed_device(envelope: Any) -> str | None:
    device = envelope.get("device_id") if isinstance(envelope, dict) else None
    return device[:64] if isinstance(device, str) else None


def _parse(payload: bytes, max_bytes: int) -> Any:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise Rejected(f"payload is {type(payload).__name__}, not bytes")
    payload = bytes(payload)
    if len(payload) > max_bytes:
        raise Rejected(f"message is {len(payload)} bytes, over the {max_bytes} limit")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not UTF-8 (invalid byte at offset {exc.start})") from None
    try:
        obj = json.loads(text, parse_int=_parse_int)
    except _IntTooLong as exc:
        raise Rejected(f"not a valid message: {exc} (at most {MAX_INT_DIGITS})") from None
    except RecursionError:
        raise Rejected(f"not a valid message: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError and number conversion errors
        raise Rejected(f"not a JSON message ({str(exc).splitlines()[0][:160]})") from None
    if _depth_over(obj, MAX_DEPTH):
        raise Rejected(
            f"not a valid message: nested deeper than {MAX_DEPTH} levels", _claimed_device(obj)
        )
    try:  # "\ud800" escapes decode to lone surrogates, which no canonical (UTF-8) form has
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected("not a valid message: a string holds a lone surrogate (\\ud800)") from None
    except ValueError as exc:  # e.g. an integer too long to print
        raise Rejected(f"not a valid message ({str(exc)[:160]})") from None
    return obj


def _check_seqs(envelope: dict[str, Any], device: str | None) -> None:
    seqs = [envelope.get("seq")]
    merged = envelope.get("merged_seqs")
    if isinstance(merged, list):
        seqs += merged
    for s in seqs:
        if isinstance(s, int) and not isinstance(s, bool) and not 1 <= s <= SEQ_MAX:
            raise Rejected(f"seq {s} is outside 1..2**63-1 (a 64-bit sequence number)", device)


def verify_message(
    payload: bytes,
    keys: Mapping[str, bytes] | KeyLookup,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """The envelope of ``payload`` if it is well-formed, valid and signed by its device's key.

    Raises ``Rejected`` (a ``VerificationError``) with a one-line reason otherwise. Checks, in
    order: size, UTF-8, JSON (integers of at most 20 digits, at most 32 levels deep), sequence
    range, schema (envelope and body), known device and key, signature (HMAC for ``hmac-sha256:``,
    the device's public key ``kid`` for ``ed25519:``, refused after the key's ``not_after``).
    """
    envelope = _parse(payload, max_bytes)
    device = _claimed_device(envelope)
    try:
        if isinstance(envelope, dict):
            _check_seqs(envelope, device)
        validate_envelope(envelope)
    except SchemaViolation as exc:
        raise Rejected(str(exc), device) from None
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Rejected(f"not a valid message ({type(exc).__name__})", device) from None
    if envelope["sig"].startswith(ED25519_PREFIX):
        _check_ed25519(envelope, keys)
        return envelope
    key = keys(device) if callable(keys) else keys.get(device)
    if key is None:
        raise Rejected(f"device {device!r}: no key known for this device", device)
    if not signature_ok(envelope, key):
        raise Rejected(
            f"device {device!r} seq {envelope['seq']}: bad signature (wrong key or altered)", device
        )
    return envelope


def _check_ed25519(envelope: dict[str, Any], keys: Any) -> None:
    device, kid = envelope["device_id"], envelope["kid"]
    public = getattr(keys, "public", {}).get(device, {})
    entry = public.get(kid)
    if entry is None:
        raise Rejected(f"device {device!r}: no public key with kid {kid!r}", device)
    if entry.not_after is not None:
        try:
            created = parse_utc(envelope["created_at"], what="created_at")
        except ValueError as exc:
            raise Rejected(str(exc), device) from None
        if created > entry.not_after:
            raise Rejected(
                f"device {device!r} seq {envelope['seq']}: key {kid} was retired at "
                f"{entry.not_after.isoformat()}, message created {envelope['created_at']}", device
            )  # fmt: skip
    if not ed25519_ok(envelope, entry.key):
        raise Rejected(
            f"device {device!r} seq {envelope['seq']}: bad signature (key {kid}; altered?)", device
        )


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
