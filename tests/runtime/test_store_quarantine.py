"""Item 9 (part) of issue 28: a corrupt store at start is moved aside (kept) and a fresh store is
started whose numbers continue from the sequence sidecar, instead of an exit-2 restart loop under
the systemd unit; the store files are private (0600)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def run_site(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "run", str(config), "--max-frames",
         "300"], capture_output=True, text=True, timeout=300, cwd=config.parent,
    )  # fmt: skip


def test_corrupt_store_at_start_is_quarantined_and_numbering_goes_on(tmp_path: Path) -> None:
    site = yaml.safe_load((REPO / "runtime/examples/synthetic.yaml").read_text())
    db, jsonl = tmp_path / "box.sqlite", tmp_path / "box.jsonl"
    site["output"] = {"sqlite_path": str(db), "jsonl_path": str(jsonl)}
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(site))
    first = run_site(config)
    assert first.returncode == 0, first.stderr
    con = sqlite3.connect(db)
    last_seq = con.execute("SELECT MAX(seq) FROM summaries").fetchone()[0]
    con.close()
    assert last_seq > 0
    garbage = b"\xa5" * 8192 + db.read_bytes()[8192:]  # header and first page smashed
    db.write_bytes(garbage)

    second = run_site(config)
    assert second.returncode == 0, second.stderr
    errors = [x for x in second.stderr.splitlines() if "the store is corrupt" in x]
    assert len(errors) == 1 and "carbonedge outbox recover" in errors[0], second.stderr
    kept = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and not p.name.endswith("m")]
    assert [p.read_bytes() for p in kept if "-wal" not in p.name] == [garbage]  # never deleted
    con = sqlite3.connect(db)
    seqs = [r[0] for r in con.execute("SELECT seq FROM summaries ORDER BY seq")]
    con.close()
    assert seqs and seqs[0] == last_seq + 1  # continues from the sidecar, not from 1
    for path in (db, Path(f"{db}.seq"), jsonl):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert json.loads(jsonl.read_text().splitlines()[-1])["seq"] == seqs[-1]
