"""carbonedge.devices.sources."""
