"""``annotate: {clips_dir: ...}``: one annotated MP4 per alarm, with the seconds before it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import pytest
from conftest import make_detections

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.annotate_config import AnnotateConfig
from carbonedge.runtime.base.stage import STAGES, Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Detections, Frame, Packet
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.stages import STAGE_ORDER
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.base import Detector

FPS = 10
ALARM_FRAMES = (30, 34, 80)  # a start, another one during its clip, a later one


@dataclass(frozen=True)
class ToyAlarm:
    status: str
    frame: int


class AlarmAt(Stage):
    """Stores alarms at once (``emit_now``) as the fire stage does; an "update" is no start."""

    name = "toy_alarm"

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> Stage:
        return cls()

    def process(self, packet: Packet) -> Packet:
        if packet.frame.index in ALARM_FRAMES:
            self.context.emit_now([ToyAlarm("start", packet.frame.index)])
        elif packet.frame.index == 40:
            self.context.emit_now([ToyAlarm("update", 40)])
        return packet


class OneBox(Detector):
    name = "toy"
    class_names = ("car",)

    def detect(self, frame: Frame, roi_xyxy: Any = None) -> Detections:
        return make_detections([[300, 100, 340, 130]], confidence=[0.9])


@pytest.fixture
def alarm_stage():
    register_stage(AlarmAt)
    yield ("toy_alarm", *STAGE_ORDER)
    STAGES._stages.pop("toy_alarm", None)


def _frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n


def test_each_alarm_gets_a_clip_with_the_seconds_before_and_after(tmp_path: Path,
                                                                  alarm_stage) -> None:  # fmt: skip
    config = AnnotateConfig(clips_dir=tmp_path / "clips", clip_before_s=1.0, clip_after_s=1.0,
                            queue_frames=1024)  # fmt: skip
    pipeline = SourcePipeline(
        device_id="box", source=SyntheticScene(SyntheticSceneConfig(id="cam", duration_s=12,
                                                                    fps=FPS)),
        detector=OneBox(), interval_s=60.0, stage_order=alarm_stage,
        camera=CameraPlan(lines=[LineConfig(id="l", start_px=(0, 200), end_px=(640, 200))],
                          annotate=config),
    )  # fmt: skip
    result = pipeline.run()
    assert result.frames == 12 * FPS
    clips = sorted((tmp_path / "clips").glob("*.mp4"), key=lambda p: int(p.stem.split("-f")[1]))
    assert [p.stem.split("-f")[1] for p in clips] == ["30", "80"]
    assert all(p.name.startswith("cam-toy-") for p in clips)
    # 1 s before (10 frames), the alarm frame + 1 s; the alarm at 34 extends it to 34 + 10
    assert _frames(clips[0]) == 10 + (34 + 10 - 30)
    assert _frames(clips[1]) == 10 + 10
    assert sorted(pipeline.stage("annotate").outputs.clips) == sorted(clips)
    cap = cv2.VideoCapture(str(clips[1]))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (360, 640, 3)
