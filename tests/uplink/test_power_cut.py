"""Power cuts: ``carbonedge run`` with its store (SQLite, the JSON-lines copy, the sequence
sidecar) on a loop-mounted ext4 image, killed with SIGKILL at random moments while it writes and
sends; the image is copied right after each kill (only what reached the block device survives,
as in a power cut) and the box restarts from the copy. A real Mosquitto and ``carbonedge ingest``
receive. Every summary the platform received before a cut is still in the store after it, the
sequence never goes backwards (no number reused), and after the last restart everything arrives
once after de-duplication. Needs root and loop devices (skipped with the reason otherwise)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

import pytest
from chaos_rigs import (
    Box,
    Ingest,
    LoopImage,
    LoopUnavailable,
    check_delivered,
    loop_unavailable,
    site_yaml,
    stored_summaries,
    synthetic_source,
    wait_for,
    write_keys,
)
from uplink_rigs import Broker, broker_fixture  # noqa: F401 - the fixture

CUTS = 3
WAIT_S = 90  # a bound for a condition to come true, not a timing


@pytest.fixture(name="disk")
def disk_fixture(tmp_path: Path):
    reason = loop_unavailable()
    if reason is not None:
        pytest.skip(f"power-cut test: {reason}")
    image = LoopImage(tmp_path / "disk.img", tmp_path / "mnt")
    try:
        image.create()
    except LoopUnavailable as exc:
        pytest.skip(f"power-cut test: cannot loop-mount an ext4 image ({exc})")
    yield image
    image.umount()


def _restored_ids(store: Path, log: Path) -> dict[str, int] | None:
    """The summaries of the store as the restarted box will find it; None when it is corrupt."""
    try:
        return stored_summaries(store)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return {}  # an empty file: everything was lost
    except sqlite3.DatabaseError as exc:  # not a database, malformed: the box quarantines it
        with log.open("a") as f:
            f.write(f"test: the store after the cut does not open: {exc}\n")
        return None


def test_power_cuts_lose_no_summary_the_platform_received(
    tmp_path: Path, broker: Broker, disk: LoopImage
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    key_file, keys = write_keys(tmp_path)
    store, jsonl = disk.mountpoint / "box.sqlite", disk.mountpoint / "summaries.jsonl"
    config = site_yaml(tmp_path / "site.yaml", source=synthetic_source(), store=store,
                       jsonl=jsonl, broker_port=broker.port, key_file=key_file,
                       drain_rate_msg_s=40)  # fmt: skip
    log = tmp_path / "box.log"
    ingest = Ingest(broker.port, keys, tmp_path / "platform.sqlite", tmp_path / "ingest.log")
    ingest.start()
    quarantined = 0
    try:
        for cut in range(CUTS):
            before = len(ingest.summaries())
            box = Box(config, log).start()
            wait_for(lambda b=box, n=before: len(ingest.summaries()) > n or not b.running(),
                     WAIT_S, "the box to send")  # fmt: skip
            assert box.running(), log.read_text()[-3000:]
            time.sleep(rng.uniform(0.0, 1.5))  # a random moment while it writes and sends
            box.kill()
            disk.power_cut()
            received = {body_id for *_, body_id in ingest.summaries()}
            restored = _restored_ids(store, log)
            if restored is None:
                quarantined += 1
                continue
            missing = sorted(received - set(restored))
            assert not missing, f"cut {cut} (seed {seed}): received upstream, gone from the " \
                                f"store: {missing[:5]} ({len(missing)})"  # fmt: skip
        box = Box(config, log).start()
        assert box.wait(WAIT_S) == 0, log.read_text()[-3000:]
        final = stored_summaries(store)
        wait_for(lambda: len({i for *_, i in ingest.summaries()}) >= len(final), 30,
                 "every stored summary upstream")  # fmt: skip
    finally:
        ingest.stop()
    figures = check_delivered(ingest, final)
    text = log.read_text()
    assert quarantined == 0 or text.count("the store is corrupt; moved aside") == quarantined
    print(
        f"\npower cuts (seed {seed}): {disk.cuts} cuts, {quarantined} stores quarantined; "
        + ", ".join(f"{k} {v}" for k, v in figures.items())
    )
    assert figures["lost"] == figures["duplicated"] == figures["unknown"] == 0, figures
    assert figures["replays"] == figures["rejected"] == figures["out_of_order"] == 0, figures
    assert figures["stored"] == 240  # the whole synthetic run, once: no interval under a new id
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(final)  # the JSON-lines copy: whole, once
