"""Smaller model inputs, the ROI crop and the FLOP count.

The real YOLOX-nano (../shared) rewritten to 256x320 must find the same boxes as the 416x416
export on the same picture; a crop must map back to full-frame pixels exactly; graphs that hard-code
their anchor count are refused; the FLOP count matches a hand count on graphs built here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import make_frame
from onnx import TensorProto, helper, numpy_helper
from pydantic import ValidationError

from carbonedge.benchmarks.model_flops import achieved, count_flops, cpu_peak
from carbonedge.kernels import decode_yolox
from carbonedge.kernels.preprocess import LetterboxInfo
from carbonedge.runtime.base.errors import ModelError
from carbonedge.runtime.base.types import Detections
from carbonedge.runtime.model_check import match_detections, read_frames
from carbonedge.vision.detectors import model_variants, roi
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector

CLIP = Path("media") / "traffic" / "highway_cdnet_320x240.avi"


@pytest.fixture(scope="module")
def busy_frame(shared_dir: Path) -> np.ndarray:
    """Frame 300 of the highway clip: several cars on both lanes."""
    return read_frames(shared_dir / CLIP, 301)[-1]


def _yolox_raw(model: Path, image: np.ndarray, canvas_hw: tuple[int, int]) -> Detections:
    """Detections of ``model`` on ``image`` pasted unscaled top-left into a 114-grey canvas."""
    canvas = np.full((*canvas_hw, 3), 114, np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    raw = session.run(None, {session.get_inputs()[0].name: tensor})[0]
    mask = np.zeros(80, bool)
    mask[[2, 3, 5, 7]] = True
    xyxy, score, cls, _ = decode_yolox(
        raw, canvas_hw, LetterboxInfo(1.0, 1.0, 0.0, 0.0), image.shape[:2],
        score_threshold=0.3, class_mask=mask,
    )  # fmt: skip
    keep = score >= 0.5  # confident boxes only: borderline ones flicker with the padding
    return Detections(xyxy[keep], score[keep], cls[keep])


def test_resized_model_finds_the_same_boxes(model_dir, variant_cache, busy_frame) -> None:
    source = model_dir / "yolox_nano_416.onnx"
    small = model_variants.resized_model(source, (256, 320))
    assert small.parent == model_variants.variants_dir() and small.parent != model_dir
    assert small.name.startswith("yolox_nano_416-695e750a5d5754bb-256x320")
    session = ort.InferenceSession(str(small), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 256, 320]
    big = _yolox_raw(source, busy_frame, (416, 416))
    ours = _yolox_raw(small, busy_frame, (256, 320))
    assert len(big) >= 3
    matched, mean_iou = match_detections(big, ours, iou_min=0.8)
    assert matched >= len(big) - 1 and len(ours) <= len(big) + 1
    assert mean_iou > 0.9


def test_variant_is_cached_by_hash_and_size(model_dir, variant_cache) -> None:
    source = model_dir / "yolox_nano_416.onnx"
    first = model_variants.resized_model(source, (128, 320))
    stamp = first.stat().st_mtime_ns
    assert model_variants.resized_model(source, (128, 320)) == first
    assert first.stat().st_mtime_ns == stamp  # not rewritten
    assert model_variants.resized_model(source, (160, 320)) != first


def test_detector_input_hw_rewrites_a_fixed_model(with_model_dir, variant_cache) -> None:
    detector = YoloxDetector(YoloxConfig(input_hw=(128, 320)))
    assert detector.input_hw == (128, 320)
    assert detector.session_path.parent == model_variants.variants_dir()
    assert detector.model_path.name == "yolox_nano_416.onnx"
    detector.warmup()


def test_roi_detections_map_back_to_the_frame_exactly(with_model_dir, busy_frame) -> None:
    plain = YoloxDetector(YoloxConfig(input_fit=False))  # the square input, crop or not
    # a 320x128 band grows about its centre to the 416x416 input's 1:1 aspect, as far as the
    # frame allows: here that is the whole frame, so there is no crop at all
    band = YoloxDetector(YoloxConfig(roi=(0, 86, 320, 214), input_fit=False))
    assert roi.fit_aspect((0, 86, 320, 214), (240, 320), (416, 416)) == (0, 0, 320, 240)
    assert band.roi_box((240, 320)) is None
    # a crop that keeps the input's aspect ratio: crop-then-shift is exact
    square = YoloxDetector(YoloxConfig(roi=(40, 20, 240, 220), input_fit=False))
    box = square.roi_box((240, 320))
    assert box == (40, 20, 240, 220)
    shifted = plain.detect(make_frame(busy_frame), box)
    alone = plain.detect(make_frame(np.ascontiguousarray(busy_frame[20:220, 40:240])))
    assert len(alone) >= 1
    np.testing.assert_array_equal(shifted.xyxy, alone.xyxy + np.float32([40, 20, 40, 20]))
    np.testing.assert_array_equal(shifted.class_id, alone.class_id)
    np.testing.assert_array_equal(  # the detector's own roi setting plays no part in detect
        square.detect(make_frame(busy_frame)).xyxy, plain.detect(make_frame(busy_frame)).xyxy
    )


def test_roi_auto_uses_the_lines(with_model_dir, variant_cache, shared_dir) -> None:
    """Boxes near the line (what the counter looks at) are found in the 128x320 crop too."""
    detector = YoloxDetector(YoloxConfig(input_hw=(128, 320), roi="auto", roi_margin_px=64))
    lines = [np.array([[0.0, 150.0], [320.0, 150.0]])]
    whole_frame = YoloxDetector(YoloxConfig())
    near_line = 0
    for image in read_frames(shared_dir / CLIP, 261)[240::5]:
        frame = make_frame(image)
        box = detector.roi_box(frame.shape_hw, lines)
        assert box == (0, 86, 320, 214)
        found = detector.detect(frame, box)
        assert found.xyxy[:, 1].min(initial=86) >= 86 and found.xyxy[:, 3].max(initial=0) <= 214
        whole = whole_frame.detect(frame)
        for xyxy in whole.xyxy[np.abs(whole.xyxy[:, 3] - 150) < 20]:  # bottom near the line
            near_line += 1
            bottom_centre = np.array([(xyxy[0] + xyxy[2]) / 2, xyxy[3]])
            ours = np.stack([(found.xyxy[:, 0] + found.xyxy[:, 2]) / 2, found.xyxy[:, 3]], 1)
            assert np.abs(ours - bottom_centre).max(axis=1).min(initial=1e9) < 15
    assert near_line >= 2


@pytest.mark.parametrize(
    ("regions", "margin", "frame_hw", "expected"),
    [
        ([[[0, 150], [320, 150]]], 64, (240, 320), (0, 86, 320, 214)),
        ([[[10.5, 20.2], [30.1, 40.9]]], 0, (240, 320), (10, 20, 31, 41)),
        ([[[0, 150], [320, 150]], [[100, 20], [120, 30], [110, 40]]], 10, (240, 320),
         (0, 10, 320, 160)),
        ([[[0, 150], [320, 150]]], (0, 88, 0, 40), (240, 320), (0, 62, 320, 190)),
        ([], 10, (240, 320), None),
    ],
)  # fmt: skip
def test_auto_roi(regions, margin, frame_hw, expected) -> None:
    assert roi.auto_roi([np.asarray(r) for r in regions], frame_hw, margin) == expected


@pytest.mark.parametrize(
    ("box", "frame_hw", "input_hw", "expected"),
    [
        ((0, 86, 320, 214), (240, 320), (128, 320), (0, 86, 320, 214)),  # already 2.5:1
        ((100, 100, 140, 120), (240, 320), (128, 320), (95, 100, 145, 120)),  # widened
        ((0, 100, 320, 120), (240, 320), (256, 320), (0, 0, 320, 240)),  # clipped at the frame
        ((300, 0, 320, 20), (240, 320), (128, 320), (270, 0, 320, 20)),  # shifted back inside
    ],
)
def test_fit_aspect(box, frame_hw, input_hw, expected) -> None:
    assert roi.fit_aspect(box, frame_hw, input_hw) == expected


def test_to_frame_xyxy_is_exact() -> None:
    xyxy = np.array([[0.25, 1.5, 10.125, 20.0]], np.float32)
    assert roi.to_frame_xyxy(xyxy.copy(), (7, 86, 100, 200)).tolist() == [
        [7.25, 87.5, 17.125, 106.0]
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input_hw": (250, 320)}, "multiples of 32"),
        ({"input_hw": (256, 330)}, "multiples of 32"),
        ({"input_hw": (16, 320)}, "greater than or equal to 32"),
        ({"roi": (0, 0, 320)}, "tuple"),
        ({"roi": (10, 0, 5, 20)}, "x1 > x0"),
        ({"roi": (-1, 0, 5, 20)}, "must not start left of"),
        ({"roi": "everywhere"}, "auto"),
        ({"roi_margin_px": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_config_is_named(fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        YoloxConfig(**fields)


def test_roi_outside_the_frame_is_refused(with_model_dir) -> None:
    detector = YoloxDetector(YoloxConfig(roi=(400, 300, 500, 400)))
    with pytest.raises(ValueError, match=r"^roi \[400, 300, 500, 400\] lies outside the 320x240"):
        detector.roi_box((240, 320))
    with pytest.raises(ValueError, match=r"^frame cam#0: roi \[400, 300, 500, 400\] is not inside"):
        detector.detect(make_frame(), (400, 300, 500, 400))


def test_input_hw_needs_the_strides(with_model_dir, variant_cache) -> None:
    with pytest.raises(ValidationError, match="multiples of 32"):
        YoloxConfig(input_hw=(100, 100))


# --- graphs built here ---------------------------------------------------------------------------
def _tiny_head(path: Path, reshape_to: list[int], size: int = 64) -> Path:
    """A YOLO-like graph: one stride-32 Conv to 4 channels, flattened to [1, 4, cells]."""
    weight = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32) * 1e-3
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["images", "w"], ["f"], strides=[32, 32]),
            helper.make_node("Reshape", ["f", "shape"], ["output"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, (size // 32) ** 2])],
        initializer=[
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.array(reshape_to, np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_rewrite_refuses_a_hard_coded_anchor_count(tmp_path, variant_cache) -> None:
    fixed = _tiny_head(tmp_path / "fixed.onnx", [1, 4, 16], size=128)  # 4x4 cells hard-coded
    with pytest.raises(ModelError, match=r"fixed.onnx: cannot run at 64x96: .*Reshape.*re-export"):
        model_variants.resized_model(fixed, (64, 96), strides=(32,))
    free = _tiny_head(tmp_path / "free.onnx", [1, 4, -1], size=128)
    out = model_variants.resized_model(free, (64, 96), strides=(32,))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    result = session.run(None, {"images": np.zeros((1, 3, 64, 96), np.float32)})[0]
    assert result.shape == (1, 4, 6)
    with pytest.raises(ModelError, match="must be a multiple of 32 px"):
        model_variants.resized_model(free, (64, 100), strides=(32,))


def test_flop_count_matches_a_hand_count() -> None:
    """Dense 3x3 conv, depthwise 3x3, grouped 1x1 (2 groups), Gemm and MatMul on a tiny graph."""
    rng = np.random.default_rng(1)

    def w(name, *shape):
        return numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),  # 3->8, 3x3, 16x16
        helper.make_node("Conv", ["a", "w2"], ["b"], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
        helper.make_node("Conv", ["b", "w3"], ["c"], group=2),  # 8->4, 1x1, 8x8
        helper.make_node("Flatten", ["c"], ["d"]),  # (1, 256)
        helper.make_node("Gemm", ["d", "w4"], ["e"]),  # (1, 256) x (256, 10)
        helper.make_node("MatMul", ["e", "w5"], ["y"]),  # (1, 10) x (10, 5)
    ]
    graph = helper.make_graph(
        nodes, "flops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        initializer=[w("w1", 8, 3, 3, 3), w("w2", 8, 1, 3, 3), w("w3", 4, 4, 1, 1),
                     w("w4", 256, 10), w("w5", 10, 5)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    dense = 2 * (8 * 16 * 16) * (3 * 3 * 3)  # outputs x (Cin/g * kh * kw) multiply-adds
    depthwise = 2 * (8 * 8 * 8) * (1 * 3 * 3)
    grouped = 2 * (4 * 8 * 8) * (4 * 1 * 1)
    assert count_flops(model) == {
        "Conv": dense + depthwise + grouped,
        "Gemm": 2 * 10 * 256,
        "MatMul": 2 * 5 * 10,
        "total": dense + depthwise + grouped + 2 * 10 * 256 + 2 * 5 * 10,
    }


@pytest.mark.parametrize(
    ("flags", "vendor", "family", "lanes", "int8"),
    [
        ("fma avx2 avx512f avx512_vnni", "AuthenticAMD", "25", 8, 4),  # Zen 4: 2x256-bit
        ("fma avx2 avx512f avx512_vnni", "GenuineIntel", "6", 16, 4),
        ("fma avx2", "GenuineIntel", "6", 8, 2),
        ("sse4_2", "GenuineIntel", "6", 4, 2),
    ],
)
def test_cpu_peak_formula(flags, vendor, family, lanes, int8) -> None:
    text = (
        f"vendor_id\t: {vendor}\ncpu family\t: {family}\ncpu MHz\t\t: 2500.000\nflags\t: {flags}\n"
    )
    peak = cpu_peak(2, text)
    assert (peak.fp32_lanes, peak.int8_factor) == (lanes, int8)
    assert peak.fp32_gflops == pytest.approx(2 * 2.5 * 2 * lanes * 2)
    assert peak.int8_gops == pytest.approx(peak.fp32_gflops * int8)
    assert achieved(10**9, 10.0, 200.0) == pytest.approx((100.0, 0.5))
