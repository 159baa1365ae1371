"""carbonedge.vision."""
