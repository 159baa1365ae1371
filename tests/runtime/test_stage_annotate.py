"""Stage "annotate" (issue 29): an MP4 of what was counted, written on its own thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import make_detections

import carbonedge.vision.annotate as annotate_module
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.stages import STAGE_ORDER, annotate
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.base import Detector

FPS = 15
LINE = LineConfig(id="l", start_px=(0, 200), end_px=(640, 200))


class DownwardBox(Detector):
    """One box moving down 4 px per frame (crosses the line at y=200 around frame 42)."""

    name = "toy"
    class_names = ("car",)

    def detect(self, frame: Frame, roi_xyxy: Any = None) -> Detections:
        y = 4.0 * frame.index
        return make_detections([[300, y, 340, y + 30]], confidence=[0.9])


def _run(annotate_path: Path | None, duration_s: float = 6.0) -> tuple[SourcePipeline, Any]:
    scene = SyntheticScene(SyntheticSceneConfig(id="s", duration_s=duration_s, fps=FPS))
    pipeline = SourcePipeline(
        device_id="box", source=scene, detector=DownwardBox(),
        camera=CameraPlan(lines=[LINE], annotate_path=annotate_path), interval_s=60.0,
    )  # fmt: skip
    return pipeline, pipeline.run()


def _decode(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames, fps


def _magenta(image: np.ndarray) -> np.ndarray:
    """Pixels near the line colour (the MP4 is lossy)."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return (b > 180) & (r > 180) & (g < 90)


def test_the_stage_sits_after_modal_split_and_is_not_built_by_default() -> None:
    assert STAGE_ORDER.index("annotate") == STAGE_ORDER.index("modal_split") + 1
    pipeline, _ = _run(None, duration_s=1.0)
    assert pipeline.stage("annotate") is None


def test_the_video_has_every_frame_with_the_line_and_the_boxes_drawn(tmp_path: Path) -> None:
    path = tmp_path / "out" / "annotated.mp4"  # the folder is made
    pipeline, result = _run(path)
    stage = pipeline.stage("annotate")
    assert stage is not None and stage.dropped == 0
    frames, fps = _decode(path)
    assert len(frames) == result.frames == stage.written == 6 * FPS
    assert fps == pytest.approx(FPS)
    assert frames[0].shape[:2] == (360, 640)
    for image in frames[::10]:
        assert _magenta(image[195:206, 400:640]).any(axis=0).mean() > 0.9  # the line at y=200
    box_frame = frames[20]  # the box at y 80..110, x 300..340: a coloured outline there
    outline = box_frame[75:115, 295:345].astype(int)
    assert (np.abs(outline - box_frame[150:190, 100:150].astype(int)).max(axis=-1) > 60).any()
    # the counts the stage drew are the run's counts
    assert result.counts()["l"]["in"] == {"car": 1}
    assert stage.line_counts == {"l": {"in": {"car": 1}, "out": {}}}


def test_a_slow_writer_drops_frames_and_never_blocks_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = annotate_module.annotate_frame

    def slow(*args: Any, **kw: Any) -> np.ndarray:
        time.sleep(0.05)
        return real(*args, **kw)

    monkeypatch.setattr(annotate_module, "annotate_frame", slow)
    monkeypatch.setattr(annotate, "QUEUE_FRAMES", 2)
    path = tmp_path / "annotated.mp4"
    pipeline, result = _run(path, duration_s=4.0)
    stage = pipeline.stage("annotate")
    assert stage.dropped > 0
    assert stage.written + stage.dropped == result.frames == 4 * FPS
    assert result.annotate_dropped == stage.dropped  # the run's figure (printed, /metrics)
    frames, _ = _decode(path)
    assert len(frames) == stage.written  # what was queued was flushed at close
    assert result.counts()["l"]["in"] == {"car": 1}  # counting unaffected


def test_a_folder_that_cannot_be_made_fails_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="annotated video .*cannot make its folder"):
        _run(blocker / "annotated.mp4", duration_s=1.0)


def test_a_video_that_cannot_be_written_is_logged_and_counting_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "annotated.mp4"
    path.mkdir()  # a folder where the file should go: the writer cannot open it
    pipeline, result = _run(path, duration_s=4.0)
    assert pipeline.stage("annotate").written == 0
    assert "no more frames written" in caplog.text
    assert result.counts()["l"]["in"] == {"car": 1}
