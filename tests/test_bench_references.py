"""The benchmarks' OpenCV references compute what the kernel computes (otherwise a ratio compares
different work), and the flicker benchmark's input keeps the scores out of float32 subnormals."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from carbonedge.benchmarks import bench_boxes, bench_fire, bench_motion, bench_preprocess
from carbonedge.kernels import Letterbox, motion, nms
from carbonedge.kernels import reference as ref

MOTION_KW = {"alpha": 0.02, "alpha_foreground": 0.002, "threshold_levels": 20.0}


@pytest.mark.parametrize("shape_hw", [(240, 320), (37, 53)])
def test_opencv_motion_update_matches_the_kernel(shape_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    bg_kernel = rng.uniform(0, 255, shape_hw).astype(np.float32)
    bg_cv = bg_kernel.copy()
    out_kernel, out_cv = np.empty(shape_hw, np.uint8), np.empty(shape_hw, np.uint8)
    for _ in range(5):  # several frames: the background update feeds the next mask
        gray = rng.integers(0, 256, shape_hw, dtype=np.uint8)
        motion.motion_update(gray, bg_kernel, out_mask=out_kernel, **MOTION_KW)
        bench_motion.opencv_motion_update(gray, bg_cv, out_cv, **MOTION_KW)
        np.testing.assert_array_equal(out_cv, out_kernel)
        np.testing.assert_allclose(bg_cv, bg_kernel, atol=1e-3)


def test_blob_params_reference_matches_the_nanodet_letterbox() -> None:
    image = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    kwargs = {"mode": "stretch", "mean": (103.53, 116.28, 123.675), "std": (57.375, 57.12, 58.395)}
    ours = Letterbox((320, 320), **kwargs)(image)
    ours = ours[0] if isinstance(ours, tuple) else ours
    blob = cv2.dnn.blobFromImageWithParams(image, bench_preprocess.blob_params((320, 320), kwargs))
    assert blob.shape == ours.shape == (1, 3, 320, 320)
    # OpenCV rounds the resized image to uint8: within one grey level / std
    np.testing.assert_allclose(blob, ours, atol=1.0 / 57.0)


@pytest.mark.parametrize("n", [1000, 5000])
def test_opencv_nms_rows(n: int) -> None:
    """max_det=N: the same kept set as ours (like for like); top_k=300: not the same answer."""
    xyxy, scores, groups = bench_boxes._candidates(n)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    full = nms(xyxy, scores, 0.5, group_id=groups, max_det=n)
    cv_full = cv2.dnn.NMSBoxesBatched(xywh, scores, groups, 0.0, 0.5, 1.0, 0)
    assert set(np.asarray(cv_full).ravel().tolist()) == set(full.tolist())
    first_300 = nms(xyxy, scores, 0.5, group_id=groups, max_det=300)
    cv_top = cv2.dnn.NMSBoxesBatched(xywh, scores, groups, 0.0, 0.5, 1.0, 300)
    assert len(first_300) == 300 and len(cv_top) < 300


def test_flicker_benchmark_input_stays_out_of_subnormals() -> None:
    shape_hw = (16, 24)
    masks = bench_fire.flicker_masks(shape_hw)
    previous, flicker = np.zeros(shape_hw, np.uint8), np.zeros(shape_hw, np.float32)
    for i in range(600):  # one fixed mask would reach subnormals after ~400 calls at decay 0.8
        ref.flicker_update(masks[i % len(masks)], previous, flicker, decay=0.8)
    nonzero = np.abs(flicker[flicker != 0])
    assert nonzero.size and nonzero.min() >= np.finfo(np.float32).tiny
