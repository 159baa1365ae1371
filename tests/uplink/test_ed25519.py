"""Ed25519 device keys with key ids and rotation (issue 28): the box signs with its private key,
the platform verifies with public keys only; HMAC stays the default."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from uplink_rigs import (  # noqa: F401 - fixtures
    DEVICE,
    KEY,
    SITE,
    Broker,
    broker_fixture,
    mqtt_sink,
    summary,
    uplink_config,
    wait_until,
)

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.base.signing import signature
from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.config import SigningConfig
from carbonedge.runtime.uplink.envelope import build_envelope, signer_from_config
from carbonedge.runtime.uplink.errors import VerificationError
from carbonedge.runtime.uplink.forwarder import Forwarder
from carbonedge.runtime.uplink.ingest import Ingestor, MqttIngest
from carbonedge.runtime.uplink.verify import keys_from_dir, verify_message

T_S = 1_767_254_461.0


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def generate(out: Path) -> Path:
    """``carbonedge keys generate``: the private key file it wrote."""
    run = cli("keys", "generate", "--device", DEVICE, "--out", str(out))
    assert run.returncode == 0, run.stderr
    return Path(run.stdout.split("private key (keep on the box, mode 0600): ")[1].split("\n")[0])


def publish(box: Path, platform: Path) -> None:
    """Copy only the public key to the platform's keys folder."""
    (platform / DEVICE).mkdir(parents=True, exist_ok=True)
    shutil.copy(box.with_suffix(".pub"), platform / DEVICE / box.with_suffix(".pub").name)


def message(private: Path, seq: int = 1, created_s: float = T_S) -> bytes:
    signer = signer_from_config(SigningConfig(algorithm="ed25519", key_file=private))
    body = summary(seq).to_dict() | {"seq": seq}
    return build_envelope(kind="interval_summary", site_id=SITE, device_id=DEVICE,
                          msg_id=body["id"], seq=seq, created_at=utc_iso(created_s), body=body,
                          key=signer)  # fmt: skip


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    box, platform = tmp_path / "box", tmp_path / "platform"
    private = generate(box)
    publish(private, platform)
    return private, platform


def test_generate_writes_a_0600_private_key_named_by_its_kid(keys) -> None:
    private, platform = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.parent.name == DEVICE and len(private.stem) == 16
    assert not list(platform.rglob("*.key"))  # the platform holds no secret
    env = json.loads(message(private))
    assert env["kid"] == private.stem and env["sig"].startswith("ed25519:")
    private.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        message(private)


def test_signed_on_the_box_verified_with_the_public_key_only(keys) -> None:
    private, platform = keys
    ring = keys_from_dir(platform)
    assert verify_message(message(private), ring)["seq"] == 1
    assert message(private) == message(private)  # a resend is byte-identical


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e | {"seq": 2}, "bad signature"),
        (lambda e: e | {"body": e["body"] | {"frames": 1}}, "bad signature"),
        (lambda e: e | {"kid": "0123456789abcdef"}, "no public key with kid"),
        (lambda e: {k: v for k, v in e.items() if k != "kid"}, "'kid' is a required property"),
        (lambda e: e | {"sig": "ed25519:" + "A" * 86}, "bad signature"),
    ],
)
def test_tampering_is_rejected(keys, mutate, reason: str) -> None:
    private, platform = keys
    payload = json.dumps(mutate(json.loads(message(private)))).encode()
    with pytest.raises(VerificationError, match=reason):
        verify_message(payload, keys_from_dir(platform))


def test_public_key_is_never_taken_as_an_hmac_secret(keys) -> None:
    private, platform = keys
    env = json.loads(message(private))
    unsigned = {k: v for k, v in env.items() if k not in ("sig", "kid")}
    pub = (platform / DEVICE / f"{private.stem}.pub").read_bytes().strip()
    forged = json.dumps(unsigned | {"sig": signature(unsigned, pub)}).encode()
    with pytest.raises(VerificationError, match="no key known for this device"):
        verify_message(forged, keys_from_dir(platform))


def test_rotation_two_keys_then_the_old_one_retired(tmp_path: Path, keys) -> None:
    old, platform = keys
    new = generate(tmp_path / "box")  # a second key of the same device
    publish(new, platform)
    ring = keys_from_dir(platform)
    assert set(ring.public[DEVICE]) == {old.stem, new.stem}
    assert verify_message(message(old, 1), ring)["kid"] == old.stem  # both valid while changing
    assert verify_message(message(new, 2), ring)["kid"] == new.stem
    (platform / DEVICE / f"{old.stem}.not_after").write_text(utc_iso(T_S + 3600) + "\n")
    ring = keys_from_dir(platform)
    assert verify_message(message(old, 3, created_s=T_S + 3000), ring)["seq"] == 3  # queued before
    with pytest.raises(VerificationError, match=f"key {old.stem} was retired at"):
        verify_message(message(old, 4, created_s=T_S + 7200), ring)
    assert verify_message(message(new, 5, created_s=T_S + 7200), ring)["seq"] == 5


def test_hmac_messages_are_unchanged(tmp_path: Path) -> None:
    body = summary(0).to_dict() | {"seq": 1}
    payload = build_envelope(kind="interval_summary", site_id=SITE, device_id=DEVICE,
                             msg_id=body["id"], seq=1, created_at=utc_iso(T_S), body=body,
                             key=KEY)  # fmt: skip
    env = json.loads(payload)
    assert "kid" not in env and env["sig"].startswith("hmac-sha256:")
    assert verify_message(payload, {DEVICE: KEY})["seq"] == 1
    with pytest.raises(ValueError, match="ed25519 needs key_file"):
        SigningConfig(algorithm="ed25519", key="x" * 20)
    assert SigningConfig(key="x" * 20).algorithm == "hmac-sha256"


def test_ed25519_box_to_ingest_over_mosquitto(tmp_path: Path, broker: Broker, keys) -> None:
    private, platform = keys
    ingestor = Ingestor(keys_from_dir(platform))
    sub = MqttIngest(ingestor, host="127.0.0.1", port=broker.port).start()
    assert sub.subscribed.wait(10)
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
    cfg = uplink_config(mqtt_sink(broker.port),
                        signing={"algorithm": "ed25519", "key_file": str(private)})  # fmt: skip
    fwd = Forwarder(cfg, device_id=DEVICE, sqlite_path=db).start()
    try:
        wait_until(lambda: ingestor.counts["new"] >= 3, 10, "3 Ed25519-signed summaries")
    finally:
        fwd.stop()
        sub.stop()
    assert ingestor.counts["rejected"] == 0
    assert {e["kid"] for e in ingestor.messages()} == {private.stem}
