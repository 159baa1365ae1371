"""carbonedge.vision.counting."""
