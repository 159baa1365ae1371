"""``carbonedge quantize``: a loadable INT8 model from 8 site frames, and the printed check.

Kept small: the model is rewritten to 128x320 first, calibration uses 8 frames of the highway clip
saved as images, the check runs over the first 150 frames. No timing is asserted, only that the
speed ratio is printed.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import onnx
import pytest

from carbonedge.runtime.cli import main
from carbonedge.runtime.model_check import read_frames
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector
from carbonedge.vision.quantize import output_tail

CLIP = Path("media") / "traffic" / "highway_cdnet_320x240.avi"


@pytest.fixture()
def site_frames(shared_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(read_frames(shared_dir / CLIP, 8, step=200)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    return folder


@pytest.mark.slow
def test_quantize_writes_a_loadable_model_and_prints_the_check(
    with_model_dir, shared_dir, site_frames, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CARBONEDGE_PROGRESS_EVERY_S", "0.1")
    out = tmp_path / "int8.onnx"
    clip = shared_dir / CLIP
    argv = ["quantize", "yolox_nano_416.onnx", "--frames", str(site_frames), "--out", str(out),
            "--input-hw", "128", "320", "--calibration-frames", "8", "--check", str(clip),
            "--line-y", "150", "--check-frames", "150"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert f"wrote {out}" in text and "8 calibration frames" in text
    progress = [ln for ln in captured.err.splitlines() if ln.startswith("quantize: ")]
    assert any("quantizing (percentile calibration on 8 frames)" in ln for ln in progress)
    assert any(re.search(r"counting on highway_cdnet_320x240\.avi with INT8 .* \d+/1700 ", ln)
               for ln in progress), progress  # fmt: skip
    rows = {m[0]: m for m in re.findall(r"\| (FP32|INT8) \| 128x320 \| ([\d.]+) \| ([\d.]+)x "
                                        r"\| (\d+) \| (\d+) \|", text)}  # fmt: skip
    assert set(rows) == {"FP32", "INT8"}
    assert rows["FP32"][2] == "1.00" and int(rows["FP32"][4]) > 0 and int(rows["INT8"][4]) > 0
    assert re.search(r"count difference INT8 - FP32: [+-]\d+; detections matched", text)
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ, the default
    # the head's output tail (sigmoid, concat, reshape, transpose) stays in float
    by_name = {n.name: n for n in model.graph.node}
    tail = [by_name[name] for name in output_tail(model)]
    tail_outputs = {
        o
        for n in tail
        if n.op_type in ("Sigmoid", "Concat", "Reshape", "Transpose")
        for o in n.output
    }
    quantized = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert len(tail_outputs) >= 10 and not tail_outputs & quantized
    detector = YoloxDetector(YoloxConfig(model=str(out)))
    assert detector.input_hw == (128, 320)
    detector.warmup()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--check", "x.avi"], "--check needs --line-y"),
        (["--calibration-frames", "0"], "--calibration-frames must be >= 1"),
        (["--frames", "/nonexistent/frames"], "--frames /nonexistent/frames: no such file"),
        (["--input-hw", "100", "320"], "multiples of 32"),
    ],
)
def test_bad_arguments_fail_with_one_line(
    with_model_dir, tmp_path, monkeypatch, capsys, extra, message
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    argv = ["quantize", "yolox_nano_416.onnx", "--frames", str(tmp_path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("carbonedge: error:") and message in err and err.count("\n") == 1


def test_empty_frames_folder_is_named(with_model_dir, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["quantize", "yolox_nano_416.onnx", "--frames", str(empty)]) == 2
    assert f"{empty}: no frames could be read" in capsys.readouterr().err
