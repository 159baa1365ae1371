"""carbonedge.vision.tracking."""
