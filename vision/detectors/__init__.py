"""carbonedge.vision.detectors."""
