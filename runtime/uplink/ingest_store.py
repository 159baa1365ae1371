"""The store behind ``carbonedge ingest``: one small interface, two engines.

``Ingestor`` (``ingest.py``) owns the one verification path (size, schema, signature, topic,
freshness); a store owns what needs the database: the device -> site pin, the (device, seq)
ledger with de-duplication by ``msg_id``, the rows, rejects, status hints and counters. Engines:
``SqliteStore`` (``sqlite_store.py``, the single-machine default) and ``PostgresStore``
(``pg_store.py``, the platform store shared by N ingest workers).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from carbonedge.runtime.uplink.errors import UplinkError
from carbonedge.runtime.uplink.verify import Rejected

Verdict = Literal["new", "duplicate", "replay"]


class StoreUnavailable(UplinkError):
    """The database cannot be reached right now (restarting, network): retry the same message
    later and do not acknowledge it to the broker."""


class IngestStore(Protocol):
    def accept(self, topic: str, envelope: dict[str, Any], *, site_file: str | None,
               received_s: float) -> Verdict:  # fmt: skip
        """In one transaction: check/pin the device's site (``Rejected`` on another site), check
        the ledger, store a new message, count the verdict."""

    def reject(self, *, received_s: float, topic: str, reason: str, payload_head: str,
               device_id: str | None, raw_bytes: int) -> None:  # fmt: skip
        """Keep a rejected payload's record and count it."""

    def status_hint(self, device_id: str, status: str, received_s: float) -> None: ...

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Accepted envelopes in arrival order."""

    def close(self) -> None: ...


def check_site(device: str, site: str, expected: str | None, how: str) -> None:
    """``Rejected`` when ``device`` belongs to ``expected`` (found by ``how``) and says ``site``."""
    if expected is not None and expected != site:
        raise Rejected(
            f"device {device!r} belongs to site {expected!r} ({how}), message says {site!r}",
            device,
        )


SITE_FILE = "its keys-folder .site file"
SITE_PIN = "pinned at its first message"
