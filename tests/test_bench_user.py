"""``bench_user`` runs both sides as a user does, each a fresh process over the highway clip: the
peer script (``--peer``, ``bench_e2e.PeerE2E`` with its decode-ahead thread) and ``carbonedge run``
on a one-camera site. 160 frames each; nothing here asserts a speed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carbonedge.benchmarks import bench_e2e, bench_user


def test_total_sums_the_nested_counts() -> None:
    counts = {"y150": {"in": {"car": 2, "truck": 1}, "out": {"car": 3}}, "other": {}}
    assert bench_user._total(counts) == 6
    assert bench_user._total({}) == 0


@pytest.mark.slow  # two child processes, 160 frames of the highway clip each (~10 s)
def test_both_processes_count_the_vehicle_of_the_first_160_frames(
    shared_dir: Path, with_model_dir: Path
) -> None:
    clip = shared_dir / bench_e2e.CLIP
    env = {**os.environ, "CARBONEDGE_MODEL_DIR": str(with_model_dir)}
    peer_s, peer_count = bench_user.peer_once(clip, 160, env)
    ours_s, ours_count = bench_user.ours_once("{type: yolox}", clip, 160, env)
    assert peer_s > 0 and ours_s > 0
    assert bench_e2e.truth_before(160) == 1  # one car reaches the line (frame 150)
    assert peer_count == 1 and ours_count == 1  # each script's own count, read from its output


@pytest.mark.slow  # one child process
def test_a_failing_peer_script_raises_with_its_error(tmp_path: Path, with_model_dir: Path) -> None:
    env = {**os.environ, "CARBONEDGE_MODEL_DIR": str(with_model_dir)}
    with pytest.raises(RuntimeError, match="no_such_clip.avi: the peer cannot open the clip"):
        bench_user.peer_once(tmp_path / "no_such_clip.avi", 30, env)
