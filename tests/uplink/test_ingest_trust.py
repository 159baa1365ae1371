"""What ingest trusts (issue 28, item 9): key files only at mode 0600, a device bound to one
site, a freshness window on ``created_at``, and unsigned ``/status`` only as a hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from uplink_rigs import DEVICE, KEY, SITE, summary

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.base.signing import read_key
from carbonedge.runtime.uplink.envelope import build_envelope
from carbonedge.runtime.uplink.ingest import Ingestor
from carbonedge.runtime.uplink.verify import KeyRing, keys_from_dir

NOW_S = 1_767_254_461.0
TOPIC = f"carbonedge/{SITE}/{DEVICE}/interval_summary"


def message(seq: int = 1, *, site: str = SITE, created_s: float = NOW_S - 60) -> bytes:
    body = summary(seq).to_dict() | {"seq": seq}
    return build_envelope(kind="interval_summary", site_id=site, device_id=DEVICE,
                          msg_id=body["id"], seq=seq, created_at=utc_iso(created_s), body=body,
                          key=KEY)  # fmt: skip


def last_reason(ingestor: Ingestor) -> str:
    return ingestor.db.execute("SELECT reason FROM rejects ORDER BY id DESC").fetchone()[0]


@pytest.mark.parametrize("what", ["uplink.signing", "calibration"])
def test_key_files_readable_by_others_are_refused(tmp_path: Path, what: str) -> None:
    key_file = tmp_path / "box.key"
    key_file.write_bytes(KEY)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        read_key(None, key_file, what=what)
    assert str(info.value) == (f"{key_file}: the {what} key is readable by other users (mode "
                               f"0644); run: chmod 600 {key_file}")  # fmt: skip
    key_file.chmod(0o600)
    assert read_key(None, key_file, what=what) == KEY


def test_keys_folder_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    (tmp_path / f"{DEVICE}.key").write_bytes(KEY)
    (tmp_path / f"{DEVICE}.key").chmod(0o640)
    with pytest.raises(ConfigError, match=r"box-17.key: .*mode 0640\); run: chmod 600"):
        keys_from_dir(tmp_path)
    (tmp_path / f"{DEVICE}.key").chmod(0o600)
    (tmp_path / f"{DEVICE}.site").write_text(SITE + "\n")
    ring = keys_from_dir(tmp_path)
    assert ring[DEVICE] == KEY and ring.sites == {DEVICE: SITE}


def test_first_site_is_pinned_and_another_site_refused(tmp_path: Path) -> None:
    ingestor = Ingestor({DEVICE: KEY}, sqlite_path=tmp_path / "p.sqlite", clock=lambda: NOW_S)
    assert ingestor.handle(TOPIC, message(1)) == "new"
    other = f"carbonedge/elsewhere/{DEVICE}/interval_summary"
    assert ingestor.handle(other, message(2, site="elsewhere")) == "rejected"
    assert last_reason(ingestor) == (f"device '{DEVICE}' belongs to site '{SITE}' (pinned at its "
                                     f"first message), message says 'elsewhere'")  # fmt: skip
    ingestor.close()
    again = Ingestor({DEVICE: KEY}, sqlite_path=tmp_path / "p.sqlite", clock=lambda: NOW_S)
    assert again.handle(other, message(3, site="elsewhere")) == "rejected"  # survives a restart
    assert again.handle(TOPIC, message(3)) == "new"
    again.close()


def test_keys_folder_site_file_binds_the_device() -> None:
    ingestor = Ingestor(KeyRing({DEVICE: KEY}, sites={DEVICE: "north"}), clock=lambda: NOW_S)
    assert ingestor.handle(TOPIC, message(1)) == "rejected"
    assert "belongs to site 'north' (its keys-folder .site file)" in last_reason(ingestor)
    north = f"carbonedge/north/{DEVICE}/interval_summary"
    assert ingestor.handle(north, message(1, site="north")) == "new"


def test_freshness_window_refuses_old_and_future_messages() -> None:
    ingestor = Ingestor({DEVICE: KEY}, clock=lambda: NOW_S, max_age_s=24 * 3600,
                        max_future_s=300)  # fmt: skip
    assert ingestor.handle(TOPIC, message(1, created_s=NOW_S - 23 * 3600)) == "new"
    assert ingestor.handle(TOPIC, message(2, created_s=NOW_S - 25 * 3600)) == "rejected"
    assert "is 25.0 h old, outside the freshness window of 24.0 h" in last_reason(ingestor)
    assert ingestor.handle(TOPIC, message(3, created_s=NOW_S + 299)) == "new"
    assert ingestor.handle(TOPIC, message(4, created_s=NOW_S + 900)) == "rejected"
    assert "is 900 s in the future (allowed skew 300 s)" in last_reason(ingestor)
    # a captured message replayed after the window (the ledger may have been pruned) is refused
    late = Ingestor({DEVICE: KEY}, clock=lambda: NOW_S + 2 * 86400, max_age_s=24 * 3600)
    assert late.handle(TOPIC, message(1, created_s=NOW_S - 23 * 3600)) == "rejected"


def test_default_window_is_30_days() -> None:
    ingestor = Ingestor({DEVICE: KEY}, clock=lambda: NOW_S)
    assert ingestor.handle(TOPIC, message(1, created_s=NOW_S - 29 * 86400)) == "new"
    assert ingestor.handle(TOPIC, message(2, created_s=NOW_S - 31 * 86400)) == "rejected"


def test_unsigned_status_is_only_a_hint_for_known_devices() -> None:
    ingestor = Ingestor({DEVICE: KEY}, clock=lambda: NOW_S)
    assert ingestor.handle(f"carbonedge/{SITE}/{DEVICE}/status", b"online") == "status"
    assert ingestor.handle(f"carbonedge/{SITE}/intruder/status", b"online") == "rejected"
    assert "status from a device with no key" in last_reason(ingestor)
    hints = ingestor.db.execute("SELECT device_id, status FROM status_hints").fetchall()
    assert hints == [(DEVICE, "online")]
    tables = {r[0] for r in ingestor.db.execute("SELECT name FROM sqlite_master")}
    assert "device_status" not in tables  # nothing reads an unsigned status as device state
    assert json.loads(message(1))["site_id"] == SITE
