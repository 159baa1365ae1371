"""CLI commands of the uplink: ``outbox status|recover|forward``, ``verify``, ``ingest``,
``keys generate``, ``schema``.

Registered from ``runtime/cli.py`` (``_COMMAND_MODULES``); heavy imports stay in the handlers.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    outbox = sub.add_parser("outbox", help="inspect, drain or recover the uplink outbox")
    actions = outbox.add_subparsers(dest="outbox_action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="pending messages, bytes, oldest age, dead letters")
    status.add_argument("sqlite", type=Path, help="the store file (output.sqlite_path)")
    status.set_defaults(handler=_cmd_status)
    recover = actions.add_parser(
        "recover", help="move a corrupt store aside (never deleted) and salvage its readable rows"
    )
    recover.add_argument("sqlite", type=Path)
    recover.set_defaults(handler=_cmd_recover)
    forward = actions.add_parser("forward", help="run only the forwarder of a site config")
    forward.add_argument("config", type=Path)
    forward.add_argument("--until-empty", action="store_true",
                         help="exit once all data messages are acked (its own device health "
                         "messages do not count)")  # fmt: skip
    forward.add_argument("--timeout-s", type=float, default=None, help="give up after this long")
    forward.set_defaults(handler=_cmd_forward)

    verify = sub.add_parser("verify", help="verify signed messages (JSON lines) with device keys")
    verify.add_argument(
        "--keys-dir", type=Path, required=True,
        help="<device_id>.key (HMAC) and <device_id>/<kid>.pub (Ed25519) files",
    )  # fmt: skip
    verify.add_argument("files", type=Path, nargs="*", help="JSON-lines files (default: stdin)")
    verify.add_argument("--max-bytes", type=int, default=16384)
    verify.set_defaults(handler=_cmd_verify)

    keys = sub.add_parser("keys", help="Ed25519 device signing keys")
    keys_actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    generate = keys_actions.add_parser(
        "generate", help="write a new key pair: OUT/DEVICE/KID.key (mode 0600) and KID.pub"
    )
    generate.add_argument("--device", required=True, help="the device id")
    generate.add_argument("--out", type=Path, default=Path("."), help="folder (default: .)")
    generate.set_defaults(handler=_cmd_keys_generate)

    schema = sub.add_parser(
        "schema", help="print the interval summary JSON Schema this box sends (sections included)"
    )
    schema.add_argument(
        "--write", type=Path, metavar="UPLINK_DIR", default=None,
        help="instead, regenerate UPLINK_DIR/schemas/interval_summary.v1.json and the section "
        "table of UPLINK_DIR/SCHEMA.md (a source checkout's runtime/uplink) from the registry",
    )  # fmt: skip
    schema.set_defaults(handler=_cmd_schema)

    ingest = sub.add_parser("ingest", help="reference consumer: subscribe, verify, de-duplicate")
    ingest.add_argument("--host", default="127.0.0.1")
    ingest.add_argument("--port", type=int, default=1883)
    ingest.add_argument("--topic", default="carbonedge/+/+/+", help="subscription filter")
    ingest.add_argument(
        "--keys-dir", type=Path, required=True,
        help="<device_id>.key, <device_id>/<kid>.pub and <device_id>.site files",
    )  # fmt: skip
    ingest.add_argument("--sqlite", type=Path, default=None, help="write accepted messages here")
    ingest.add_argument(
        "--postgres", metavar="DSN", default=None,
        help="store in PostgreSQL instead (libpq DSN or URL; tables and views: SCHEMA.md); "
        "N workers may share one database",
    )  # fmt: skip
    ingest.add_argument(
        "--share-group", metavar="NAME", default=None,
        help="subscribe as a member of MQTT 5 shared subscription $share/NAME/<topic>: each "
        "message goes to one worker of the group (give each worker its own --client-id)",
    )  # fmt: skip
    ingest.add_argument(
        "--partition", metavar="I/N", default=None,
        help="instead of --share-group: worker I of N (0-based) stores the devices with "
        "crc32(device_id) %% N == I from a plain persistent subscription, which (unlike a "
        "Mosquitto 2.0 shared subscription) survives a broker restart",
    )  # fmt: skip
    ingest.add_argument("--stdout", action="store_true", help="print accepted messages")
    ingest.add_argument(
        "--client-id",
        default="carbonedge-ingest",
        help="MQTT client id: names the worker's persistent session (restart a "
        "worker with the same id and the broker redelivers what it had)",
    )
    ingest.add_argument("--username", default=None)
    ingest.add_argument("--password-file", type=Path, default=None)
    ingest.add_argument("--ca-file", type=Path, default=None)
    ingest.add_argument("--cert-file", type=Path, default=None)
    ingest.add_argument("--key-file", type=Path, default=None)
    ingest.add_argument("--max-bytes", type=int, default=16384)
    ingest.add_argument(
        "--max-age-h",
        type=float,
        default=720.0,
        help="refuse messages created longer ago (0: no limit; default 30 days)",
    )
    ingest.add_argument(
        "--max-future-s",
        type=float,
        default=600.0,
        help="refuse messages created further in the future (box clock skew)",
    )
    ingest.add_argument("--max-messages", type=int, default=None, help="exit after N accepted")
    ingest.add_argument("--idle-exit-s", type=float, default=None, help="exit after N s quiet")
    ingest.set_defaults(handler=_cmd_ingest)

    from carbonedge.runtime.uplink.platform_status import register as register_platform

    register_platform(sub)  # `carbonedge platform status`: what the ingest store knows


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _cmd_status(args: argparse.Namespace) -> int:
    from carbonedge.runtime.uplink.outbox import Outbox

    if not args.sqlite.exists():
        from carbonedge.runtime.base.errors import StoreError

        raise StoreError(f"{args.sqlite}: no such store file")
    outbox = Outbox(args.sqlite)
    try:
        sys.stdout.write(json.dumps(outbox.stats(), indent=2, sort_keys=True) + "\n")
    finally:
        outbox.close()
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    from carbonedge.runtime.uplink.recover import recover

    report = recover(args.sqlite)
    sys.stdout.write(f"{args.sqlite}: moved aside to {report['quarantined']} (kept, not deleted)\n")
    for table, r in report["tables"].items():
        sys.stdout.write(
            f"  {table}: {r['salvaged']} rows salvaged, {r['unreadable']} unreadable\n"
        )
    for note in report["notes"]:
        sys.stdout.write(f"  note: {note}\n")
    return 0


def _cmd_forward(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.config import load_site_config
    from carbonedge.runtime.uplink.forwarder import start_forwarder

    config = load_site_config(args.config)
    if config.uplink is None:
        raise ConfigError(f"{args.config}: uplink: missing (nothing to forward to)")
    stop = _stop_on_signals()
    forwarder = start_forwarder(config)
    deadline = None if args.timeout_s is None else time.monotonic() + args.timeout_s
    sqlite_path = config.output.sqlite_path
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if args.until_empty and _pending_data(sqlite_path) == 0:
                break
            stop.wait(0.2)
    finally:
        stats = forwarder.stop(flush_timeout_s=0 if stop.is_set() else None)
    data = _pending_data(sqlite_path)
    sys.stdout.write(
        f"outbox: {stats['pending']} pending ({data} data, the rest device health), "
        f"{forwarder.acked} acknowledged this run, {stats['dead_letters']} dead letters\n"
    )
    return 0 if not args.until_empty or data == 0 else 1


def _pending_data(sqlite_path: Path) -> int:
    """Outbox rows other than device health messages (the forwarder queues those itself: one
    in flight must not keep ``--until-empty`` from finishing)."""
    from carbonedge.runtime.store.db import read_connection

    db = read_connection(sqlite_path)
    try:
        return int(
            db.execute("SELECT COUNT(*) FROM outbox WHERE kind != 'device_health'").fetchone()[0]
        )
    finally:
        db.close()


def _cmd_verify(args: argparse.Namespace) -> int:
    from carbonedge.runtime.uplink.errors import VerificationError
    from carbonedge.runtime.uplink.verify import SeenLedger, keys_from_dir, verify_message

    keys, ledger, bad = keys_from_dir(args.keys_dir), SeenLedger(), 0
    for name, path in [(str(p), p) for p in args.files] or [("<stdin>", None)]:
        try:
            stream = sys.stdin.buffer if path is None else path.open("rb")
        except OSError as exc:
            bad += 1
            sys.stderr.write(f"carbonedge verify: {name}: cannot read ({exc.strerror})\n")
            continue
        with stream:
            for n, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    env = verify_message(line.strip(), keys, max_bytes=args.max_bytes)
                except VerificationError as exc:
                    bad += 1
                    reason = " ".join(str(exc).split())
                    sys.stdout.write(f"{name}:{n}: REJECTED: {reason}\n")
                    continue
                verdict = ledger.check(env)
                sys.stdout.write(
                    f"{name}:{n}: {'ok' if verdict == 'new' else verdict.upper()} "
                    f"{env['device_id']} seq {env['seq']} {env['kind']} {env['msg_id']}\n"
                )
                bad += verdict == "replay"
    return 1 if bad else 0


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    import os
    import re

    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.base.signing import Ed25519Signer, private_key_pem, public_key_pem

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", args.device):
        raise ConfigError(f"--device {args.device!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    signer = Ed25519Signer.generate()
    folder = args.out / args.device
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{signer.kid}.key", folder / f"{signer.kid}.pub"
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{private}: already exists (not overwritten)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(signer))
    public.write_bytes(public_key_pem(signer))
    sys.stdout.write(
        f"kid {signer.kid}\n"
        f"private key (keep on the box, mode 0600): {private}\n"
        f"public key (copy to the platform's keys folder as {args.device}/{signer.kid}.pub): "
        f"{public}\n"
        f"box config: uplink.signing: {{algorithm: ed25519, key_file: {private}}}\n"
    )
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.uplink.ingest import Ingestor, MqttIngest
    from carbonedge.runtime.uplink.verify import keys_from_dir

    password = None
    if args.password_file is not None:
        password = args.password_file.read_text(encoding="utf-8").strip()
    if args.sqlite is not None and args.postgres is not None:
        raise ConfigError("ingest: give --sqlite or --postgres, not both")
    partition = None
    if args.partition is not None:
        i, _, n = args.partition.partition("/")
        if not (i.isdigit() and n.isdigit() and int(i) < int(n)) or args.share_group:
            raise ConfigError(f"ingest --partition {args.partition!r}: expected I/N with "
                              "0 <= I < N, and no --share-group")  # fmt: skip
        partition = (int(i), int(n))
    keys, store = keys_from_dir(args.keys_dir), None
    if args.postgres is not None:
        from carbonedge.runtime.uplink.pg_store import PostgresStore

        store = PostgresStore(args.postgres, worker=args.client_id)
    quiet = args.sqlite is not None or store is not None
    ingestor = Ingestor(
        keys, sqlite_path=args.sqlite, store=store,
        out=sys.stdout if args.stdout or not quiet else None, max_bytes=args.max_bytes,
        max_age_s=args.max_age_h * 3600 if args.max_age_h > 0 else None,
        max_future_s=args.max_future_s,
    )  # fmt: skip
    consumer = MqttIngest(
        ingestor, host=args.host, port=args.port, topic_filter=args.topic,
        client_id=args.client_id, username=args.username, password=password,
        ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file,
        share_group=args.share_group, partition=partition,
    ).start()  # fmt: skip
    stop = _stop_on_signals()
    try:
        while not stop.wait(0.1):
            if args.max_messages is not None and ingestor.counts["new"] >= args.max_messages:
                break
            idle_s = time.monotonic() - consumer.last_message_s
            if args.idle_exit_s is not None and idle_s > args.idle_exit_s:
                break
    finally:
        consumer.stop()
        counts = dict(ingestor.counts)
        ingestor.close()
    sys.stderr.write("ingest: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from carbonedge.runtime.uplink.schema import summary_schema_text, write_generated

    if args.write is None:
        sys.stdout.write(summary_schema_text())
        return 0
    if not (args.write / "SCHEMA.md").is_file():
        print(f"carbonedge schema: {args.write}: no SCHEMA.md (give the runtime/uplink folder)",
              file=sys.stderr)  # fmt: skip
        return 2
    changed = write_generated(args.write)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("up to date")
    return 0
