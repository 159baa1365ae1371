"""Uplink errors, all inside the ``CarbonEdgeError`` hierarchy."""

from __future__ import annotations

from carbonedge.runtime.base.errors import PermanentUplinkError, StoreError, UplinkError


class OutboxCorruptError(StoreError):
    """The outbox database failed its integrity check; nothing was deleted."""


class MessageTooLargeError(PermanentUplinkError):
    """An encoded message is over ``uplink.max_message_bytes``."""


class SchemaViolation(PermanentUplinkError):
    """A message body or envelope does not match its JSON Schema."""


class VerificationError(UplinkError):
    """A received message failed verification (size, schema, signature, unknown device)."""


class ReplayError(VerificationError):
    """A (device, seq) pair arrived again with a different message id."""
