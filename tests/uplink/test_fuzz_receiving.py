"""Malformed payloads never crash the receiving side (issue 28, item 5).

The verifier, ingest's message handler and the site-config loader get hostile inputs (deep
nesting, huge integers, a validly signed 64-bit-overflowing seq, non-UTF-8, huge strings, YAML
alias bombs) and random ones (hypothesis, a bounded number of cases here; ``benchmarks/
soak_fuzz.py`` runs >= 10^5 per target). Each must end in a clean rejection with a one-line
reason: ``VerificationError`` from ``verify_message``, a reject record from ingest,
``ConfigError`` naming the file from the config loader. The HJ 212 parser has its own fuzz test
(``test_hj212_fuzz.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uplink_rigs import DEVICE, KEY, SITE, summary

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.base.signing import signature
from carbonedge.runtime.config import load_site_config
from carbonedge.runtime.uplink.envelope import build_envelope
from carbonedge.runtime.uplink.errors import VerificationError
from carbonedge.runtime.uplink.ingest import Ingestor
from carbonedge.runtime.uplink.verify import verify_message

FUZZ = settings(max_examples=300, deadline=None, database=None)
KEYS = {DEVICE: KEY}
TOPIC = f"carbonedge/{SITE}/{DEVICE}/interval_summary"
T_S = 1_767_254_461.5  # the messages' created_at, and "now" for ingest's freshness window


def good_message(seq: int = 1) -> bytes:
    body = summary(0).to_dict() | {"seq": seq}
    return build_envelope(kind="interval_summary", site_id=SITE, device_id=DEVICE,
                          msg_id=body["id"], seq=seq, created_at=utc_iso(T_S),
                          body=body, key=KEY)  # fmt: skip


def signed_raw(envelope: dict) -> bytes:
    """``envelope`` signed with the device key, whatever its fields (build_envelope checks)."""
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    return json.dumps(unsigned | {"sig": signature(unsigned, KEY)}).encode()


def assert_clean_rejection(payload: bytes, max_bytes: int = 16384) -> str:
    with pytest.raises(VerificationError) as info:
        verify_message(payload, KEYS, max_bytes=max_bytes)
    reason = str(info.value)
    assert reason and "\n" not in reason and len(reason) < 600, reason
    return reason


HOSTILE = {
    "3000-deep list": b"[" * 3000 + b"]" * 3000,
    "50000-deep list": b"[" * 50_000 + b"]" * 50_000,
    "3000-deep object": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "5000-digit integer": b'{"seq":' + b"9" * 5000 + b"}",
    "non-UTF-8": b'{"device_id":"\xff\xfe"}',
    "huge string": b'{"device_id":"' + b"x" * 5_000_000 + b'"}',
    "lone surrogate escape": b'{"device_id":"\\ud800"}',
    "NaN body": b'{"body":NaN}',
    "empty": b"",
    "top-level number": b"1e999999",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_payloads_are_rejected_with_one_line(name: str) -> None:
    assert_clean_rejection(HOSTILE[name], max_bytes=16 * 1024 * 1024)


def test_signed_seq_over_64_bits_is_rejected_with_its_reason() -> None:
    env = json.loads(good_message())
    for seq in (2**63, 2**64 + 5, 10**19):
        env["seq"] = env["body"]["seq"] = seq
        reason = assert_clean_rejection(signed_raw(env))
        assert f"seq {seq} is outside 1..2**63-1" in reason
    env["seq"], env["merged_seqs"] = 5, [4, 2**63]
    assert "seq 9223372036854775808" in assert_clean_rejection(signed_raw(env))
    env.pop("merged_seqs")
    env["seq"] = env["body"]["seq"] = 2**63 - 1  # the largest 64-bit seq is fine
    assert verify_message(signed_raw(env), KEYS)["seq"] == 2**63 - 1


def test_deep_body_inside_a_validly_signed_envelope() -> None:
    env = json.loads(good_message())
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    env["body"]["partial"] = deep
    assert "nested deeper than 32" in assert_clean_rejection(signed_raw(env), 1 << 20)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),  # fmt: skip
    max_leaves=30,
)
_FIELDS = ["envelope_version", "kind", "schema_version", "site_id", "device_id", "msg_id", "seq",
           "merged_seqs", "created_at", "body", "kid", "sig"]  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Random bytes, random JSON, mutated good messages, and validly signed odd envelopes."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.binary(max_size=400))
    if choice == 1:
        return json.dumps(draw(_JSON)).encode()
    if choice == 2:  # a good message with bytes changed, inserted or cut
        data = bytearray(good_message())
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            op = draw(st.integers(0, 2))
            if op == 0:
                data[i] = draw(st.integers(0, 255))
            elif op == 1:
                data[i:i] = draw(st.binary(min_size=1, max_size=8))
            else:
                del data[i:]
                break
        return bytes(data)
    env = json.loads(good_message())
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3)):
        env[name] = draw(_JSON | st.integers(min_value=2**62, max_value=2**70))
    if choice == 3:
        return signed_raw(env)
    return json.dumps(env).encode()


@FUZZ
@given(payloads())
def test_verifier_never_raises_anything_but_a_rejection(payload: bytes) -> None:
    try:
        verify_message(payload, KEYS)
    except VerificationError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(payloads(), st.sampled_from([TOPIC, "", "x", "a/b/c/d/e", f"carbonedge/{SITE}/bad/k"]))
def test_ingest_handler_keeps_a_reject_record_for_anything(payload: bytes, topic: str) -> None:
    ingestor = Ingestor(KEYS, clock=lambda: T_S)
    try:
        verdict = ingestor.handle(topic, payload)
        assert verdict in {"new", "duplicate", "replay", "rejected"}
        if verdict == "rejected":
            reason, raw_bytes = ingestor.db.execute(
                "SELECT reason, raw_bytes FROM rejects ORDER BY id DESC"
            ).fetchone()
            assert raw_bytes == len(payload) and reason and "\n" not in reason
    finally:
        ingestor.close()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_ingest_stores_a_reject_and_logs_one_line(name: str, caplog) -> None:
    ingestor = Ingestor(KEYS, max_bytes=16 * 1024 * 1024, clock=lambda: T_S)
    env = json.loads(good_message())
    env["seq"] = env["body"]["seq"] = 2**63
    with caplog.at_level("WARNING"):
        assert ingestor.handle(TOPIC, HOSTILE[name]) == "rejected"
        assert ingestor.handle(TOPIC, signed_raw(env)) == "rejected"
    rows = ingestor.db.execute("SELECT reason, device_id, raw_bytes FROM rejects").fetchall()
    assert [r[2] for r in rows] == [len(HOSTILE[name]), len(signed_raw(env))]
    assert rows[1][1] == DEVICE and "2**63-1" in rows[1][0]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in caplog.records)
    assert ingestor.handle(TOPIC, good_message()) == "new"  # and it goes on
    ingestor.close()


def test_ingest_upgrades_an_old_rejects_table(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE rejects (id INTEGER PRIMARY KEY, received_at TEXT NOT NULL, topic "
               "TEXT NOT NULL, reason TEXT NOT NULL, payload_head TEXT NOT NULL)")  # fmt: skip
    db.commit()
    db.close()
    ingestor = Ingestor(KEYS, sqlite_path=tmp_path / "old.sqlite")
    assert ingestor.handle(TOPIC, b"\xff") == "rejected"
    assert ingestor.db.execute("SELECT raw_bytes, device_id FROM rejects").fetchone() == (1, DEVICE)
    ingestor.close()


def test_verify_cli_goes_on_after_bad_lines_and_names_a_missing_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / f"{DEVICE}.key").write_bytes(KEY)
    (keys / f"{DEVICE}.key").chmod(0o600)
    env = json.loads(good_message(2))
    env["seq"] = env["body"]["seq"] = 2**63
    lines = tmp_path / "lines.jsonl"
    bad = [HOSTILE["3000-deep list"], HOSTILE["5000-digit integer"], signed_raw(env), b"\xff\xfe"]
    lines.write_bytes(b"\n".join([*bad, good_message(1)]) + b"\n")
    run = subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "verify", "--keys-dir", str(keys),
         str(tmp_path / "missing.jsonl"), str(lines)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == (
        f"carbonedge verify: {tmp_path / 'missing.jsonl'}: cannot read (No such file or directory)"
    )
    out = run.stdout.splitlines()
    assert [line.split(": ")[1] for line in out[:4]] == ["REJECTED"] * 4, out
    assert len(out) == 5 and out[4].startswith(f"{lines}:5: ok box-17 seq 1"), out
    assert "2**63-1" in out[2]


# --- site config: alias bombs and random YAML -------------------------------------------------


def alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines + [f"cameras: *a{levels}"]) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_yaml_alias_bomb_fails_fast_naming_the_file(tmp_path: Path, levels: int) -> None:
    import resource

    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels))
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match=f"^{path}: refused YAML: more than 200000 values"):
        load_site_config(path)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb
    assert grown_kb < 50_000  # the 9**10 = 3.5e9-string bomb needs GBs when expanded


def test_deep_yaml_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("cameras: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=f"^{path}: refused YAML: nested deeper than 64"):
        load_site_config(path)


_YAML_TEXT = st.lists(
    st.sampled_from(
        list("ab01:-[]{},&*!%@`'\"#|>?.\n \t")
        + ["cameras:", "source:", "*a", "&a ", "2024-13-40", "<<: ", "1e9999"]
    ),
    max_size=80,
).map("".join)


@FUZZ
@given(_YAML_TEXT | _JSON.map(json.dumps))
def test_config_loader_only_raises_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "site.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_site_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path))
