"""Traffic analytics on tracked detections: speeds, zones, movements, per-interval sections."""
