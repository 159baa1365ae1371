"""Parity and validation tests of the YOLO decoders (and the fused YOLOX decode + NMS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carbonedge.kernels import (
    LetterboxInfo,
    YoloxDecodeNms,
    decode_nms_yolox,
    decode_yolo_v8,
    decode_yolox,
    nms,
)
from carbonedge.kernels import reference as ref

IDENTITY = LetterboxInfo(1.0, 1.0, 0.0, 0.0)


def make_yolox_raw(
    input_hw: tuple[int, int], nc: int, seed: int, strides: tuple = (8, 16, 32)
) -> np.ndarray:
    """(A, 5+nc) float32 resembling a YOLOX output: most objectness and class scores small."""
    rng = np.random.default_rng(seed)
    a = sum((input_hw[0] // s) * (input_hw[1] // s) for s in strides)
    raw = np.empty((a, 5 + nc), np.float32)
    raw[:, :2] = rng.uniform(-0.5, 1.5, (a, 2))
    raw[:, 2:4] = rng.normal(0.5, 1.0, (a, 2))
    raw[:, 4] = rng.random(a) ** 3
    raw[:, 5:] = rng.random((a, nc)) ** 4
    raw[::11, 5 + nc // 2] = raw[::11, 5]  # class-score ties
    raw[0, 4:6] = (0.95, 0.9)  # at least one confident anchor (class 0)
    return raw


def make_v8_raw(a: int, nc: int, seed: int, input_px: float = 640.0) -> np.ndarray:
    """(4+nc, A) float32 resembling a YOLOv8 output (cx, cy, w, h in input px, class scores)."""
    rng = np.random.default_rng(seed)
    raw = np.empty((4 + nc, a), np.float32)
    raw[0:2] = rng.uniform(-20, input_px + 20, (2, a))
    raw[2:4] = rng.uniform(1, 200, (2, a))
    raw[4:] = rng.random((nc, a)) ** 6
    raw[4 + nc // 2, ::13] = raw[4, ::13]
    return raw


def assert_same(ours: tuple, expected: tuple) -> None:
    xyxy, score, cls, row = ours
    assert (xyxy.dtype, score.dtype, cls.dtype, row.dtype) == (
        np.float32,
        np.float32,
        np.int32,
        np.int32,
    )
    assert xyxy.shape == (len(row), 4)
    np.testing.assert_array_equal(row, expected[3])
    np.testing.assert_array_equal(cls, expected[2])
    np.testing.assert_allclose(score, expected[1], rtol=1e-6)
    np.testing.assert_allclose(xyxy, expected[0], rtol=1e-5, atol=1e-3)


# --- YOLOX -------------------------------------------------------------------------------------


def test_yolox_fixed_box() -> None:
    raw = np.zeros((21, 7), np.float32)  # input 32x32: 16 + 4 + 1 anchors, 2 classes
    raw[9] = [0.5, 0.5, math.log(2.0), math.log(1.0), 0.9, 0.2, 0.8]  # stride 8, cell x=1, y=2
    raw[20] = [0.0, 0.0, 0.0, 0.0, 0.5, 0.9, 0.1]  # stride 32, the only cell
    info = LetterboxInfo(0.5, 0.5, 0.0, 4.0)
    xyxy, score, cls, row = decode_yolox(raw, (32, 32), info, (60, 64), score_threshold=0.4)
    assert row.tolist() == [9, 20] and cls.tolist() == [1, 0]
    np.testing.assert_allclose(score, [0.72, 0.45], rtol=1e-6)
    # centre (12, 20), size (16, 8) in input px -> (4, 16, 20, 24) -> image px /0.5 after pad_y 4
    np.testing.assert_allclose(xyxy, [[8, 24, 40, 40], [0, 0, 32, 24]], atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("input_hw", "nc", "strides"),
    [
        ((416, 416), 80, (8, 16, 32)),
        ((64, 96), 3, (8, 16, 32)),
        ((32, 32), 1, (32,)),
        ((48, 80), 11, (8, 16)),
    ],
)
def test_yolox_matches_reference(seed: int, input_hw: tuple, nc: int, strides: tuple) -> None:
    raw = make_yolox_raw(input_hw, nc, seed, strides)
    info = LetterboxInfo(0.65, 0.6, 3.0, 26.0)
    mask = np.random.default_rng(seed).random(nc) < 0.5 if seed % 2 else None
    if mask is not None:
        mask[0] = True
    for threshold in (0.05, 0.3):
        kwargs = dict(score_threshold=threshold, class_mask=mask, strides=strides)
        ours = decode_yolox(raw[None], input_hw, info, (400, 500), **kwargs)
        expected = ref.decode_yolox(raw[None], input_hw, info, (400, 500), **kwargs)
        assert len(ours[3]) > 0
        assert_same(ours, expected)


@pytest.mark.parametrize("seed", range(3))
def test_yolox_matches_reference_outside_sigmoid_range(seed: int) -> None:
    """Negative objectness and class scores above 1 must not confuse the early reject."""
    rng = np.random.default_rng(seed)
    raw = make_yolox_raw((64, 64), 6, seed)
    raw[:, 4] = rng.uniform(-1.0, 1.0, len(raw))
    raw[:, 5:] = rng.uniform(-1.0, 2.0, (len(raw), 6))
    raw[1::2, 5:] = -raw[1::2, 5:] - 1.0  # odd rows: all class scores negative
    for threshold in (-0.5, 0.0, 0.5, 1.5):
        kwargs = dict(score_threshold=threshold)
        ours = decode_yolox(raw, (64, 64), IDENTITY, (64, 64), **kwargs)
        expected = ref.decode_yolox(raw, (64, 64), IDENTITY, (64, 64), **kwargs)
        assert len(ours[3]) > 0
        assert_same(ours, expected)


def test_yolox_clips_to_image_and_respects_mask() -> None:
    raw = make_yolox_raw((64, 64), 4, 7)
    raw[:, 2:4] = 3.0  # huge boxes: every one is clipped
    mask = np.array([False, True, False, True])
    xyxy, _, cls, _ = decode_yolox(
        raw, (64, 64), IDENTITY, (50, 40), score_threshold=0.01, class_mask=mask
    )
    assert len(cls) > 0 and set(cls.tolist()) <= {1, 3}
    assert xyxy[:, [0, 2]].min() >= 0 and xyxy[:, [0, 2]].max() <= 40
    assert xyxy[:, [1, 3]].min() >= 0 and xyxy[:, [1, 3]].max() <= 50
    assert np.any(xyxy[:, 2] == 40)


@pytest.mark.parametrize(
    "kwargs", [{"score_threshold": 2.0}, {"score_threshold": 0.0, "class_mask": np.zeros(4, bool)}]
)
def test_yolox_empty_results(kwargs: dict) -> None:
    raw = make_yolox_raw((32, 32), 4, 1)
    xyxy, score, cls, row = decode_yolox(raw, (32, 32), IDENTITY, (32, 32), **kwargs)
    assert xyxy.shape == (0, 4) and score.shape == cls.shape == row.shape == (0,)
    assert (xyxy.dtype, score.dtype, cls.dtype, row.dtype) == (
        np.float32,
        np.float32,
        np.int32,
        np.int32,
    )


# --- fused YOLOX decode + NMS ------------------------------------------------------------------


def _decode_then_nms(raw, input_hw, info, image_hw, *, iou_threshold, group_of_class, max_det,
                     **kwargs) -> tuple:  # fmt: skip
    """The unfused path of the detector: compiled decode, then compiled grouped NMS."""
    xyxy, score, cls, row = decode_yolox(raw, input_hw, info, image_hw, **kwargs)
    groups = None if group_of_class is None else group_of_class[cls]
    keep = nms(xyxy, score, iou_threshold, group_id=groups, max_det=max_det)
    return xyxy[keep], score[keep], cls[keep], row[keep]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    ("input_hw", "nc", "strides"),
    [((416, 416), 80, (8, 16, 32)), ((64, 96), 3, (8, 16, 32)), ((48, 80), 11, (8, 16))],
)
@pytest.mark.parametrize("max_det", [300, 3])
def test_decode_nms_matches_reference_and_the_unfused_path(
    seed: int, input_hw: tuple, nc: int, strides: tuple, max_det: int
) -> None:
    raw = make_yolox_raw(input_hw, nc, seed, strides)
    raw[:, 2:4] += 1.5  # big boxes: plenty of overlap for NMS to suppress
    rng = np.random.default_rng(seed)
    mask = rng.random(nc) < 0.6 if seed % 2 else None
    if mask is not None:
        mask[0] = True
    groups = [None, rng.integers(0, 3, nc).astype(np.int32), np.arange(nc, dtype=np.int64)][seed]
    info = LetterboxInfo(0.65, 0.6, 3.0, 26.0)
    for threshold, iou in ((0.05, 0.45), (0.3, 0.7), (0.3, 0.0)):
        kwargs = dict(score_threshold=threshold, class_mask=mask, strides=strides,
                      iou_threshold=iou, group_of_class=groups, max_det=max_det)  # fmt: skip
        ours = decode_nms_yolox(raw[None], input_hw, info, (400, 500), **kwargs)
        unfused = _decode_then_nms(raw, input_hw, info, (400, 500), **kwargs)
        for got, want in zip(ours, unfused, strict=True):
            np.testing.assert_array_equal(got, want)
        assert 0 < len(ours[3]) <= max_det
        assert_same(ours, ref.decode_nms_yolox(raw, input_hw, info, (400, 500), **kwargs))
        assert np.all(np.diff(ours[1]) <= 0)  # by descending score


@pytest.mark.parametrize("seed", range(3))
def test_decode_nms_exact_bound_outside_sigmoid_range(seed: int) -> None:
    """Class scores above 1 need ``class_score_bound=None`` (the bound computed from the data)."""
    rng = np.random.default_rng(seed)
    raw = make_yolox_raw((64, 64), 6, seed)
    raw[:, 4] = rng.uniform(-1.0, 1.0, len(raw))
    raw[:, 5:] = rng.uniform(-1.0, 2.0, (len(raw), 6))
    for threshold in (-0.5, 0.5, 1.5):
        kwargs = dict(score_threshold=threshold, iou_threshold=0.5, class_score_bound=None)
        ours = decode_nms_yolox(raw, (64, 64), IDENTITY, (64, 64), **kwargs)
        assert len(ours[3]) > 0
        assert_same(ours, ref.decode_nms_yolox(raw, (64, 64), IDENTITY, (64, 64), **kwargs))
    # with the default bound (1.0) anchors whose obj alone is below the threshold are skipped
    raw[:, 4] = 0.4
    raw[:, 5:] = 0.0
    raw[7, 5] = 2.0  # 0.4 * 2.0 passes 0.5, but obj * bound = 0.4 does not
    kept = decode_nms_yolox(raw, (64, 64), IDENTITY, (64, 64), score_threshold=0.5,
                            iou_threshold=0.5)  # fmt: skip
    assert kept[3].tolist() == []
    exact = decode_nms_yolox(raw, (64, 64), IDENTITY, (64, 64), score_threshold=0.5,
                             iou_threshold=0.5, class_score_bound=None)  # fmt: skip
    assert exact[3].tolist() == [7]


def test_decode_nms_fixed_groups() -> None:
    """Two overlapping boxes: one suppressed in one group, both kept in different groups."""
    raw = np.zeros((21, 7), np.float32)  # input 32x32: 16 + 4 + 1 anchors, 2 classes
    raw[5] = [0.5, 0.5, math.log(2.0), math.log(2.0), 0.9, 0.9, 0.0]  # class 0, cell (1, 1)
    raw[6] = [0.0, 0.5, math.log(2.0), math.log(2.0), 0.8, 0.0, 0.9]  # class 1, shifted 4 px
    raw[20] = [0.0, 0.0, 0.0, 0.0, 0.5, 0.9, 0.1]  # stride 32, far away, class 0
    common = dict(score_threshold=0.3, iou_threshold=0.45)
    one = decode_nms_yolox(raw, (32, 32), IDENTITY, (32, 32), **common)
    assert one[3].tolist() == [5, 20] and one[2].tolist() == [0, 0]
    apart = decode_nms_yolox(raw, (32, 32), IDENTITY, (32, 32), **common,
                             group_of_class=np.array([0, 1]))  # fmt: skip
    assert apart[3].tolist() == [5, 6, 20] and apart[2].tolist() == [0, 1, 0]
    np.testing.assert_allclose(apart[1], [0.81, 0.72, 0.45], rtol=1e-6)
    np.testing.assert_allclose(apart[0][0], [4, 4, 20, 20], atol=1e-5)
    top = decode_nms_yolox(raw, (32, 32), IDENTITY, (32, 32), **common, max_det=1)
    assert top[3].tolist() == [5]


def test_prepared_decoder_matches_the_function_on_every_input_form() -> None:
    raw = make_yolox_raw((64, 96), 5, 11)
    groups = np.array([0, 0, 1, 1, 2])
    kw = dict(score_threshold=0.1, iou_threshold=0.5, group_of_class=groups)
    plan = YoloxDecodeNms((64, 96), 5, **kw)
    info = LetterboxInfo(0.5, 0.5, 0.0, 6.0)
    expected = decode_nms_yolox(raw, (64, 96), info, (120, 192), **kw)
    readonly = raw.copy()
    readonly.flags.writeable = False
    for form in (raw, raw[None], raw.astype(np.float64), readonly, np.asfortranarray(raw)):
        for got, want in zip(plan(form, info, (120, 192)), expected, strict=True):
            np.testing.assert_array_equal(got, want)
    assert len(expected[3]) > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p(np.zeros((21, 8), np.float32), IDENTITY, (32, 32)), "5 \\+ nc = 7 columns"),
        (lambda p: p(np.zeros((20, 7), np.float32), IDENTITY, (32, 32)), "raw has 20 anchors"),
        (lambda p: p(np.zeros((2, 21, 7), np.float32), IDENTITY, (32, 32)), "leading batch of 1"),
        (lambda p: p(RAW_X, (1, 1, 0, 0), (32, 32)), "letterbox must be a LetterboxInfo"),
        (lambda p: p(RAW_X, IDENTITY, (32, -1)), "image_hw must be two positive integers"),
        (lambda p: YoloxDecodeNms((32, 32), 0, score_threshold=0.5, iou_threshold=0.5), "nc must"),
    ],
)
def test_prepared_decoder_validation(call, message: str) -> None:
    plan = YoloxDecodeNms((32, 32), 2, score_threshold=0.5, iou_threshold=0.5)
    with pytest.raises(ValueError, match=message):
        call(plan)


# --- YOLOv8 ------------------------------------------------------------------------------------


def test_v8_fixed_box() -> None:
    raw = np.zeros((4 + 3, 5), np.float32)
    raw[:, 2] = [100, 50, 40, 20, 0.1, 0.7, 0.7]  # tie between classes 1 and 2 -> class 1
    raw[:, 4] = [10, 10, 40, 40, 0.0, 0.0, 0.6]
    xyxy, score, cls, row = decode_yolo_v8(
        raw, LetterboxInfo(2.0, 2.0, 0.0, 10.0), (100, 100), score_threshold=0.5
    )
    assert row.tolist() == [2, 4] and cls.tolist() == [1, 2]
    np.testing.assert_allclose(score, [0.7, 0.6], rtol=1e-6)
    np.testing.assert_allclose(xyxy, [[40, 15, 60, 25], [0, 0, 15, 10]], atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("a", "nc"), [(8400, 80), (1, 1), (37, 5), (2100, 2)])
def test_v8_matches_reference(seed: int, a: int, nc: int) -> None:
    raw = make_v8_raw(a, nc, seed)
    info = LetterboxInfo(0.5, 0.5, 0.0, 80.0)
    mask = np.random.default_rng(seed).random(nc) < 0.5 if seed % 2 else None
    if mask is not None:
        mask[-1] = True
    for threshold in (0.0, 0.25):
        kwargs = dict(score_threshold=threshold, class_mask=mask)
        ours = decode_yolo_v8(raw[None] if seed % 2 else raw, info, (960, 1280), **kwargs)
        assert_same(ours, ref.decode_yolo_v8(raw, info, (960, 1280), **kwargs))


def test_v8_float64_and_readonly_input() -> None:
    raw = make_v8_raw(300, 4, 3)
    frozen = raw.copy()
    frozen.flags.writeable = False
    expected = ref.decode_yolo_v8(raw, IDENTITY, (640, 640), score_threshold=0.1)
    assert_same(decode_yolo_v8(frozen, IDENTITY, (640, 640), score_threshold=0.1), expected)
    ours64 = decode_yolo_v8(raw.astype(np.float64), IDENTITY, (640, 640), score_threshold=0.1)
    assert_same(ours64, expected)


# --- validation --------------------------------------------------------------------------------

RAW_X = np.zeros((21, 7), np.float32)
RAW_V8 = np.zeros((7, 5), np.float32)


def _yolox(raw=RAW_X, input_hw=(32, 32), letterbox=IDENTITY, image_hw=(32, 32), **kw):
    kw.setdefault("score_threshold", 0.5)
    return decode_yolox(raw, input_hw, letterbox, image_hw, **kw)


def _fused(raw=RAW_X, input_hw=(32, 32), letterbox=IDENTITY, image_hw=(32, 32), **kw):
    kw.setdefault("score_threshold", 0.5)
    kw.setdefault("iou_threshold", 0.5)
    return decode_nms_yolox(raw, input_hw, letterbox, image_hw, **kw)


def _v8(raw=RAW_V8, letterbox=IDENTITY, image_hw=(32, 32), **kw):
    kw.setdefault("score_threshold", 0.5)
    return decode_yolo_v8(raw, letterbox, image_hw, **kw)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: _yolox(raw=RAW_X.astype(np.int32)),
            "raw must be a floating-point array, got int32",
        ),
        (lambda: _yolox(raw=RAW_X[None, None]), "raw must be 2-D or have a leading batch of 1"),
        (lambda: _yolox(raw=np.zeros((2, 21, 7), np.float32)), "raw must be 2-D or have a leading"),
        (lambda: _yolox(raw=RAW_X[:, :5]), r"raw must have 5 \+ nc >= 6 columns"),
        (
            lambda: _yolox(raw=RAW_X[:20]),
            r"raw has 20 anchors but input_hw \(32, 32\) with strides \(8, 16, 32\) gives 21",
        ),
        (lambda: _yolox(input_hw=(32, 40)), "must be divisible by every stride"),
        (lambda: _yolox(input_hw=(0, 32)), r"input_hw must be two positive integers \(h, w\)"),
        (lambda: _yolox(strides=()), "strides must be positive integers"),
        (lambda: _yolox(strides=(8, 0)), "strides must be positive integers"),
        (lambda: _yolox(image_hw=(32,)), r"image_hw must be two positive integers \(h, w\)"),
        (lambda: _yolox(letterbox=(1, 1, 0, 0)), "letterbox must be a LetterboxInfo, got tuple"),
        (lambda: _yolox(letterbox=LetterboxInfo(0, 1, 0, 0)), "letterbox scales must be positive"),
        (lambda: _yolox(score_threshold=float("nan")), "score_threshold must be a finite number"),
        (
            lambda: _yolox(class_mask=np.ones(3, bool)),
            r"class_mask must be a bool array of shape \(2,\), got bool \(3,\)",
        ),
        (lambda: _yolox(class_mask=np.ones(2, np.int8)), r"class_mask must be a bool array"),
        (lambda: _fused(raw=RAW_X[:20]), r"raw has 20 anchors but input_hw \(32, 32\)"),
        (lambda: _fused(iou_threshold=1.5), r"iou_threshold must be a number in \[0, 1\]"),
        (lambda: _fused(iou_threshold="x"), r"iou_threshold must be a number in \[0, 1\]"),
        (lambda: _fused(max_det=0), "max_det must be a positive integer, got 0"),
        (lambda: _fused(max_det=True), "max_det must be a positive integer"),
        (
            lambda: _fused(group_of_class=np.zeros(3, np.int32)),
            r"group_of_class must be an integer array of shape \(2,\), got int32 \(3,\)",
        ),
        (lambda: _fused(group_of_class=np.zeros(2)), "group_of_class must be an integer array"),
        (lambda: _fused(group_of_class=np.array([0, 2**40])), "group_of_class values must fit"),
        (lambda: _fused(class_score_bound=-1.0), "class_score_bound must be a finite number >= 0"),
        (lambda: _fused(class_score_bound=math.inf), "class_score_bound must be a finite number"),
        (lambda: _fused(score_threshold=math.nan), "score_threshold must be a finite number"),
        (lambda: _v8(raw=RAW_V8[:4]), r"raw must have 4 \+ nc >= 5 rows"),
        (lambda: _v8(raw="x"), "raw must be a floating-point array, got str"),
        (
            lambda: _v8(class_mask=np.ones(4, bool)),
            r"class_mask must be a bool array of shape \(3,\)",
        ),
    ],
)
def test_validation_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
