"""The slice with fast in-process parts: per-frame failures are skipped, not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_detections

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.errors import DeviceError, StoreError
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.store import Store
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.base import Detector
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig


class FlakyDetector(Detector):
    """A box moving down 4 px per frame; raises on the frames in ``fail_on``."""

    name = "flaky"
    class_names = ("car",)

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on

    def detect(self, frame: Frame, roi_xyxy=None) -> Detections:
        if frame.index in self.fail_on:
            raise ValueError(f"frame {frame.index}: corrupt tensor")
        y = 4.0 * frame.index
        return make_detections([[300, y, 340, y + 30]], confidence=[0.9])


def run(detector: Detector, seconds: float = 8.0) -> tuple:
    scene = SyntheticScene(SyntheticSceneConfig(id="s", duration_s=seconds, fps=15))
    line = LineConfig(id="l", start_px=(0, 200), end_px=(640, 200))
    pipeline = SourcePipeline(
        device_id="box",
        source=scene,
        detector=detector,
        camera=CameraPlan(tracker=ByteTrackConfig(), lines=[line]),
        interval_s=5.0,
    )
    return pipeline.run()


def test_failing_frames_are_counted_and_skipped() -> None:
    result = run(FlakyDetector(fail_on={10, 11}))
    assert result.frame_errors == 2
    assert result.frames == 120 - 2
    assert result.counts()["l"]["in"] == {"car": 1}  # the box crosses y=200 once, going down
    assert [s.seq for s in result.summaries] == [1, 2]
    assert sum(s.frames for s in result.summaries) == 118
    assert sum(s.frame_errors for s in result.summaries) == 2


def test_systematic_failure_stops_the_source_with_a_clear_error() -> None:
    with pytest.raises(
        DeviceError, match=r"50 frames in a row failed; last error \(frame 49\): frame 49: corrupt"
    ):
        run(FlakyDetector(fail_on=set(range(1000))))


def test_motion_slice_matches_synthetic_ground_truth() -> None:
    scene = SyntheticScene(SyntheticSceneConfig(id="s", duration_s=40.0, seed=3))
    (x1, y1), (x2, y2) = scene.ground_truth.counting_line_px
    truth = {"in": 0, "out": 0}
    for _, direction, _ in scene.ground_truth.crossings():
        truth["in" if direction == "down" else "out"] += 1
    pipeline = SourcePipeline(
        device_id="box",
        source=scene,
        detector=MotionDetector(MotionDetectorConfig()),
        camera=CameraPlan(lines=[LineConfig(id="l", start_px=(x1, y1), end_px=(x2, y2))]),
        interval_s=60.0,
    )
    counts = pipeline.run().counts()["l"]
    counted = {d: sum(counts[d].values()) for d in ("in", "out")}
    assert sum(truth.values()) >= 15
    for d in ("in", "out"):
        assert abs(counted[d] - truth[d]) <= 1, (counted, truth)


class FlakyStore(Store):
    """A real SQLite store whose first summary write and first event write fail."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_summary, self.fail_events = 1, 1

    def write_summary(self, summary):
        if self.fail_summary:
            self.fail_summary -= 1
            raise StoreError("s.sqlite: database is locked")
        return super().write_summary(summary)

    def write_events(self, events):
        if self.fail_events:
            self.fail_events -= 1
            raise StoreError("s.sqlite: database is locked")
        return super().write_events(events)


def run_with_store(detector: Detector, store: Store, seconds: float = 12.0):
    scene = SyntheticScene(SyntheticSceneConfig(id="s", duration_s=seconds, fps=15))
    line = LineConfig(id="l", start_px=(0, 200), end_px=(640, 200))
    pipeline = SourcePipeline(
        device_id="box",
        source=scene,
        detector=detector,
        camera=CameraPlan(tracker=ByteTrackConfig(), lines=[line]),
        interval_s=5.0,
        store=store,
    )  # fmt: skip
    return pipeline.run()


def test_store_errors_keep_everything_queued_until_it_works(tmp_path: Path) -> None:
    with FlakyStore(tmp_path / "s.sqlite") as store:
        result = run_with_store(FlakyDetector(fail_on=set()), store)
        stored = store.summaries()
        assert store.event_count() == 1  # the crossing (near frame 45) survived the failed write
    assert result.unwritten == 0 and result.summary_count == 3
    assert [s["seq"] for s in stored] == [1, 2, 3]
    assert [s["frames"] for s in stored] == [75, 75, 30]
    assert sum(s["counts"]["l"]["in"].get("car", 0) for s in stored) == 1


def test_summary_of_a_source_stopped_by_errors_is_well_formed(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(DeviceError):
            run_with_store(FlakyDetector(fail_on=set(range(26, 1000))), store)
        stored = store.summaries()
    assert [(s["frames"], s["frame_errors"]) for s in stored] == [(26, 49), (0, 1)]
    for s in stored:
        assert s["interval_end"] > s["interval_start"], s
    assert stored[-1]["partial"] is True
