"""``bench_nonmodel`` measures the pipeline ``carbonedge run`` builds for a camera with one line and
default settings (nothing here asserts a speed): the default stages are all there and timed, the
model time is only inside ``session.run``, and the patched methods are put back afterwards."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from carbonedge.benchmarks import bench_nonmodel as bench
from carbonedge.vision.detectors import picodet

DEFAULT_STAGES = ("light_profile", "motion_gate", "roi", "zoom", "detect", "road_classes", "track",
                  "riders", "size_classes", "analytics", "modal_split")  # fmt: skip


@pytest.mark.slow  # the default detector on 40 frames of the highway clip (~10 s)
def test_the_default_pipeline_is_measured_stage_by_stage(
    shared_dir: Path, with_model_dir: Path
) -> None:
    run_before = ort.InferenceSession.run
    decode_nms_before = picodet.PicodetDetector.__dict__["_decode_nms"]
    clip = shared_dir / "media" / "traffic" / bench.HIGHWAY
    res = bench.measure(clip, bench.HIGHWAY_LINE, 40, stages=True)
    assert res["frames"] == 40 and res["detector_calls"] >= 1
    ms = res["ms"]
    assert {f"stage {name}" for name in DEFAULT_STAGES} <= set(ms)
    assert "stage length_classes" not in ms and "stage exclusion" not in ms  # not by default
    for key in ("frame (all of it)", "model (session.run)", "  preprocess", "  decode + NMS"):
        assert ms[key]["cpu_ms"] > 0 and ms[key]["wall_ms"] > 0, key
    frame, model = ms["frame (all of it)"], ms["model (session.run)"]
    assert ms["stage detect"]["wall_ms"] > model["wall_ms"] > 0
    assert ms["NON-MODEL (frame - model)"]["wall_ms"] == pytest.approx(
        frame["wall_ms"] - model["wall_ms"]
    )
    assert ort.InferenceSession.run is run_before
    assert picodet.PicodetDetector.__dict__["_decode_nms"] is decode_nms_before
    text = bench.format_pass("highway", res)
    assert "stage detect" in text.splitlines()[5 + DEFAULT_STAGES.index("detect")]


def test_the_default_site_has_only_the_defaults(tmp_path: Path) -> None:
    config = bench.default_site(tmp_path / "clip.avi", bench.HIGHWAY_LINE, tmp_path)
    camera = config.cameras["cam"]
    assert config.detector.type == "picodet" and camera.detector == config.detector
    assert camera.detector.roi == "auto" and camera.detector.input_fit
    assert camera.profiles.enabled and camera.gating.enabled
    assert [line.id for line in camera.lines] == ["line"]


def test_the_default_model_is_named_as_a_user_names_it(with_model_dir: Path, tmp_path) -> None:
    assert bench.default_model(with_model_dir.parent) is None  # found in the model folder
    path = str(with_model_dir / bench.MODEL)
    config = bench.default_site(tmp_path / "clip.avi", bench.HIGHWAY_LINE, tmp_path, path)
    assert config.detector.model == path and config.detector.type == "picodet"
