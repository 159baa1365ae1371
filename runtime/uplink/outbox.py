"""The uplink's view of the outbox: the queue of messages waiting for an acknowledgement.

The tables and every statement on them belong to the store (``carbonedge.runtime.store.outbox``:
order, ``sent_at``, acks, dead letters, counters); which records become messages is the uplink's
policy (``carbonedge.runtime.uplink.policy``), which the store applies as it stores them. The
forwarder drains the queue through ``Outbox``; ``compact.py`` keeps it within its bound.
"""

from __future__ import annotations

from carbonedge.runtime.store.db import RECOVER_HINT
from carbonedge.runtime.store.outbox import Outbox, OutboxRow, pending_count

__all__ = ["RECOVER_HINT", "Outbox", "OutboxRow", "pending_count"]
