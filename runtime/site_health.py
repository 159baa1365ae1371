"""``/healthz`` of a running site: each camera's and sensor's state, and the faults that stop
data from moving (the store, its disk, the uplink; ``site_faults``), each with a one-line reason.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from carbonedge.runtime.site_faults import store_faults, uplink_faults
from carbonedge.runtime.store.write_health import write_health

if TYPE_CHECKING:
    from carbonedge.runtime.site import Site

__all__ = ["site_health"]


def site_health(site: Site) -> dict[str, Any]:
    """``{"status": "ok"|"degraded", "sources": {id: {...}}, ...}`` for ``/healthz``."""
    now = time.monotonic()
    sources: dict[str, Any] = {}
    ok = True
    for r in site.runners().values():
        p = r.pipeline
        res = p.result if p is not None else None
        state = "starting"
        if p is not None:
            src_state = getattr(p.source, "state", None)
            state = str(getattr(src_state, "value", src_state) or "running")
        if r.thread is not None and not r.thread.is_alive():
            state = "failed" if r.results and r.results[-1].error else "ended"
        last = res.last_frame_s if res is not None else None
        entry = {
            "state": state,
            "live": r.live,
            "frames": res.frames if res else 0,
            "last_frame_age_s": None if last is None else round(now - last, 1),
            "restarts": r.restarts,
            "detector_calls": res.detector_calls if res else 0,
            "gated_frames": res.gated_frames if res else 0,
            "frame_errors": res.frame_errors if res else 0,
        }
        if res is not None and res.ended_early:  # a file cut short: counted up to its end
            entry["ended_early"] = {"frame": res.ended_early[0], "expected": res.ended_early[1]}
        if state in ("frozen", "stalled", "failed", "connecting") and r.live:
            ok = False
        if state == "failed":
            ok = False
        check = site.camera_checks.get(r.source_id)
        if check is not None:  # the view left its calibration snapshot: counts untrusted
            entry["camera_moved"] = check.snapshot()
            if not check.calibration_valid:
                ok = False
                if state in ("running", "streaming"):
                    entry["state"] = "calibration_invalid"
        light = p.stage("light_profile") if p is not None else None
        if light is not None:  # the camera's light profile, its last sample and statistics
            entry["light_profile"] = light.snapshot()  # type: ignore[attr-defined]
        crop = p.stage("roi") if p is not None else None
        if crop is not None:  # the detector's crop: learning, learned (with a hint), configured
            entry["roi"] = crop.snapshot()  # type: ignore[attr-defined]
        zoom = p.stage("zoom") if p is not None else None
        if zoom is not None:  # which lines the detector looks at again, zoomed in, and why
            entry["zoom"] = zoom.snapshot()  # type: ignore[attr-defined]
        sizes = p.stage("size_classes") if p is not None else None
        if sizes is not None:  # the scene's car scale: car heights at the lines, small-car hint
            entry["vehicle_scale"] = sizes.snapshot()  # type: ignore[attr-defined]
        sources[r.source_id] = entry
    sensors = {}
    for stage in site.sensors:
        snap = stage.sensor.health.snapshot()
        sensors[stage.config.id] = {
            "state": snap["state"],
            "last_seen_age_s": snap["last_seen_age_s"],
            "counters": snap["counters"],
        }
        ok = ok and snap["state"] not in ("stalled", "failed")
    report = {
        "status": "ok" if ok else "degraded",
        "uptime_s": round(now - site.started_s, 1),
        "sources": sources,
        "sensors": sensors,
    }
    return _with_faults(site, report)


def _with_faults(site: Site, report: dict[str, Any]) -> dict[str, Any]:
    """The store, its disk and the uplink: each fault degrades with a one-line reason."""
    health_config = getattr(site.config, "health", None)
    min_free_mb = health_config.disk_min_free_mb if health_config is not None else 0.0
    store = site.store
    writes = write_health(store).snapshot() if store is not None else None
    problems = store.integrity_problems if store is not None else None
    report["store"], reasons = store_faults(writes, site.config.output.sqlite_path,
                                            min_free_mb, problems)  # fmt: skip
    uplink, uplink_reasons = uplink_faults(site.uplink_health)
    if uplink is not None:
        report["uplink"] = uplink
    reasons += uplink_reasons
    report["reasons"] = reasons
    if reasons:
        report["status"] = "degraded"
    return report
