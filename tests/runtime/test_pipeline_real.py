"""The slice on real footage with the real model (needs ../shared)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

HAND_COUNT = 27  # ../shared/media/MEDIA.md, line y = 150 px, every vehicle moving down
HAND_COUNT_TOLERANCE = 1  # MEDIA.md: "tolerance +/-1"


@pytest.mark.slow
def test_highway_clip_count_matches_hand_count(with_model_dir: Path, shared_dir: Path) -> None:
    clip = shared_dir / "media/traffic/highway_cdnet_320x240.avi"
    source = VideoFileSource(
        VideoFileConfig(
            id="highway", path=clip, start_wall=datetime(2026, 1, 1, tzinfo=timezone.utc)
        )
    )
    detector = YoloxDetector(YoloxConfig())
    line = LineConfig(id="y150", start_px=(0.0, 150.0), end_px=(320.0, 150.0))
    pipeline = SourcePipeline(
        device_id="t",
        source=source,
        detector=detector,
        camera=CameraPlan(tracker=ByteTrackConfig(), lines=[line]),
        interval_s=10.0,
    )
    result = pipeline.run()
    counts = result.counts()["y150"]
    counted_in = sum(counts["in"].values())
    counted_out = sum(counts["out"].values())
    assert result.frames == 1699
    assert abs(counted_in - HAND_COUNT) <= HAND_COUNT_TOLERANCE, counts
    assert counted_out <= 1, counts  # all traffic moves down the image
    assert set(counts["in"]) <= {"car", "truck", "bus"}
    assert sum(s.total() for s in result.summaries) == counted_in + counted_out
    assert [s.seq for s in result.summaries] == list(range(1, len(result.summaries) + 1))
