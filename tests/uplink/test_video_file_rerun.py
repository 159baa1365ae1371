"""A video file counted by ``carbonedge run``, killed with SIGKILL part-way and run again (as the
systemd unit's ``Restart=always`` does): the rerun reads the file from the start and must make
the same interval ids, so the store and the platform drop what was already counted. Upstream,
every interval of the file arrives once and every frame is in exactly one summary."""

from __future__ import annotations

from pathlib import Path

from chaos_rigs import (
    Box,
    Ingest,
    check_delivered,
    site_yaml,
    stored_summaries,
    wait_for,
    write_clip,
    write_keys,
)
from uplink_rigs import Broker, broker_fixture  # noqa: F401 - the fixture

WAIT_S = 60  # a bound for a condition to come true, not a timing
SECONDS, FPS = 8, 5


def test_a_video_file_rerun_after_a_crash_is_counted_once_upstream(
    tmp_path: Path, broker: Broker
) -> None:
    key_file, keys = write_keys(tmp_path)
    clip = write_clip(tmp_path / "road.avi", seconds=SECONDS, fps=FPS)
    store = tmp_path / "out" / "box.sqlite"
    source = {"type": "video_file", "path": str(clip), "realtime": True}  # no start_wall
    config = site_yaml(tmp_path / "site.yaml", source=source, store=store, jsonl=None,
                       broker_port=broker.port, key_file=key_file)  # fmt: skip
    log = tmp_path / "box.log"
    ingest = Ingest(broker.port, keys, tmp_path / "platform.sqlite", tmp_path / "ingest.log")
    ingest.start()
    try:
        box = Box(config, log).start()
        wait_for(lambda: len(ingest.summaries()) >= 3, WAIT_S, "the first summaries upstream")
        box.kill()  # a crash part-way through the file
        killed_at = len(ingest.summaries())
        assert Box(config, log).start().wait(WAIT_S) == 0, log.read_text()[-3000:]
        stored = stored_summaries(store)
        wait_for(lambda: len(ingest.summaries()) >= len(stored), WAIT_S, "the rerun upstream")
        bodies = ingest.bodies()
    finally:
        ingest.stop()
    figures = check_delivered(ingest, stored)
    assert figures["lost"] == figures["duplicated"] == figures["replays"] == 0, figures
    starts = [b["interval_start"] for b in bodies]
    assert len(starts) == len(set(starts)), starts  # each interval once
    assert sum(b["frames"] for b in bodies) == SECONDS * FPS  # each frame counted once
    assert killed_at < len(bodies) <= SECONDS + 1
