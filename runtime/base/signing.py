"""Canonical JSON and signatures: the uplink envelope and calibration records both sign the same
bytes (sorted keys, no spaces, UTF-8).

Two algorithms: HMAC-SHA256 with a per-device shared secret (``hmac-sha256:<hex>``, the default)
and Ed25519 with a per-device key pair (``ed25519:<base64url, no padding>``): the box holds the
private key, the receiving side only public keys, each named by its key id (``key_id``).
Key files holding secrets must not be readable by group or others (``check_key_mode``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import ConfigError

__all__ = [
    "ED25519_PREFIX", "SIG_PREFIX", "Ed25519Signer", "canonical_json", "check_key_mode",
    "ed25519_ok", "key_id", "load_ed25519_private", "load_ed25519_public", "read_key",
    "signature", "signature_ok",
]  # fmt: skip

SIG_PREFIX = "hmac-sha256:"
ED25519_PREFIX = "ed25519:"


def canonical_json(obj: Any) -> bytes:
    """The bytes that are signed and sent: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(unsigned: dict[str, Any], key: bytes) -> str:
    return SIG_PREFIX + hmac.new(key, canonical_json(unsigned), hashlib.sha256).hexdigest()


def signature_ok(envelope: dict[str, Any], key: bytes) -> bool:
    """Constant-time check of ``envelope['sig']`` (HMAC) against ``key``."""
    sig = envelope.get("sig")
    if not isinstance(sig, str) or not sig.startswith(SIG_PREFIX):
        return False
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    return hmac.compare_digest(sig, signature(unsigned, key))


def check_key_mode(path: Path, *, what: str = "key file") -> None:
    """``ConfigError`` when ``path`` is readable or writable by group or others."""
    mode = Path(path).stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the {what} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


def read_key(key: str | None, key_file: Path | None, *, what: str = "uplink.signing") -> bytes:
    """The HMAC key: the ``key`` string, or the contents of ``key_file`` without surrounding
    whitespace (a file readable by group or others is refused). At least 16 bytes."""
    if key_file is not None:
        try:
            check_key_mode(key_file, what=f"{what} key")
            data = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"{key_file}: cannot read the signing key ({exc.strerror})") from None
        where = str(key_file)
    else:
        data, where = (key or "").encode(), f"{what}.key"
    if len(data) < 16:
        raise ConfigError(f"{where}: the signing key must be at least 16 bytes (got {len(data)})")
    return data


# --- Ed25519 ---------------------------------------------------------------------------------


def key_id(public_raw: bytes) -> str:
    """The key id of an Ed25519 public key: the first 16 hex digits of SHA-256 of its 32 bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Ed25519Signer:
    """A box's private key and its key id; ``sign`` gives the ``sig`` of an unsigned envelope
    (which must already carry ``kid``)."""

    private_key: Any  # cryptography's Ed25519PrivateKey
    kid: str

    def sign(self, unsigned: dict[str, Any]) -> str:
        return ED25519_PREFIX + _b64(self.private_key.sign(canonical_json(unsigned)))

    @classmethod
    def generate(cls) -> Ed25519Signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        private = Ed25519PrivateKey.generate()
        return cls(private, key_id(_public_raw(private.public_key())))


def _public_raw(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_ok(envelope: dict[str, Any], public_key: Any) -> bool:
    """Check ``envelope['sig']`` (Ed25519) against a public key (cryptography's object)."""
    from cryptography.exceptions import InvalidSignature

    sig = envelope.get("sig")
    if not isinstance(sig, str) or not sig.startswith(ED25519_PREFIX):
        return False
    text = sig[len(ED25519_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return False
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    try:
        public_key.verify(raw, canonical_json(unsigned))
    except InvalidSignature:
        return False
    return True


def load_ed25519_private(path: Path) -> Ed25519Signer:
    """The box's signer from a PEM (PKCS#8) private key file of mode 0600."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        check_key_mode(path, what="signing key")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the signing key ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return Ed25519Signer(key, key_id(_public_raw(key.public_key())))


def load_ed25519_public(path: Path) -> Any:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the public key ({exc.strerror})") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key")
    return key


def public_key_pem(signer: Ed25519Signer) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_pem(signer: Ed25519Signer) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
