"""Schema, envelope size, signing and verification (no broker needed)."""

from __future__ import annotations

import json

import pytest
from uplink_rigs import DEVICE, KEY, SITE, summary

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.uplink.envelope import build_envelope
from carbonedge.runtime.uplink.errors import (
    MessageTooLargeError,
    SchemaViolation,
    VerificationError,
)
from carbonedge.runtime.uplink.schema import validate_body
from carbonedge.runtime.uplink.verify import SeenLedger, verify_message


def envelope_bytes(body: dict, *, seq: int = 1, key: bytes = KEY, kind: str = "interval_summary",
                   **kw) -> bytes:  # fmt: skip
    return build_envelope(kind=kind, site_id=SITE, device_id=DEVICE, msg_id=body["id"], seq=seq,
                          created_at=utc_iso(1_767_254_461.5), body=body, key=key,
                          **kw)  # fmt: skip


def test_one_camera_one_minute_summary_is_well_under_2_kb() -> None:
    body = summary(0).to_dict() | {"seq": 1}
    validate_body("interval_summary", body)
    payload = envelope_bytes(body)
    print(f"\nbytes per one-camera one-minute summary (2 lines x 2 directions, 4 classes, signed "
          f"envelope): {len(payload)}")  # fmt: skip
    assert len(payload) < 1024
    assert verify_message(payload, {DEVICE: KEY})["body"] == body


def test_envelope_is_deterministic_and_signed() -> None:
    body = summary(0).to_dict() | {"seq": 1}
    assert envelope_bytes(body) == envelope_bytes(body)  # a resend is byte-identical
    env = json.loads(envelope_bytes(body))
    assert env["sig"].startswith("hmac-sha256:") and env["created_at"].endswith("Z")
    assert {"envelope_version", "site_id", "device_id", "msg_id", "seq", "kind"} <= set(env)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e, None),
        (lambda e: e | {"seq": e["seq"] + 1}, "bad signature"),
        (lambda e: e | {"body": e["body"] | {"frames": 1}}, "bad signature"),
        (
            lambda e: e | {"device_id": "box-99", "body": e["body"] | {"device_id": "box-99"}},
            "no key known",
        ),
        (lambda e: e | {"sig": "hmac-sha256:" + "0" * 64}, "bad signature"),
        (lambda e: {k: v for k, v in e.items() if k != "sig"}, "'sig' is a required property"),
        (lambda e: e | {"extra": 1}, "Additional properties"),
        (lambda e: e | {"body": e["body"] | {"frames": -1}}, "body: frames"),
    ],
)
def test_verifier(mutate, reason) -> None:
    env = json.loads(envelope_bytes(summary(0).to_dict() | {"seq": 1}))
    payload = json.dumps(mutate(env)).encode()
    if reason is None:
        assert verify_message(payload, {DEVICE: KEY})["seq"] == 1
    else:
        with pytest.raises(VerificationError, match=reason):
            verify_message(payload, {DEVICE: KEY})


def test_wrong_signing_key_is_rejected() -> None:
    payload = envelope_bytes(summary(0).to_dict() | {"seq": 1}, key=b"another-device-key-0123456")
    with pytest.raises(VerificationError, match="bad signature"):
        verify_message(payload, {DEVICE: KEY})


def test_size_limit_on_both_sides() -> None:
    counts = {f"line-{i}": {"in": {f"class-{j}": j for j in range(100)}} for i in range(8)}
    big = summary(0).to_dict() | {"seq": 1, "counts": counts}
    with pytest.raises(MessageTooLargeError, match=r"is \d+ bytes, over uplink.max_message_bytes"):
        envelope_bytes(big, max_bytes=4096)
    payload = envelope_bytes(big)
    with pytest.raises(VerificationError, match="over the 4096 limit"):
        verify_message(payload, {DEVICE: KEY}, max_bytes=4096)


def test_replays_are_detected_by_device_and_seq() -> None:
    ledger = SeenLedger()
    first = json.loads(envelope_bytes(summary(0).to_dict() | {"seq": 1}, seq=5))
    assert ledger.check(first) == "new"
    assert ledger.check(first) == "duplicate"  # the same message again: drop it
    other = json.loads(envelope_bytes(summary(1).to_dict() | {"seq": 2}, seq=5))
    assert ledger.check(other) == "replay"  # a different message claiming seq 5
    merged = json.loads(envelope_bytes(summary(2).to_dict() | {"seq": 3}, seq=6, merged_seqs=[7]))
    assert ledger.check(merged) == "new"
    seven = json.loads(envelope_bytes(summary(3).to_dict() | {"seq": 4}, seq=7))
    assert ledger.check(seven) == "replay"


def _alarm() -> dict:
    """A real alarm event from the fire monitor's event class: the schema is its contract."""
    from carbonedge.vision.fire.events import FireAlarm, FireBox

    return FireAlarm(
        device_id=DEVICE, source_id="cam", status="start", update_seq=0,
        started_t_wall_s=1_767_254_401.0, t_wall_s=1_767_254_401.0, frame_index=12,
        classes=("smoke",), confidence=0.91, boxes=(FireBox((10, 20, 110, 220), "smoke", 0.91),),
        image_hw=(480, 640), bearing_deg=None, detector="pixels",
    ).to_dict()  # fmt: skip


def _calibration() -> dict:
    return {"kind": "calibration_change", "schema_version": 1, "id": "c1", "device_id": DEVICE,
            "source_id": "cam", "t_wall": "2026-01-01T08:00:01.000Z", "target": "homography",
            "calibration_sha256": "a" * 64, "reprojection_error_px": 0.8}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "body", "error"),
    [
        ("fire_alarm", _alarm(), None),
        ("fire_alarm", _alarm() | {"classes": ["flood"]}, "'flood' is not one of"),
        ("fire_alarm", _alarm() | {"confidence": 1.5}, "confidence"),
        ("calibration_change", _calibration(), None),
        ("calibration_change", _calibration() | {"target": "x"}, "target"),
        ("interval_summary", summary(0).to_dict(), "seq: 0 is less than the minimum of 1"),
        ("interval_summary", summary(0).to_dict() | {"seq": 1, "speed": 3}, "Additional prop"),
        ("interval_summary", summary(0).to_dict() | {"seq": 1, "t": "x"}, "interval_summary"),
        ("device_health", {"kind": "device_health", "schema_version": 2}, "device_health.v2"),
        ("weather", {"schema_version": 1}, "unknown message kind 'weather'"),
    ],
)
def test_body_schemas(kind, body, error) -> None:
    if error is None:
        validate_body(kind, body)
        assert len(envelope_bytes(body, kind=kind)) < 1024
    else:
        with pytest.raises(SchemaViolation, match=error):
            validate_body(kind, body)
