"""Uplink: versioned message schema, signed envelopes, SQLite outbox, MQTT/HTTP sinks, forwarder.

Kept light on purpose: ``runtime/config.py`` and ``runtime/store.py`` import from here, so nothing
in this package imports paho-mqtt or jsonschema at module level except the sink and schema modules.
See ``SCHEMA.md`` for the wire contract.
"""
