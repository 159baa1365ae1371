"""The base layer: the vocabulary every carbonedge package shares, importing nothing else of it.

``types`` (Frame, columnar Detections, Packet), ``events`` (stable-id events), ``errors`` (the one
error hierarchy), ``plugins`` (the plugin Registry), ``model`` (the strict pydantic base),
``signing`` (canonical JSON, HMAC-SHA256, Ed25519), ``safe_yaml`` (YAML with alias and depth
limits), ``backoff`` (capped exponential backoff), ``handoff`` (the bounded hand-off queue between
threads), ``stage`` (the Stage protocol and its registry) and ``sections`` (the summary-section
registry: schema fragment and compaction rule by name). kernels, devices, vision, calibration
and emissions build on this layer; the service (the rest of ``carbonedge.runtime``) builds on all
of them. ``lint-imports`` enforces it.
"""
