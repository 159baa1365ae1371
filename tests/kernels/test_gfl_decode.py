"""Parity and validation tests of the GFL head decoder (``decode_gfl``) against its NumPy reference,
on seeded random outputs and on the real PicoDet model's outputs."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.kernels import (
    GflDecodeNms,
    LetterboxInfo,
    decode_gfl,
    decode_nms_gfl,
    gfl_grid_cells,
    nms,
)
from carbonedge.kernels import _ref_gfl as ref

IDENTITY = LetterboxInfo(1.0, 1.0, 0.0, 0.0)
PICODET = ((416, 416), (8, 16, 32, 64))  # grids 52, 26, 13 and 7 (a partial cell) per side


def make_gfl_raw(
    input_hw: tuple[int, int], strides: tuple, nc: int, bins: int, seed: int
) -> tuple[list, list]:
    """Per-level (1, A_l, nc) scores and (1, A_l, 4 * bins) logits resembling a GFL head's."""
    rng = np.random.default_rng(seed)
    scores, dists = [], []
    for n in gfl_grid_cells(input_hw, strides):
        sc = (rng.random((1, n, nc)) ** 8).astype(np.float32)  # mostly tiny
        sc[0, ::7, nc // 2] = sc[0, ::7, 0]  # class-score ties
        logits = rng.normal(0.0, 2.0, (1, n, 4 * bins))
        logits[0, ::3, :: bins + 1] += 8.0  # some sharply peaked distributions
        scores.append(sc)
        dists.append(logits.astype(np.float32))
    scores[0][0, 0, 0] = 0.95  # at least one confident anchor
    return scores, dists


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
    np.testing.assert_array_equal(score, expected[1])
    np.testing.assert_allclose(xyxy, expected[0], rtol=1e-6, atol=1e-4)


def test_fixed_boxes() -> None:
    """Input 32x32, strides 16 and 32: 4 + 1 cells, 2 classes, 4 bins per side."""
    scores = [np.full((4, 2), 0.1, np.float32), np.array([[0.6, 0.6]], np.float32)]
    dists = [np.zeros((4, 16), np.float32), np.zeros((1, 16), np.float32)]
    scores[0][3] = (0.2, 0.7)  # cell x=1, y=1 of stride 16: centre (24, 24)
    inf = np.inf
    dists[0][3] = [0, 0, 0, 0,  # left: uniform, 1.5 bins = 24 px
                   0, math.log(3.0), -inf, -inf,  # top: p = (1/4, 3/4): 0.75 bins = 12 px
                   -inf, -inf, -inf, 0,  # right: 3 bins = 48 px
                   -inf, 0, 0, -inf]  # fmt: skip  # bottom: 1.5 bins = 24 px
    info = LetterboxInfo(0.5, 0.5, 0.0, 0.0)
    xyxy, score, cls, row = decode_gfl(
        scores, dists, (32, 32), info, (100, 120), score_threshold=0.5, strides=(16, 32)
    )
    assert row.tolist() == [3, 4] and cls.tolist() == [1, 0]  # tie: the lower class id
    np.testing.assert_allclose(score, [0.7, 0.6])
    # (0, 12, 72, 48) input px -> x2 image px; stride 32: 48 px each side of (16, 16); clipped
    np.testing.assert_allclose(xyxy, [[0, 24, 120, 96], [0, 0, 120, 100]], atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("input_hw", "strides", "nc", "bins"),
    [
        (*PICODET, 80, 8),
        ((320, 320), (8, 16, 32), 80, 8),  # NanoDet-m's layout
        ((96, 160), (8, 16, 32, 64), 3, 4),
        ((64, 64), (32,), 1, 16),
    ],
)
def test_matches_reference(seed: int, input_hw: tuple, strides: tuple, nc: int, bins: int) -> None:
    scores, dists = make_gfl_raw(input_hw, strides, nc, bins, seed)
    info = LetterboxInfo(0.65, 0.6, 3.0, 26.0)
    mask = np.random.default_rng(seed).random(nc) < 0.5 if seed % 2 else None
    if mask is not None:
        mask[0] = True
    for threshold in (0.02, 0.3):
        kw = dict(score_threshold=threshold, class_mask=mask, strides=strides)
        ours = decode_gfl(scores, dists, input_hw, info, (400, 500), **kw)
        expected = ref.decode_gfl(scores, dists, input_hw, info, (400, 500), **kw)
        assert len(ours[3]) > 0
        assert_same(ours, expected)
        assert np.all(np.diff(ours[3]) > 0)  # anchor order


def test_2d_float64_and_readonly_levels() -> None:
    scores, dists = make_gfl_raw(*PICODET, 80, 8, seed=5)
    expected = ref.decode_gfl(scores, dists, PICODET[0], IDENTITY, (416, 416), score_threshold=0.1)
    frozen = [s[0].copy() for s in scores]
    for s in frozen:
        s.flags.writeable = False
    as64 = [d[0].astype(np.float64) for d in dists]
    ours = decode_gfl(frozen, as64, PICODET[0], IDENTITY, (416, 416), score_threshold=0.1)
    assert_same(ours, expected)


@pytest.mark.parametrize(
    "kw", [{"score_threshold": 1.5}, {"score_threshold": 0.0, "class_mask": np.zeros(80, bool)}]
)
def test_empty_results(kw: dict) -> None:
    scores, dists = make_gfl_raw(*PICODET, 80, 8, seed=1)
    xyxy, score, cls, row = decode_gfl(scores, dists, PICODET[0], IDENTITY, (240, 320), **kw)
    assert xyxy.shape == (0, 4) and score.shape == cls.shape == row.shape == (0,)
    expected = ref.decode_gfl(scores, dists, PICODET[0], IDENTITY, (240, 320), **kw)
    assert expected[0].shape == (0, 4)  # the reference too (it once failed to reshape 0 rows)
    assert (xyxy.dtype, score.dtype, cls.dtype, row.dtype) == (
        np.float32,
        np.float32,
        np.int32,
        np.int32,
    )


def test_boxes_clipped_to_image() -> None:
    scores, dists = make_gfl_raw((64, 64), (16, 32), 2, 8, seed=3)
    for d in dists:
        d[..., 7::8] = 30.0  # every side at the last bin: 7 strides, far outside the image
    xyxy, *_ = decode_gfl(scores, dists, (64, 64), IDENTITY, (50, 40), score_threshold=0.0,
                          strides=(16, 32))  # fmt: skip
    assert len(xyxy) == 4 * 4 + 2 * 2
    np.testing.assert_array_equal(xyxy, np.tile([0, 0, 40, 50], (len(xyxy), 1)))


# --- real PicoDet outputs ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def picodet_outputs(shared_dir: Path) -> list[tuple[list, LetterboxInfo, tuple[int, int]]]:
    """The model's eight outputs on a highway frame and on a COCO street image."""
    from carbonedge.vision.detectors.picodet import PicodetConfig, PicodetDetector

    det = PicodetDetector(PicodetConfig(model=str(shared_dir / "models/picodet_s_416_coco.onnx")))
    cap = cv2.VideoCapture(str(shared_dir / "media/traffic/highway_cdnet_320x240.avi"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 870)
    ok, frame = cap.read()
    cap.release()
    assert ok
    images = [frame, cv2.imread(str(shared_dir / "media/images/000000001532.jpg"))]
    out = []
    for image in images:
        tensor, info = det._preprocess(image)
        out.append((det.session.run(None, {det.input_name: tensor}), info, image.shape[:2]))
    return out


@pytest.mark.parametrize("threshold", [0.05, 0.4])
@pytest.mark.parametrize("vehicles_only", [False, True])
def test_matches_reference_on_real_outputs(
    picodet_outputs: list, threshold: float, vehicles_only: bool
) -> None:
    mask = np.zeros(80, bool)
    mask[[2, 3, 5, 7]] = True
    for raw, info, image_hw in picodet_outputs:
        kw = dict(score_threshold=threshold, class_mask=mask if vehicles_only else None)
        ours = decode_gfl(raw[:4], raw[4:], (416, 416), info, image_hw, **kw)
        assert len(ours[3]) >= 3  # several cars in both pictures
        assert_same(ours, ref.decode_gfl(raw[:4], raw[4:], (416, 416), info, image_hw, **kw))
        groups = np.zeros(80, np.int32)  # every class in one group, as the road config does
        fused = decode_nms_gfl(raw[:4], raw[4:], (416, 416), info, image_hw, **kw,
                               iou_threshold=0.6, group_of_class=groups)  # fmt: skip
        assert 3 <= len(fused[3]) < len(ours[3])  # NMS kept one box of each cluster
        assert_same(
            fused,
            ref.decode_nms_gfl(
                raw[:4],
                raw[4:],
                (416, 416),
                info,
                image_hw,
                **kw,
                iou_threshold=0.6,
                group_of_class=groups,
            ),
        )


# --- decode + grouped NMS in one call ----------------------------------------------------------


def _decode_then_nms(scores, dists, input_hw, info, image_hw, *, iou_threshold, group_of_class,
                     max_det, **kw):  # fmt: skip
    """The two compiled kernels one after the other (what the fused one replaces)."""
    xyxy, score, cls, row = decode_gfl(scores, dists, input_hw, info, image_hw, **kw)
    groups = None if group_of_class is None else np.asarray(group_of_class, np.int32)[cls]
    keep = nms(xyxy, score, iou_threshold, group_id=groups, max_det=max_det)
    return xyxy[keep], score[keep], cls[keep], row[keep]


@pytest.mark.parametrize("seed", range(3))
def test_fused_nms_matches_reference_and_the_unfused_kernels(seed: int) -> None:
    input_hw, strides = PICODET
    scores, dists = make_gfl_raw(input_hw, strides, 80, 8, seed)
    for d in dists:
        d[..., ::8] += 2.0  # wider boxes: plenty of overlap between neighbouring cells
    rng = np.random.default_rng(seed)
    mask = rng.random(80) < 0.5 if seed % 2 else None
    if mask is not None:
        mask[0] = True
    groups = [None, rng.integers(0, 3, 80), np.arange(80, dtype=np.int64)][seed]
    info = LetterboxInfo(0.65, 0.6, 3.0, 26.0)
    for threshold, iou, max_det in ((0.02, 0.45, 300), (0.3, 0.7, 300), (0.3, 0.0, 300),
                                    (0.02, 0.45, 5)):  # fmt: skip
        kw = dict(score_threshold=threshold, class_mask=mask, strides=strides,
                  iou_threshold=iou, group_of_class=groups, max_det=max_det)  # fmt: skip
        ours = decode_nms_gfl(scores, dists, input_hw, info, (400, 500), **kw)
        decoded = decode_gfl(scores, dists, input_hw, info, (400, 500), score_threshold=threshold,
                             class_mask=mask, strides=strides)  # fmt: skip
        assert 0 < len(ours[3]) <= max_det and len(ours[3]) < len(decoded[3])  # NMS dropped some
        for got, want in zip(ours, _decode_then_nms(scores, dists, input_hw, info, (400, 500),
                                                    **kw), strict=True):  # fmt: skip
            np.testing.assert_array_equal(got, want)
        assert_same(ours, ref.decode_nms_gfl(scores, dists, input_hw, info, (400, 500), **kw))
        assert np.all(np.diff(ours[1]) <= 0)  # by descending score


def test_fused_nms_keeps_boxes_of_other_groups() -> None:
    """The two boxes of test_fixed_boxes overlap: one group keeps the better, two keep both."""
    scores = [np.full((4, 2), 0.1, np.float32), np.array([[0.6, 0.6]], np.float32)]
    dists = [np.zeros((4, 16), np.float32), np.zeros((1, 16), np.float32)]
    scores[0][3] = (0.2, 0.7)
    kw = dict(score_threshold=0.5, iou_threshold=0.1, strides=(16, 32))
    one = decode_nms_gfl(scores, dists, (32, 32), IDENTITY, (64, 64), **kw)
    assert one[3].tolist() == [3] and one[2].tolist() == [1]
    both = decode_nms_gfl(scores, dists, (32, 32), IDENTITY, (64, 64), **kw,
                          group_of_class=np.array([0, 1]))  # fmt: skip
    assert both[3].tolist() == [3, 4] and both[2].tolist() == [1, 0]
    none = decode_nms_gfl(scores, dists, (32, 32), IDENTITY, (64, 64), **kw,
                          class_mask=np.zeros(2, bool))  # fmt: skip
    assert none[0].shape == (0, 4)


def test_prepared_decoder_matches_the_function_on_every_input_form() -> None:
    input_hw, strides = (96, 160), (8, 16, 32, 64)
    scores, dists = make_gfl_raw(input_hw, strides, 3, 4, seed=7)
    kw = dict(score_threshold=0.05, iou_threshold=0.5, group_of_class=np.array([0, 0, 1]),
              strides=strides)  # fmt: skip
    info = LetterboxInfo(0.5, 0.5, 0.0, 6.0)
    expected = decode_nms_gfl(scores, dists, input_hw, info, (180, 320), **kw)
    assert len(expected[3]) > 0
    plan = GflDecodeNms(input_hw, 3, **kw)
    frozen = [s.copy() for s in scores]
    for s in frozen:
        s.flags.writeable = False
    forms = [
        (scores, dists),  # onnxruntime's form: checked in full once, then straight through
        (scores, dists),
        ([s[0] for s in scores], [d[0] for d in dists]),
        ([s.astype(np.float64) for s in scores], dists),
        (frozen, dists),
        ([np.asfortranarray(s[0]) for s in scores], dists),
        (scores, dists),
    ]
    for form_scores, form_dists in forms:
        for got, want in zip(plan(form_scores, form_dists, info, (180, 320)), expected,
                             strict=True):  # fmt: skip
            np.testing.assert_array_equal(got, want)


def test_prepared_decoder_checks_outputs_that_change_shape() -> None:
    """After a call took the fast way, outputs of another shape are checked again."""
    scores, dists = make_gfl_raw((32, 32), (16, 32), 2, 4, seed=0)
    plan = GflDecodeNms((32, 32), 2, score_threshold=0.5, iou_threshold=0.5, strides=(16, 32))
    plan(scores, dists, IDENTITY, (32, 32))
    plan(scores, dists, IDENTITY, (32, 32))
    with pytest.raises(ValueError, match=r"level 1: expected scores \(1, 2\)"):
        plan([scores[0], scores[0]], dists, IDENTITY, (32, 32))
    with pytest.raises(ValueError, match="expected 2 levels"):
        plan(scores[:1], dists, IDENTITY, (32, 32))
    three = make_gfl_raw((32, 32), (16, 32), 3, 4, seed=0)
    with pytest.raises(ValueError, match="expected 2 classes, got scores of 3"):
        plan(*three, IDENTITY, (32, 32))
    with pytest.raises(ValueError, match="letterbox must be a LetterboxInfo"):
        plan(scores, dists, (1, 1, 0, 0), (32, 32))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"nc": 0}, "nc must be a positive integer"),
        ({"iou_threshold": 1.5}, r"iou_threshold must be a number in \[0, 1\]"),
        ({"max_det": 0}, "max_det must be a positive integer"),
        ({"group_of_class": np.zeros(3, np.int32)}, r"group_of_class must be an integer array"),
        ({"strides": (16, 0)}, "strides must be positive integers"),
    ],
)
def test_prepared_decoder_validation(kw: dict, message: str) -> None:
    args = {"nc": 2, "score_threshold": 0.5, "iou_threshold": 0.5, "strides": (16, 32), **kw}
    nc = args.pop("nc")
    with pytest.raises(ValueError, match=message):
        GflDecodeNms((32, 32), nc, **args)


# --- validation --------------------------------------------------------------------------------

S, D = make_gfl_raw((32, 32), (16, 32), 2, 4, seed=0)  # levels of 4 and 1 cells


def _call(scores=S, dists=D, input_hw=(32, 32), letterbox=IDENTITY, image_hw=(32, 32), **kw):
    kw.setdefault("score_threshold", 0.5)
    kw.setdefault("strides", (16, 32))
    return decode_gfl(scores, dists, input_hw, letterbox, image_hw, **kw)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: _call(scores=S[:1]), "expected 2 levels .* got 1 score and 2 box arrays"),
        (lambda: _call(scores=np.zeros((5, 2), np.float32)), "must be sequences of arrays"),
        (
            lambda: _call(scores=[S[0].astype(np.int32), S[1]]),
            r"cls_scores\[0\] must be a floating-point array, got int32",
        ),
        (lambda: _call(dists=[D[0], D[1][None]]), r"box_dists\[1\] must be 2-D or have a leading"),
        (
            lambda: _call(scores=[S[0], S[0]]),
            r"level 1: expected scores \(1, 2\) and box_dists \(1, 16\) for its grid, got \(4, 2\)",
        ),
        (lambda: _call(scores=[S[0], S[1][..., :1]]), r"level 1: expected scores \(1, 2\)"),
        (lambda: _call(dists=[d[..., :6] for d in D]), "box_dists must have 4 \\* bins columns"),
        (lambda: _call(strides=(16, 0)), "strides must be positive integers"),
        (lambda: _call(strides=()), "strides must be positive integers"),
        (lambda: _call(input_hw=(0, 32)), r"input_hw must be two positive integers \(h, w\)"),
        (lambda: _call(image_hw=(32,)), r"image_hw must be two positive integers \(h, w\)"),
        (lambda: _call(letterbox=(1, 1, 0, 0)), "letterbox must be a LetterboxInfo, got tuple"),
        (lambda: _call(score_threshold=math.nan), "score_threshold must be a finite number"),
        (lambda: _call(class_mask=np.ones(3, bool)), r"class_mask must be a bool array of shape"),
    ],
)
def test_validation(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_grid_cells() -> None:
    assert gfl_grid_cells((416, 416), (8, 16, 32, 64)) == (2704, 676, 169, 49)
    assert gfl_grid_cells((320, 416), (32, 64)) == (130, 35)
