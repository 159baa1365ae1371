"""Whole processes, as a user runs them: ``carbonedge run SITE.yaml`` against the peer script.

Ours: ``carbonedge run`` on a site of one camera (the highway clip from ../shared, one line at
y = 150 px, the store and JSON-lines mirror written as in production) with the detector at its
DEFAULT settings (``{type: picodet}``: the crop around the line learned from the first vehicles,
the model input sized to it, zoom windows while the line learns), the same with ``zoom: off``
(what the zoom windows cost on this clip) and with ``{type: yolox}`` (the peer's model). The peer:
``python -m carbonedge.benchmarks.bench_user --peer CLIP`` (YOLOX-nano 416, NumPy decode, OpenCV
NMS, trackers ByteTrack, supervision LineZone: ``bench_e2e.PeerE2E``). Each side is a fresh
process from start to exit (imports, model load, the whole clip, the store); the passes alternate
(ours, peer, ours, ...) and a row takes the median pair. ms per frame = wall time / frames.

Run: ``python -m carbonedge.benchmarks --only bench_user`` (``--quick``: 100 frames, one pair,
the default only).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carbonedge.benchmarks import bench_e2e
from carbonedge.benchmarks._harness import Row

logger = logging.getLogger(__name__)

SITE = """\
device_id: bench-user
detector: {detector}
cameras:
  highway:
    source: {{type: video_file, path: {clip}, max_frames: {frames}}}
    lines:
      - {{id: y150, start_px: [0, 150], end_px: [320, 150]}}
summary: {{interval_s: 10}}
output: {{sqlite_path: {out}/site.sqlite, jsonl_path: {out}/site.jsonl}}
"""


def _total(counts: object) -> int:
    """Sum of the leaves of a summary's nested ``counts`` (line -> direction -> class -> n)."""
    if isinstance(counts, dict):
        return sum(_total(v) for v in counts.values())
    return int(counts) if isinstance(counts, (int, float)) else 0


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall s, stdout) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
    wall_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed: {proc.stderr.strip()[-400:]}")
    return wall_s, proc.stdout


def ours_once(detector: str, clip: Path, frames: int, env: dict[str, str]) -> tuple[float, int]:
    """Wall s and the count of one ``carbonedge run`` over ``frames`` frames of ``clip``."""
    with tempfile.TemporaryDirectory(prefix="bench-user-") as tmp:
        site = Path(tmp) / "site.yaml"
        site.write_text(SITE.format(detector=detector, clip=clip, frames=frames, out=tmp))
        cmd = [sys.executable, "-m", "carbonedge.runtime.cli", "run", str(site)]
        wall_s, _ = _timed(cmd, env)
        lines = (Path(tmp) / "site.jsonl").read_text().splitlines()
        count = sum(_total(json.loads(line).get("counts", {})) for line in lines if line.strip())
    return wall_s, count


def peer_once(clip: Path, frames: int, env: dict[str, str]) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "carbonedge.benchmarks.bench_user", "--peer", str(clip),
           str(frames)]  # fmt: skip
    wall_s, out = _timed(cmd, env)
    return wall_s, int(out.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    paths = bench_e2e.shared_paths()
    if paths is None:
        logger.warning("bench_user: ../shared (models, highway clip) not found: no rows")
        return []
    model, clip = paths
    frames, pairs = (100, 1) if quick else (1699, 3)
    env = {**os.environ, "CARBONEDGE_MODEL_DIR": str(model.parent)}
    truth = bench_e2e.truth_before(frames)
    rows = []
    sides = [("default picodet", "{type: picodet}"),
             ("picodet, zoom off", "{type: picodet, zoom: 'off'}"),  # what zoom costs here
             ("yolox, default roi/input", "{type: yolox}")]  # fmt: skip
    for label, detector in sides[:1] if quick else sides:
        ratios, ours_s, peer_s, counts = [], [], [], []
        for _ in range(pairs):
            o_s, o_n = ours_once(detector, clip, frames, env)
            p_s, p_n = peer_once(clip, frames, env)
            ratios.append(p_s / o_s)
            ours_s.append(o_s)
            peer_s.append(p_s)
            counts.append((o_n, p_n))
        k = ratios.index(statistics.median_low(ratios))
        rows.append(
            Row(
                "whole process: carbonedge run vs peer script",
                f"highway 320x240, {frames} frames, ours {label}; count ours/peer "
                f"{' '.join(f'{o}/{p}' for o, p in counts)} (truth {truth}); pair ratios "
                f"{' / '.join(f'{r:.2f}' for r in ratios)}",
                ours_s[k] / frames * 1e3,
                peer_s[k] / frames * 1e3,
                "peer script, whole process",
            )
        )
    return rows


def _peer_main(clip: Path, frames: int) -> int:
    """The peer as a user runs it: one process, the whole clip, print the count."""
    paths = bench_e2e.shared_paths()
    if paths is None:
        return 2
    result = bench_e2e.PeerE2E(paths[0], clip).run(frames)
    sys.stdout.write(f"{result.count}\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--peer":
        raise SystemExit(_peer_main(Path(sys.argv[2]), int(sys.argv[3])))
    for row in run(quick="--quick" in sys.argv):
        print(row)
