"""Detection stride (``detect_fps``, runtime/stride.py): the vehicle stages see every k-th frame,
and the counts and speeds stay those of every frame."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.calibration.ground_plane import GroundPlaneConfig
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.audit_traffic import TRUTH_TO_LINE_DIRECTION
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.stride import detect_stride
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.base import Detector


@pytest.mark.parametrize(
    ("fps", "detect_fps", "every_frame", "stride"),
    [
        (60.0, 12.0, False, 5),
        (30.0, 12.0, False, 2),
        (25.0, 12.0, False, 2),
        (24.0, 12.0, False, 2),
        (15.0, 12.0, False, 1),
        (10.0, 12.0, False, 1),
        (30.0, 10.0, False, 3),  # exact ratios are not floored one short
        (60.0, None, False, 1),
        (60.0, 12.0, True, 1),  # a background model sees every frame
        (0.0, 12.0, False, 1),  # a source that announces no rate
    ],
)
def test_stride_is_the_whole_number_of_frames_per_detection(fps, detect_fps, every_frame, stride):
    assert detect_stride(fps, detect_fps, every_frame) == stride


class SceneTruthDetector(Detector):
    """The synthetic scene's own boxes at the frame's time: what a perfect model would see."""

    name = "truth"
    class_names = ("car",)

    def __init__(self, scene: SyntheticScene, detect_fps: float | None) -> None:
        self.truth, self._detect_fps = scene.ground_truth, detect_fps
        self.frames_seen: list[int] = []

    @property
    def detect_fps(self) -> float | None:
        return self._detect_fps

    def detect(self, frame: Frame, roi_xyxy=None) -> Detections:
        self.frames_seen.append(frame.index)
        boxes = [box for _, box in self.truth.boxes_at(frame.t_mono_s)]
        n = len(boxes)
        return Detections(
            np.asarray(boxes, np.float32).reshape(n, 4),
            np.full(n, 0.9, np.float32),
            np.zeros(n, np.int64),
        )


class OddFramesScene(SyntheticScene):
    """A 60 fps camera whose latest-frame queue dropped every even frame: the pipeline gets
    frames 1, 3, 5, ... (numbered as the camera sent them)."""

    def read(self) -> Frame | None:
        self._index += self._index % 2 == 0
        return super().read()


def run(detect_fps: float | None, scene_type: type = SyntheticScene):
    scene = scene_type(SyntheticSceneConfig(id="road", duration_s=30.0, fps=60.0, seed=5))
    gt = scene.ground_truth
    (x1, y1), (x2, y2) = gt.counting_line_px
    detector = SceneTruthDetector(scene, detect_fps)
    pipeline = SourcePipeline(
        device_id="box",
        source=scene,
        detector=detector,
        camera=CameraPlan(
            lines=[LineConfig(id="line", start_px=(x1, y1), end_px=(x2, y2))],
            ground_plane=GroundPlaneConfig(
                image_to_world=np.linalg.inv(gt.homography_world_to_image).tolist()
            ),
        ),
        interval_s=10.0,
    )
    result = pipeline.run()
    truth = {"in": 0, "out": 0}
    for _, direction, _ in gt.crossings():
        truth[TRUTH_TO_LINE_DIRECTION[direction]] += 1
    return result, detector, truth


def mean_speed_kmh(result) -> float:
    rows = [row for s in result.summaries for row in s.to_dict()["traffic"].values()]
    return sum(r["mean_speed_kmh"] * r["vehicles"] for r in rows) / sum(r["vehicles"] for r in rows)


@pytest.mark.slow  # 2 x 1800 synthetic frames (~25 s)
def test_a_60_fps_camera_at_12_detections_a_second_counts_and_times_as_every_frame() -> None:
    every, every_detector, truth = run(None)
    strided, detector, _ = run(12.0)
    assert sum(truth.values()) >= 10
    assert every_detector.frames_seen == list(range(1800))
    assert detector.frames_seen == list(range(0, 1800, 5))  # every 5th frame
    assert strided.detector_calls == 360 and strided.strided_frames == 1440
    assert strided.frames == every.frames == 1800  # every frame is handled and summarised
    assert sum(s.frames for s in strided.summaries) == 1800
    # the boxes held for the annotated video between strides are not counted again
    assert 4 * strided.detections < every.detections
    for direction in ("in", "out"):
        counted = sum(strided.counts()["line"][direction].values())
        assert counted == sum(every.counts()["line"][direction].values()) == truth[direction]
    # speeds come from timestamps: the same at 12 looks a second as at 60
    assert mean_speed_kmh(strided) == pytest.approx(mean_speed_kmh(every), rel=0.05)
    assert 15 < mean_speed_kmh(strided) < 80


@pytest.mark.parametrize("fps", [10.0, 24.0, 25.0, 29.97, 30.0, 60.0])
def test_tune_tries_every_stride_down_to_5_detections_a_second(fps) -> None:
    from carbonedge.runtime.tune_result import Candidate
    from carbonedge.runtime.tune_stride import stride_candidates

    base = Candidate("yolox frame", {"type": "yolox", "detect_fps": None}, (320, 416))
    tried = stride_candidates(base, fps)
    assert [detect_stride(fps, c.detector["detect_fps"]) for c in tried] == list(
        range(2, int(fps // 5) + 1)
    )
    assert all(c.input_hw == (320, 416) and c.detector["type"] == "yolox" for c in tried)
    assert [c.name for c in tried[:1]] == (["yolox frame every 2"] if fps >= 10 else [])


@pytest.mark.slow  # 900 synthetic frames
def test_a_live_camera_that_dropped_frames_still_detects_at_its_rate() -> None:
    """Frames 1, 3, 5, ... arrive (1/30 s apart); at detect_fps 25 (1 frame in 2 of a 60 fps
    camera) every one of them goes through the vehicle stages: the stride goes by timestamps,
    not by frame numbers (every 2nd frame NUMBER would be none of them)."""
    result, detector, truth = run(25.0, OddFramesScene)
    assert detector.frames_seen == list(range(1, 1800, 2))
    assert result.strided_frames == 0 and result.frames == 900
    for direction in ("in", "out"):
        assert sum(result.counts()["line"][direction].values()) == truth[direction]


def test_stride_takes_frames_by_timestamp() -> None:
    from carbonedge.runtime.stride import Stride

    stride = Stride(30.0, 10.0)  # 1 frame in 3
    assert stride.k == 3
    # a file: 0, 3, 6; jitter of a quarter frame does not shift the rhythm
    assert [i for i in range(9) if stride.take(i / 30 + (0.008 if i % 2 else 0.0))] == [0, 3, 6]
    assert stride.take(0.5) is True and stride.take(0.55) is False and stride.take(0.6) is True
    # the clock goes back (the source restarted): that frame is taken, and the rhythm restarts
    assert stride.take(0.1) is True and stride.take(0.12) is False and stride.take(0.19) is True
    every = Stride(30.0, None)
    assert every.k == 1 and all(every.take(t) for t in (0.0, 0.0, 0.01))
