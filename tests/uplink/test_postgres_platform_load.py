"""The city-scale load test's quick mode (issue 31, item 4) runs end to end: 50 simulated boxes
x 4 cameras through a site broker, a bridge, a central broker, 2 ingest workers and PostgreSQL,
with a worker, the central broker and PostgreSQL restarted mid-flow: nothing lost, nothing
duplicated, no unexplained gap. It asserts no speed (the benchmark prints those). The workers run
with ``--partition``: Mosquitto 2.0 does not restore a shared subscription from its persistence
file, so with ``--share-group`` a central broker restart can drop what arrives before a worker
subscribes again (the benchmark's ``--mode share`` shows it; test_shared_subscription.py covers
shared subscriptions with a worker killed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pg_rig import find_postgres_bin
from rigs import require_executable, skip_or_fail


@pytest.mark.slow  # about 25 s: 1,000 messages at 60 msg/s plus three restarts
def test_quick_load_with_restarts_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    require_executable("mosquitto", "/usr/sbin", "/usr/local/sbin")
    if find_postgres_bin() is None:
        skip_or_fail("PostgreSQL (Debian package postgresql) is not installed")
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, "-m", "carbonedge.benchmarks.platform_load", "--quick", "--workers", "2",
         "--mode", "partition", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.exists(), proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())
    assert (result["lost"], result["duplicated"], result["unexplained_gaps"], result["replays"],
            result["unexpected"]) == (0, 0, 0, 0, 0), result  # fmt: skip
    assert result["messages"] == 1000 and len(result["events"]) == 3, result
    assert set(result["per_worker_msg_s"]) == {"ingest-1", "ingest-2"}
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "| 2 | 1000 |" in proc.stdout
