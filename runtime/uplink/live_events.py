"""Crossings published live, one small MQTT message each (Frigate's ``frigate/events``).

Off by default; ``uplink: {live_events: true}`` with an MQTT sink turns it on. Each final line
crossing goes out at once on ``<topic_prefix>/<site_id>/<device_id>/events/crossing`` with QoS 0
through the forwarder's own MQTT connection: fire and forget, unsigned, not stored, not part of
the signed exactly-once interval summaries (which still count every crossing). While the link is
down, crossings are not queued: they are counted as ``dropped`` (logged once when it happens,
and with ``sent`` at the end of ``carbonedge run``). Payload (``SCHEMA.md``, "Live events")::

    {"kind": "crossing", "v": 1, "id": "...", "site_id": "main-st", "device_id": "box-17",
     "source_id": "cam-1", "line_id": "north", "direction": "in", "class_name": "car",
     "track_id": 12, "frame_index": 3456, "t_wall": "2026-01-01T08:00:01.250Z", "speed_kmh": 41.2}
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import LineCrossed, utc_iso

logger = logging.getLogger(__name__)

__all__ = ["LiveEventPublisher", "crossing_message", "start_live_events"]

TOPIC_KIND = "events/crossing"


def crossing_message(event: LineCrossed, site_id: str) -> dict[str, Any]:
    """The JSON body of one crossing (schema: ``SCHEMA.md``, "Live events")."""
    return {
        "kind": "crossing", "v": 1, "id": event.id, "site_id": site_id,
        "device_id": event.device_id, "source_id": event.source_id, "line_id": event.line_id,
        "direction": event.direction, "class_name": event.class_name,
        "track_id": event.tracker_id, "frame_index": event.frame_index,
        "t_wall": utc_iso(event.t_wall_s),
        "speed_kmh": None if event.speed_kmh is None else round(event.speed_kmh, 1),
    }  # fmt: skip


class LiveEventPublisher:
    """Publishes crossings with QoS 0 on a paho client (thread-safe; never blocks)."""

    def __init__(self, client: Any, topic: str, site_id: str) -> None:
        self.client, self.topic, self.site_id = client, topic, site_id
        self.sent = 0  # handed to the connection
        self.dropped = 0  # not sent: the link was down
        self._lock = threading.Lock()
        self._down_logged = False

    def publish(self, events: list[Any]) -> None:
        """``SourcePipeline(on_events=...)``: every batch of final crossings (pipeline threads)."""
        for event in events:
            if not isinstance(event, LineCrossed):
                continue
            body = json.dumps(crossing_message(event, self.site_id), separators=(",", ":"))
            info = self.client.publish(self.topic, body.encode(), qos=0, retain=False)
            with self._lock:
                if info.rc == 0:
                    self.sent += 1
                    self._down_logged = False
                    continue
                self.dropped += 1
                if self._down_logged:
                    continue
                self._down_logged = True
            logger.warning("live events: MQTT link down, crossings are not published live until "
                           "it is back (the summaries still count them)")  # fmt: skip


def start_live_events(site_config: Any, forwarder: Any) -> LiveEventPublisher | None:
    """The publisher when ``uplink.live_events`` is on (None otherwise).

    Raises:
        ConfigError: ``live_events`` with an HTTP sink (MQTT only).
    """
    uplink = getattr(site_config, "uplink", None)
    if uplink is None or not getattr(uplink, "live_events", False):
        return None
    client = getattr(getattr(forwarder, "sink", None), "client", None)
    if uplink.sink.type != "mqtt" or client is None:
        raise ConfigError(f"uplink.live_events: needs an mqtt sink (this one is "
                          f"{uplink.sink.type}); set it to false")  # fmt: skip
    from carbonedge.runtime.uplink.mqtt_sink import topic

    name = topic(uplink.sink.topic_prefix, uplink.site_id, site_config.device_id, TOPIC_KIND)
    logger.info("live events: crossings published on %s (QoS 0)", name)
    return LiveEventPublisher(client, name, uplink.site_id)
