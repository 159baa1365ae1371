"""What goes upstream: the uplink's decision, applied by the store as it stores each record.

The store (``carbonedge.runtime.store``) calls ``outbox_message`` inside the transaction that
stores a summary or a new event, and queues the message it returns in the outbox in that same
transaction: nothing can be stored and not queued, nor queued twice. Every interval summary goes
up; of the events, fire/smoke alarms and calibration changes; line crossings and camera-moved
events stay on the box (their effect is in the summaries: counts, ``calibration_valid``).
A box without an ``uplink:`` section sends nothing, so nothing is queued (the outbox would only
grow): its ``Store`` is made with ``uplink=False`` (``site.py``). A backlog queued under an
earlier config with an uplink is kept (the store warns once at start that it is not sent).

Kept free of imports (the store imports it; the rest of the uplink imports the store).
"""

from __future__ import annotations

from typing import Any

#: Event kinds the uplink sends (as messages of the same kind and body).
UPLINKED_EVENT_KINDS = frozenset({"fire_alarm", "calibration_change"})


def outbox_message(
    body: dict[str, Any], *, uplink: bool = True
) -> tuple[str, dict[str, Any]] | None:
    """(message kind, message body) for a stored record's ``body``; None when it stays here
    (always when the box has no uplink)."""
    if not uplink:
        return None
    kind = body["kind"]
    if kind == "interval_summary" or kind in UPLINKED_EVENT_KINDS:
        return kind, body
    return None
