"""``carbonedge check``: every model and source opened for real, one ok/failed line each.

One site config holds every bad input as its own camera (real files made in tmp: a video written
with OpenCV, a PNG, garbage bytes, an MP4 cut before its index, a classifier ONNX model), so one
real ``carbonedge check`` process reports them all; each test reads its own line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

WIDTH, HEIGHT = 320, 240


def carbonedge(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)  # fmt: skip


def write_video(path: Path, frames: int = 12) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for i in range(frames):
        image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        cv2.rectangle(image, (10 + 10 * i, 50), (60 + 10 * i, 90), (200, 200, 200), -1)
        writer.write(image)
    writer.release()
    return path


def write_classifier(path: Path) -> Path:
    """A real ONNX image classifier: [1, 3, 224, 224] -> [1, 1000] (the wrong kind of model)."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 224, 224])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])
    w = numpy_helper.from_array(np.zeros((3, 1000), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("MatMul", ["f", "w"], ["logits"])],
        "classifier", [x], [y], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


LINE_OK = "{id: l1, start_px: [0, 120], end_px: [320, 120]}"
LINE_OUT = "{id: l2, start_px: [0, 120], end_px: [999, 120]}"


def site_yaml(tmp: Path) -> str:
    video = write_video(tmp / "clip.mp4")
    cv2.imwrite(str(tmp / "still.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    (tmp / "garbage.mp4").write_bytes(b"\x00\x01garbage" * 2000)
    (tmp / "cut.mp4").write_bytes(video.read_bytes()[:600])  # head -c 600: no index left
    write_classifier(tmp / "classifier.onnx")

    def cam(name: str, path: str, extra: str = "") -> str:
        return (f"  {name}:\n    source: {{type: video_file, path: {path}}}\n"
                f"    lines: [{LINE_OK}]\n{extra}")  # fmt: skip

    return (
        "device_id: check-box\ndetector: {type: motion}\ncameras:\n"
        + cam("good", "clip.mp4")
        + cam("missing_video", "nowhere.mp4")
        + cam("png", "still.png")
        + cam("garbage", "garbage.mp4")
        + cam("cut", "cut.mp4")
        + f"  outside:\n    source: {{type: video_file, path: clip.mp4}}\n"
        f"    lines: [{LINE_OK}, {LINE_OUT}]\n"
        + cam("wrong_kind", "clip.mp4", "    detector: {type: yolox, model: ./classifier.onnx}\n")
        + cam("no_model", "clip.mp4", "    detector: {type: yolox, model: nowhere.onnx}\n")
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    tmp = tmp_path_factory.mktemp("check")
    (tmp / "site.yaml").write_text(site_yaml(tmp))
    env = {"CARBONEDGE_MODEL_DIR": str(tmp / "models"), "XDG_CACHE_HOME": str(tmp / "cache")}
    proc = carbonedge("check", "site.yaml", cwd=tmp, env=env)
    by_subject = {}
    for line in proc.stdout.splitlines():
        subject, _, rest = line.partition(": ")
        by_subject[subject] = rest
    return proc, by_subject


def line_of(by_subject: dict[str, str], start: str) -> str:
    found = [f"{k}: {v}" for k, v in by_subject.items() if k.startswith(start)]
    assert len(found) == 1, (start, by_subject)
    return found[0]


def test_check_exits_1_and_counts_the_failures(checked) -> None:
    proc, _ = checked
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "site.yaml: 4 of 11 checks ok, 7 FAILED" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("subject", "fragments"),
    [
        ("source good ", ("ok: 320x240", "12 frames", "read 5 frames")),
        ("detector motion ", ("ok: no model file needed",)),
        ("source missing_video ", ("failed:", "nowhere.mp4 does not exist")),
        ("source png ", ("failed:", "still.png is an image (PNG), not a video")),
        ("source garbage ", ("failed:", "garbage.mp4 is not a readable video")),
        ("source cut ", ("failed:", "cut.mp4 is not a readable video", "truncated")),
        ("source outside ", ("failed:", "line l2 end_px (999, 120) is outside the 320x240 frame")),
        ("model ./classifier.onnx ", ("failed:", "classifier.onnx", "is this a YOLOX model?")),
        ("model nowhere.onnx ", ("failed:", "model 'nowhere.onnx' not found")),
    ],
)  # fmt: skip
def test_each_input_has_one_clear_line(checked, subject: str, fragments: tuple[str, ...]) -> None:
    _, by_subject = checked
    line = line_of(by_subject, subject)
    for fragment in fragments:
        assert fragment in line, line


def test_a_model_of_the_wrong_detector_family_fails(tmp_path: Path, shared_dir: Path) -> None:
    """A real PicoDet model given as the YOLOX detector; a real clip with a line below its frame."""
    clip = shared_dir / "media/traffic/highway_cdnet_320x240.avi"
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ndetector: {type: yolox, model: picodet_s_416_coco.onnx}\ncameras:\n"
        f"  hw:\n    source: {{type: video_file, path: {clip}}}\n"
        "    lines: [{id: low, start_px: [0, 250], end_px: [320, 250]}]\n"
    )
    proc = carbonedge("check", "site.yaml", cwd=tmp_path,
                      env={"CARBONEDGE_MODEL_DIR": str(shared_dir / "models")})  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    model = line_of(dict(ln.split(": ", 1) for ln in proc.stdout.splitlines()), "model ")
    assert "failed:" in model and "picodet_s_416_coco.onnx" in model and "YOLOX" in model
    assert "line low start_px (0, 250) is outside the 320x240 frame" in proc.stdout


def test_the_highway_example_checks_ok(shared_dir: Path) -> None:
    from conftest import REPO_ROOT

    proc = carbonedge("check", "runtime/examples/highway.yaml", cwd=REPO_ROOT,
                      env={"CARBONEDGE_MODEL_DIR": str(shared_dir / "models"),
                           "CARBONEDGE_SHARED_DIR": str(shared_dir)})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model yolox_nano_416.onnx (detector yolox, cameras highway): ok:" in proc.stdout
    assert "2 of 2 checks ok" in proc.stdout
