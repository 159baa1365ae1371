"""What /healthz says of the store: current faults degrade the site, past losses are listed."""

from __future__ import annotations

from pathlib import Path

from carbonedge.runtime.site_faults import store_faults


def test_a_loss_found_at_open_is_listed_but_does_not_degrade(tmp_path: Path) -> None:
    lost = "store.sqlite: summary seq 4..6 of box-17 lost (corrupt WAL); numbering continues at 7"
    entry, reasons = store_faults({"failures_total": 0, "failing": False},
                                  tmp_path / "store.sqlite", 0.0, [lost])  # fmt: skip
    assert entry["integrity_problems"] == [lost]
    assert reasons == []


def test_failing_writes_degrade_with_a_reason(tmp_path: Path) -> None:
    writes = {"failures_total": 3, "failing": True, "failing_for_s": 12.0,
              "last_error": "database or disk is full"}  # fmt: skip
    entry, reasons = store_faults(writes, tmp_path / "store.sqlite", 0.0)
    assert entry["writes"] == "failing" and "integrity_problems" not in entry
    assert reasons == ["store: writes failing for 12 s: database or disk is full"]
