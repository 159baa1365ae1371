"""Fuzz soak of the receiving side: >= 10^5 malformed inputs per target, no crash allowed.

``python -m carbonedge.benchmarks.soak_fuzz --cases 100000`` feeds seeded random inputs (random
bytes, random JSON, mutated good messages, validly signed envelopes with odd fields, deep nesting,
huge numbers, bad UTF-8) to four targets and counts the outcomes:

- ``verify``: ``verify_message`` must return an envelope or raise ``VerificationError``;
- ``ingest``: ``Ingestor.handle`` must return a verdict (a rejected one leaves a reject record);
- ``config``: ``read_yaml`` + ``parse_site_config`` must return a config or raise ``ConfigError``
  (random YAML text, alias bombs, deep nesting);
- ``hj212``: ``decode_packet`` and ``FrameReader.feed`` must raise nothing but ``Hj212Error``.

Anything else is a crash: it is printed with its input and the exit status is 1. The same seed
gives the same cases. The suite runs a bounded number of hypothesis cases of the same targets
(``tests/uplink/test_fuzz_receiving.py``, ``tests/uplink/test_hj212_fuzz.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import IntervalSummary
from carbonedge.runtime.base.signing import signature
from carbonedge.runtime.config import parse_site_config, read_yaml
from carbonedge.runtime.uplink.envelope import build_envelope
from carbonedge.runtime.uplink.errors import VerificationError
from carbonedge.runtime.uplink.hj212.codec import FrameReader, Hj212Error, decode_packet
from carbonedge.runtime.uplink.ingest import Ingestor
from carbonedge.runtime.uplink.verify import verify_message

DEVICE, SITE, KEY = "box-1", "site-1", b"soak-fuzz-hmac-key-0123456789"
TOPIC = f"carbonedge/{SITE}/{DEVICE}/interval_summary"
FIELDS = ["envelope_version", "kind", "schema_version", "site_id", "device_id", "msg_id", "seq",
          "merged_seqs", "created_at", "body", "kid", "sig"]  # fmt: skip
HJ212_GOOD = (
    b"##0136ST=32;CN=2011;PW=000000;MN=LD130133000015;CP=&&DataTime=20160824003817;"
    b"011-Rtd=231.0,011-Flag=N;B01-Rtd=36.91;060-Rtd=1.803,060-Flag=N&&1dc0\r\n"
)


def good_message(seq: int = 1) -> bytes:
    counts = {"l1": {"in": {"car": 3, "bus": 1}, "out": {"car": 2}}}
    body = IntervalSummary(DEVICE, "cam", 0, 1.767e9, 1.767e9 + 60, counts, 1500, "yolox").to_dict()
    body["seq"] = seq
    return build_envelope(kind="interval_summary", site_id=SITE, device_id=DEVICE,
                          msg_id=body["id"], seq=seq, created_at="2026-01-01T00:00:00Z",
                          body=body, key=KEY)  # fmt: skip


def rand_json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 4 or r < 0.5:
        return rng.choice([None, True, False, rng.randint(-(2**70), 2**70), rng.random() * 1e300,
                           "".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 12))),
                           2**63, -1, 0])  # fmt: skip
    if r < 0.75:
        return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    names = FIELDS + ["x", ""]
    return {rng.choice(names): rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if not out:
            break
        i, op = rng.randrange(len(out)), rng.randint(0, 3)
        if op == 0:
            out[i] = rng.randint(0, 255)
        elif op == 1:
            out[i:i] = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del out[i : i + rng.randint(1, 16)]
        else:
            del out[i:]
    return bytes(out)


def signed(envelope: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    try:
        return json.dumps(unsigned | {"sig": signature(unsigned, KEY)}).encode()
    except (ValueError, TypeError):
        return json.dumps(unsigned).encode()


def payload_case(rng: random.Random, good: bytes) -> bytes:
    kind = rng.randint(0, 7)
    if kind == 0:
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 300)))
    if kind == 1:
        return json.dumps(rand_json(rng)).encode()
    if kind == 2:
        return mutate(rng, good)
    if kind == 3:  # deep nesting, up to 50 000 levels
        n = rng.choice([33, 1000, 3000, 50_000])
        return rng.choice([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b"[" * n])
    if kind == 4:  # huge numbers
        digits = rng.choice([19, 20, 21, 4300, 5000])
        return b'{"seq":' + b"9" * digits + b"}"
    env = json.loads(good)
    for name in rng.sample(FIELDS, rng.randint(1, 3)):
        env[name] = rand_json(rng)
    if kind == 5:
        env["seq"] = rng.choice([2**63, 2**63 - 1, 2**64, 10**30, 0, -5, env["seq"]])
        if isinstance(env.get("body"), dict):
            env["body"]["seq"] = env["seq"]
        env.setdefault("device_id", DEVICE)
    return signed(env) if kind in (5, 6) else json.dumps(env).encode()


def yaml_case(rng: random.Random) -> str:
    kind = rng.randint(0, 3)
    if kind == 0:
        alphabet = list("ab01:-[]{},&*!%@`'\"#|>?.\n \t") + [
            "cameras:",
            "source:",
            "*a",
            "&a ",
            "2024-13-40",
            "<<: ",
            "1e9999",
            "!!python/name:x",
        ]
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
    if kind == 1:  # an alias bomb of 3..10 levels
        levels = rng.randint(3, 10)
        lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
        return "\n".join(lines + [f"cameras: *a{levels - 1}"])
    if kind == 2:
        n = rng.choice([10, 65, 500, 5000])
        return "cameras: " + "[" * n + "]" * n
    return json.dumps(rand_json(rng))


def run_target(name: str, cases: int, one: Callable[[int], str]) -> tuple[dict[str, int], list]:
    outcomes: dict[str, int] = {}
    crashes = []
    for i in range(cases):
        try:
            outcome = one(i)
        except Exception as exc:  # noqa: BLE001 - a crash is what we count
            outcome = "CRASH"
            crashes.append((i, f"{type(exc).__name__}: {exc}"[:300]))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes, crashes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases per target")
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--only", choices=["verify", "ingest", "config", "hj212"], action="append")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # one warning per reject: counted below instead
    rng = random.Random(args.seed)
    good, keys = good_message(), {DEVICE: KEY}
    ingestor = Ingestor(keys, max_bytes=1 << 20)
    folder = Path(tempfile.mkdtemp(prefix="soak-fuzz-"))

    def verify(i: int) -> str:
        try:
            verify_message(payload_case(rng, good), keys, max_bytes=1 << 20)
        except VerificationError as exc:
            if "\n" in str(exc):
                raise AssertionError(f"reason of more than one line: {exc!r}") from None
            return "rejected"
        return "accepted"

    def ingest(i: int) -> str:
        return ingestor.handle(
            rng.choice([TOPIC, "", "a/b", f"carbonedge/{SITE}/x/y"]),
            payload_case(rng, good_message(i + 1) if i % 50 == 0 else good),
        )

    def config(i: int) -> str:
        path = folder / "site.yaml"
        path.write_text(yaml_case(rng), encoding="utf-8")
        try:
            parse_site_config(read_yaml(path), origin=str(path))
        except ConfigError as exc:
            if not str(exc).startswith(str(path)):
                raise AssertionError(f"error not naming the file: {exc}") from None
            return "refused"
        return "loaded"

    reader = FrameReader()

    def hj212(i: int) -> str:
        data = mutate(rng, HJ212_GOOD) if rng.random() < 0.7 else bytes(
            rng.randint(0, 255) for _ in range(rng.randint(0, 200)))  # fmt: skip
        try:
            reader.feed(data)
        except Hj212Error:
            pass
        try:
            decode_packet(data.rstrip(b"\r\n"))
        except Hj212Error:
            return "rejected"
        return "decoded"

    targets = {"verify": verify, "ingest": ingest, "config": config, "hj212": hj212}
    total_crashes = 0
    print("| target | cases | outcomes | crashes | s | cases/s |\n|---|---:|---|---:|---:|---:|")
    for name in args.only or list(targets):
        t0 = time.perf_counter()
        outcomes, crashes = run_target(name, args.cases, targets[name])
        dt = time.perf_counter() - t0
        text = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        print(f"| {name} | {args.cases} | {text} | {len(crashes)} | {dt:.1f} | "
              f"{args.cases / dt:.0f} |", flush=True)  # fmt: skip
        for i, what in crashes[:5]:
            print(f"  crash at case {i}: {what}", file=sys.stderr)
        total_crashes += len(crashes)
    ingestor.close()
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
