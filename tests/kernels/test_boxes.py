"""Parity and validation tests of ``box_iou`` and ``nms`` against NumPy references and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.kernels import box_iou, nms
from carbonedge.kernels import reference as ref


def make_boxes(n: int, seed: int, groups: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered random boxes (so that NMS has work to do), scores and group ids."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 640, (max(n // 8, 1), 2))
    cxy = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 10, (n, 2))
    wh = rng.uniform(5, 120, (n, 2))
    xyxy = np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=1).astype(np.float32)
    return xyxy, rng.random(n).astype(np.float32), rng.integers(0, groups, n).astype(np.int32)


# --- box_iou -----------------------------------------------------------------------------------


def test_box_iou_fixed() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 4, 1]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 8], [0, 0, 2, 1]])
    expected = [[1.0, 50 / 150, 0.0, 0.0, 2 / 100], [4 / 100, 0.0, 0.0, 0.0, 0.5]]
    out = box_iou(a, b)
    assert out.dtype == np.float32 and out.shape == (2, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize(("n", "m", "seed"), [(1, 1, 0), (7, 13, 1), (100, 37, 2), (300, 300, 3)])
def test_box_iou_matches_reference(n: int, m: int, seed: int) -> None:
    a, _, _ = make_boxes(n, seed)
    b, _, _ = make_boxes(m, seed + 100)
    b[::5, 2] = b[::5, 0] - 1.0  # some degenerate (inverted) boxes
    np.testing.assert_array_equal(box_iou(a, b), ref.box_iou(a, b))


@pytest.mark.parametrize(("n", "m"), [(0, 3), (3, 0), (0, 0)])
def test_box_iou_empty(n: int, m: int) -> None:
    out = box_iou(np.zeros((n, 4)), np.ones((m, 4)))
    assert out.shape == (n, m) and out.dtype == np.float32


# --- nms ---------------------------------------------------------------------------------------

OVERLAP = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)


@pytest.mark.parametrize(
    ("scores", "kwargs", "expected"),
    [
        ([0.9, 0.8, 0.7, 0.6], {}, [0, 2]),
        ([0.8, 0.9, 0.7, 0.6], {}, [1, 2]),
        ([0.9, 0.8, 0.7, 0.6], {"group_id": np.array([0, 1, 0, 0])}, [0, 1, 2]),
        ([0.9, 0.8, 0.7, 0.6], {"group_id": np.array([0, 1, 0, 2])}, [0, 1, 2, 3]),
        ([0.5, 0.5, 0.5, 0.5], {}, [0, 2]),  # ties: lower index first
        ([0.5, 0.9, 0.5, 0.5], {"max_det": 1}, [1]),
        ([np.nan, 0.8, 0.7, 0.6], {}, [1, 2]),  # NaN scores are never kept
        ([0.9, 0.8, 0.7, 0.6], {"iou_threshold": 0.9}, [0, 1, 2]),
    ],
)
def test_nms_fixed(scores: list, kwargs: dict, expected: list) -> None:
    kwargs = {"iou_threshold": 0.5, **kwargs}
    thr = kwargs.pop("iou_threshold")
    keep = nms(OVERLAP, np.array(scores, np.float32), thr, **kwargs)
    assert keep.dtype == np.int64
    assert keep.tolist() == expected
    assert ref.nms(OVERLAP, np.array(scores, np.float32), thr, **kwargs).tolist() == expected


@pytest.mark.parametrize(("threshold", "expected"), [(0.5, [0, 1]), (0.49, [0])])
def test_nms_iou_equal_to_threshold_is_kept(threshold: float, expected: list) -> None:
    xyxy = np.array([[0, 0, 4, 1], [0, 0, 2, 1]], np.float32)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8])
    assert nms(xyxy, scores, threshold).tolist() == expected
    assert ref.nms(xyxy, scores, threshold).tolist() == expected


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 2, 50, 700])
@pytest.mark.parametrize("grouped", [False, True])
def test_nms_matches_reference(seed: int, n: int, grouped: bool) -> None:
    xyxy, scores, groups = make_boxes(n, seed)
    scores[::7] = scores[0]  # ties
    threshold = (0.3, 0.45, 0.7)[seed % 3]
    kwargs = {"group_id": groups} if grouped else {}
    for max_det in (5, 300):
        ours = nms(xyxy, scores, threshold, max_det=max_det, **kwargs)
        expected = ref.nms(xyxy, scores, threshold, max_det=max_det, **kwargs)
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("seed", range(3))
def test_nms_matches_opencv_batched(seed: int) -> None:
    cv2 = pytest.importorskip("cv2")
    xyxy, scores, groups = make_boxes(400, seed)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    cv_keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), groups.tolist(), 0.0, 0.5)
    ours = nms(xyxy, scores, 0.5, group_id=groups, max_det=400)
    assert sorted(ours.tolist()) == sorted(np.asarray(cv_keep).ravel().tolist())
    assert np.all(np.diff(scores[ours]) <= 0)


def test_nms_accepts_float64_and_int64_groups() -> None:
    xyxy, scores, groups = make_boxes(60, 9)
    ours = nms(xyxy.astype(np.float64), scores.astype(np.float64), 0.5, group_id=groups.astype(int))
    np.testing.assert_array_equal(ours, nms(xyxy, scores, 0.5, group_id=groups))


def test_nms_empty() -> None:
    keep = nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64
    assert nms(np.zeros((0,)), np.zeros(0), 0.5, group_id=np.zeros(0, np.int32)).shape == (0,)


BOXES = np.zeros((3, 4), np.float32)
SCORES = np.zeros(3, np.float32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: box_iou(np.zeros((3, 5)), BOXES),
            r"a_xyxy must have shape \(N, 4\), got \(3, 5\)",
        ),
        (lambda: box_iou(BOXES, np.zeros(4)), r"b_xyxy must have shape \(N, 4\), got \(4,\)"),
        (lambda: box_iou(BOXES.astype(str), BOXES), "a_xyxy must be a real-valued array"),
        (lambda: nms(BOXES[:, :3], SCORES, 0.5), r"xyxy must have shape \(N, 4\)"),
        (
            lambda: nms(BOXES, SCORES[:2], 0.5),
            r"scores must be a real-valued array of shape \(3,\)",
        ),
        (lambda: nms(BOXES, SCORES, 1.5), r"iou_threshold must be a number in \[0, 1\], got 1.5"),
        (lambda: nms(BOXES, SCORES, float("nan")), r"iou_threshold must be a number in \[0, 1\]"),
        (lambda: nms(BOXES, SCORES, 0.5, max_det=0), "max_det must be a positive integer, got 0"),
        (lambda: nms(BOXES, SCORES, 0.5, max_det=2.0), "max_det must be a positive integer"),
        (
            lambda: nms(BOXES, SCORES, 0.5, group_id=np.zeros(3, np.float32)),
            r"group_id must be an integer array of shape \(3,\), got float32",
        ),
        (
            lambda: nms(BOXES, SCORES, 0.5, group_id=np.zeros(2, np.int32)),
            r"group_id must be an integer array of shape \(3,\)",
        ),
        (
            lambda: nms(BOXES, SCORES, 0.5, group_id=np.array([0, 1, 2**40])),
            "group_id values must fit in int32",
        ),
    ],
)
def test_validation_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
