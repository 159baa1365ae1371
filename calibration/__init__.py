"""carbonedge.calibration."""
