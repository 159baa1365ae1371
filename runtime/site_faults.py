"""Faults that stop data from moving, as ``/healthz`` reports them: the store, its disk, the uplink.

Each check returns its ``/healthz`` entry and the reasons (one line each) that make the site
"degraded" (HTTP 503): ``store: writes failing for 12 s: <error>``, ``disk: 0.4 MiB free``,
``uplink: nothing delivered for 95 s, 12 messages waiting``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

__all__ = ["disk_free_bytes", "store_faults", "uplink_faults"]


def disk_free_bytes(sqlite_path: Path) -> int | None:
    """Free bytes on the filesystem of the store (None when its folder does not exist yet)."""
    try:
        return int(shutil.disk_usage(Path(sqlite_path).parent).free)
    except OSError:
        return None


def store_faults(
    writes: dict[str, Any] | None,
    sqlite_path: Path,
    disk_min_free_mb: float,
    integrity_problems: list[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``writes`` is ``WriteHealth.snapshot()`` (None before the store is open).

    ``integrity_problems`` (``Store.integrity_problems``: committed data found lost at open, e.g.
    a corrupt WAL) are listed in the entry for good, as a warning: they are past losses, kept in
    the store's sidecar, not a fault that stops data now, so they do not make the site degraded.
    """
    reasons: list[str] = []
    entry: dict[str, Any] = {"writes": "ok"}
    if integrity_problems:
        entry["integrity_problems"] = list(integrity_problems)
    if writes is not None:
        entry["write_failures_total"] = writes["failures_total"]
        if writes["failing"]:
            entry.update(writes="failing", failing_for_s=writes["failing_for_s"],
                         last_error=writes["last_error"])  # fmt: skip
            reasons.append(f"store: writes failing for {writes['failing_for_s']:.0f} s: "
                           f"{writes['last_error']}")  # fmt: skip
    free = disk_free_bytes(sqlite_path)
    entry["disk_free_mib"] = None if free is None else round(free / 2**20, 1)
    if free is not None and free < disk_min_free_mb * 2**20:
        reasons.append(f"disk: {free / 2**20:.1f} MiB free")
    return entry, reasons


def uplink_faults(
    health: Callable[[], dict[str, Any]] | None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """``health`` is ``Forwarder.health`` (None without an uplink)."""
    if health is None:
        return None, []
    try:
        report = health()
    except Exception as exc:  # noqa: BLE001 - the outbox cannot even be counted: that is a fault
        return {"delivering": False}, [f"uplink: cannot read the outbox ({exc})"]
    return report, [f"uplink: {report['reason']}"] if report.get("reason") else []
