"""Parity and validation tests of ``letterbox_chw`` against the NumPy reference and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.kernels import Letterbox, LetterboxInfo, letterbox_chw
from carbonedge.kernels import reference as ref

PRESETS = {
    "yolox": dict(),
    "ultralytics": dict(swap_rb=True, std=(255.0, 255.0, 255.0), align="center"),
    "nanodet": dict(mode="stretch", mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395)),
    "odd": dict(swap_rb=True, pad_value=0.0, mean=(1.0, 2.0, 3.0), std=(2.0, 0.5, -4.0)),
}


def make_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradient plus noise, so that resizing differences stay small but non-zero."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w, 1), yy * 255 / max(h, 1), (xx + yy) % 256], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def _grey_levels(preset: dict) -> np.ndarray:
    """(1, 3, 1, 1) factor that turns a normalised difference back into grey levels."""
    return np.abs(np.asarray(preset.get("std", (1.0, 1.0, 1.0)), np.float32)).reshape(1, 3, 1, 1)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize(
    ("image_hw", "out_hw"),
    [
        ((480, 640), (416, 416)),
        ((7, 13), (416, 416)),
        ((1, 1), (32, 32)),
        ((300, 200), (64, 96)),
        ((416, 416), (416, 416)),
        ((50, 60), (320, 320)),
        ((1000, 10), (64, 64)),
        ((9, 5), (13, 7)),
    ],
)
def test_matches_numpy_reference(preset: str, image_hw: tuple, out_hw: tuple) -> None:
    image = make_image(*image_hw, seed=sum(image_hw))
    ours, info = letterbox_chw(image, out_hw, **PRESETS[preset])
    expected, expected_info = ref.letterbox_chw(image, out_hw, **PRESETS[preset])
    assert ours.shape == (1, 3, *out_hw) and ours.dtype == np.float32
    assert ours.flags.c_contiguous
    assert info == expected_info
    np.testing.assert_array_less(
        np.abs(ours - expected) * _grey_levels(PRESETS[preset]), 1e-3 + 1e-3 * np.abs(expected)
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize(("image_hw", "out_hw"), [((480, 640), (416, 416)), ((37, 91), (64, 64))])
def test_close_to_opencv_way(preset: str, image_hw: tuple, out_hw: tuple) -> None:
    image = make_image(*image_hw, seed=3)
    ours, info = letterbox_chw(image, out_hw, **PRESETS[preset])
    cv, cv_info = ref.letterbox_chw_opencv(image, out_hw, **PRESETS[preset])
    diff_grey = np.abs(ours - cv) * _grey_levels(PRESETS[preset])
    assert info == cv_info
    assert diff_grey.max() <= 1.0  # OpenCV rounds to uint8 after its fixed-point interpolation
    assert diff_grey.mean() < 0.5


@pytest.mark.parametrize("preset", ["yolox", "ultralytics"])
def test_close_to_blob_from_image_way(preset: str) -> None:
    """The benchmark's strongest peer (cv2.dnn.blobFromImage) computes the same tensor."""
    image = make_image(480, 640, seed=4)
    ours, info = letterbox_chw(image, (416, 416), **PRESETS[preset])
    blob, blob_info = ref.letterbox_chw_blob(image, (416, 416), **PRESETS[preset])
    diff_grey = np.abs(ours - blob) * _grey_levels(PRESETS[preset])
    assert blob.shape == ours.shape and info == blob_info
    assert diff_grey.max() <= 1.0 and diff_grey.mean() < 0.5


def test_blob_way_refuses_per_channel_std() -> None:
    with pytest.raises(ValueError, match="one scale"):
        ref.letterbox_chw_blob(make_image(8, 8), (16, 16), **PRESETS["nanodet"])


def test_fixed_upscale_values() -> None:
    """A 1x2 image [0, 100] stretched to width 4: half-pixel centres give 0, 25, 75, 100."""
    image = np.zeros((1, 2, 3), np.uint8)
    image[0, 1] = (100, 50, 10)
    ours, info = letterbox_chw(image, (1, 4), mode="stretch")
    np.testing.assert_allclose(ours[0, 0, 0], [0, 25, 75, 100])
    np.testing.assert_allclose(ours[0, 2, 0], [0, 2.5, 7.5, 10])
    assert info == LetterboxInfo(2.0, 1.0, 0.0, 0.0)


def test_swap_and_normalise_fixed() -> None:
    image = np.full((4, 4, 3), (10, 20, 30), np.uint8)  # B, G, R
    ours, _ = letterbox_chw(image, (4, 4), swap_rb=True, mean=(1, 2, 3), std=(2, 4, 8))
    np.testing.assert_allclose(ours[0, :, 0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 8])


@pytest.mark.parametrize(
    ("align", "new_hw", "pad_xy"),
    [("top_left", (312, 416), (0, 0)), ("center", (312, 416), (0, 52))],
)
def test_letterbox_geometry_and_padding(align: str, new_hw: tuple, pad_xy: tuple) -> None:
    image = make_image(480, 640)
    ours, info = letterbox_chw(image, (416, 416), align=align, pad_value=114, mean=(4, 4, 4))
    assert info == LetterboxInfo(416 / 640, 312 / 480, float(pad_xy[0]), float(pad_xy[1]))
    y0, y1 = pad_xy[1], pad_xy[1] + new_hw[0]
    pad_rows = np.concatenate([ours[0, :, :y0], ours[0, :, y1:]], axis=1)
    assert pad_rows.shape[1] == 416 - new_hw[0]
    assert np.all(pad_rows == 110.0)
    assert not np.any(np.all(ours[0, :, y0:y1] == 110.0, axis=(0, 2)))


def test_to_input_xyxy_inverts_the_letterbox() -> None:
    info = LetterboxInfo(0.5, 0.25, 10.0, 20.0)
    tensor_xyxy = np.array([[10, 20, 60, 45], [0, 0, 0, 0]], np.float64)
    image_xyxy = info.to_input_xyxy(tensor_xyxy)
    assert image_xyxy.dtype == np.float32
    np.testing.assert_allclose(image_xyxy, [[0, 0, 100, 100], [-20, -80, -20, -80]])
    assert info.to_input_xyxy(np.zeros((0, 4))).shape == (0, 4)


def test_out_buffer_is_reused_and_overwritten() -> None:
    buf = np.full((1, 3, 64, 64), np.nan, np.float32)
    first = make_image(100, 80, seed=1)
    tensor, _ = letterbox_chw(first, (64, 64), out=buf)
    assert tensor is buf
    expected, _ = ref.letterbox_chw(first, (64, 64))
    np.testing.assert_allclose(buf, expected, rtol=1e-3, atol=1e-3)
    letterbox_chw(make_image(30, 90, seed=2), (64, 64), out=buf)
    assert not np.isnan(buf).any()
    assert not np.allclose(buf, expected)


@pytest.mark.parametrize(("image_hw", "align"), [((240, 320), "top_left"), ((90, 30), "center")])
def test_pad_ready_writes_only_the_image_area(image_hw: tuple, align: str) -> None:
    """The detector's buffer keeps its padding between frames of one size: only the image area
    is rewritten, and it matches the reference."""
    buf = np.empty((1, 3, 64, 64), np.float32)
    _, info = letterbox_chw(make_image(*image_hw, seed=3), (64, 64), align=align, out=buf)
    x0, y0 = int(info.pad_x_px), int(info.pad_y_px)
    x1, y1 = x0 + round(image_hw[1] * info.scale_x), y0 + round(image_hw[0] * info.scale_y)
    pad = np.ones(buf.shape, bool)
    pad[..., y0:y1, x0:x1] = False
    assert pad.any() and np.all(buf[pad] == 114.0)
    buf[pad] = -7.0  # a sentinel the kernel must leave alone
    image = make_image(*image_hw, seed=4)
    letterbox_chw(image, (64, 64), align=align, out=buf, pad_ready=True)
    expected, _ = ref.letterbox_chw(image, (64, 64), align=align)
    assert np.all(buf[pad] == -7.0)
    np.testing.assert_allclose(buf[~pad], expected[~pad], rtol=1e-3, atol=1e-3)


def test_prepared_letterbox_matches_the_function_and_caps_its_sizes() -> None:
    plan = Letterbox((64, 96), **PRESETS["ultralytics"])
    for k in range(Letterbox.MAX_SIZES + 3):  # more image sizes than it keeps
        image = make_image(20 + k, 50 + 3 * k, seed=k)
        ours, info = plan(image)
        expected, expected_info = letterbox_chw(image, (64, 96), **PRESETS["ultralytics"])
        assert info == expected_info
        np.testing.assert_array_equal(ours, expected)
        assert len(plan._sizes) <= Letterbox.MAX_SIZES
    with pytest.raises(ValueError, match="image must be a uint8 array"):
        plan(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="mode must be 'letterbox' or 'stretch'"):
        Letterbox((8, 8), mode="fit")  # type: ignore[arg-type]


def test_crop_of_a_larger_frame_is_read_in_place() -> None:
    """A region-of-interest crop (rows strided, pixels packed) needs no copy: same result."""
    frame = make_image(240, 320, seed=8)
    crop = frame[30:200, 40:300]
    assert not crop.flags.c_contiguous
    ours, info = letterbox_chw(crop, (128, 128))
    expected, expected_info = ref.letterbox_chw(np.ascontiguousarray(crop), (128, 128))
    assert info == expected_info
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)


def test_non_contiguous_image_view() -> None:
    big = make_image(120, 200, seed=5)
    view = big[10:90:2, 20:180]
    ours, _ = letterbox_chw(view, (32, 48))
    expected, _ = ref.letterbox_chw(np.ascontiguousarray(view), (32, 48))
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)


GOOD = np.zeros((8, 8, 3), np.uint8)


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (GOOD.astype(np.float32), {}, "image must be a uint8 array, got float32"),
        (np.zeros((8, 8), np.uint8), {}, r"image must have shape \(H, W, 3\), got \(8, 8\)"),
        (np.zeros((8, 8, 4), np.uint8), {}, r"image must have shape \(H, W, 3\)"),
        (np.zeros((0, 8, 3), np.uint8), {}, "image must not be empty"),
        (GOOD, {"out_hw": (0, 8)}, "out_hw must be two positive integers"),
        (GOOD, {"out_hw": (8,)}, "out_hw must be two positive integers"),
        (GOOD, {"out_hw": "ab"}, r"out_hw must be two positive integers \(h, w\)"),
        (GOOD, {"mode": "fit"}, "mode must be 'letterbox' or 'stretch', got 'fit'"),
        (GOOD, {"align": "bottom"}, "align must be 'top_left' or 'center', got 'bottom'"),
        (GOOD, {"std": (1.0, 0.0, 1.0)}, "std values must be finite and non-zero"),
        (GOOD, {"mean": (1.0, 2.0)}, "mean and std must have 3 values each"),
        (GOOD, {"out": np.zeros((1, 3, 8, 8), np.float64)}, "out must be a float32 array of shape"),
        (GOOD, {"out": np.zeros((1, 3, 8, 9), np.float32)}, "out must be a float32 array of shape"),
        (GOOD, {"out": np.zeros((1, 3, 8, 16), np.float32)[..., ::2]}, "out must be C-contiguous"),
        (GOOD, {"pad_ready": True}, "pad_ready=True needs the out buffer"),
    ],
)
def test_validation_errors(image: np.ndarray, kwargs: dict, message: str) -> None:
    kwargs = {"out_hw": (8, 8), **kwargs}
    out_hw = kwargs.pop("out_hw")
    with pytest.raises(ValueError, match=message):
        letterbox_chw(image, out_hw, **kwargs)
