"""carbonedge.devices."""
