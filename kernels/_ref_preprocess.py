"""NumPy reference of ``letterbox_chw`` (same signature), plus the usual OpenCV pipeline.

``letterbox_chw`` here computes the same maths as the Cython kernel with whole-array NumPy
operations: OpenCV INTER_LINEAR half-pixel bilinear on float32, padding, channel swap,
normalisation and HWC->CHW. ``letterbox_chw_opencv`` is what most detector code does
(``cv2.resize`` + ``cv2.copyMakeBorder`` + ``astype`` + transpose + normalise); it rounds the
resized image to uint8, so it agrees with the kernel to about one grey level.
``letterbox_chw_blob`` is the shortest OpenCV way: the same resize and exact YOLOX padding, then
``cv2.dnn.blobFromImage`` does swap, scale, mean and HWC->CHW in C++ (one scale for all channels,
as blobFromImage takes). None of them validates.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels.preprocess import LetterboxInfo

__all__ = ["letterbox_chw", "letterbox_chw_blob", "letterbox_chw_opencv"]


def _geometry(
    src_hw: tuple[int, int], out_hw: tuple[int, int], mode: str, align: str
) -> tuple[int, int, int, int]:
    (src_h, src_w), (out_h, out_w) = src_hw, out_hw
    if mode == "stretch":
        return out_w, out_h, 0, 0
    scale = min(out_h / src_h, out_w / src_w)
    new_w = min(max(int(round(src_w * scale)), 1), out_w)
    new_h = min(max(int(round(src_h * scale)), 1), out_h)
    if align == "center":
        return new_w, new_h, (out_w - new_w) // 2, (out_h - new_h) // 2
    return new_w, new_h, 0, 0


def _axis(src_n: int, dst_n: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """OpenCV INTER_LINEAR source indices (i0, i1) and weight of i1 for each destination index."""
    f = ((np.arange(dst_n, dtype=np.float64) + 0.5) * (src_n / dst_n) - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.intp)
    frac = f - i0.astype(np.float32)
    low, high = i0 < 0, i0 >= src_n - 1
    frac[low | high] = 0.0
    i0 = np.clip(i0, 0, src_n - 1)
    return i0, np.minimum(i0 + 1, src_n - 1), frac


def _bilinear(image: NDArray[np.uint8], new_w: int, new_h: int) -> NDArray[np.float32]:
    """(new_h, new_w, 3) float32 resize of an (H, W, 3) uint8 image."""
    x0, x1, ax = _axis(image.shape[1], new_w)
    y0, y1, ay = _axis(image.shape[0], new_h)
    ax, ay = ax[None, :, None], ay[:, None, None]
    rows0 = image[y0].astype(np.float32)
    rows1 = image[y1].astype(np.float32)
    top = rows0[:, x0] + (rows0[:, x1] - rows0[:, x0]) * ax
    bottom = rows1[:, x0] + (rows1[:, x1] - rows1[:, x0]) * ax
    return top + (bottom - top) * ay


def _finish(
    hwc: NDArray[np.float32], swap_rb: bool, mean: tuple, std: tuple, out: NDArray | None
) -> NDArray[np.float32]:
    if swap_rb:
        hwc = hwc[..., ::-1]
    if any(mean) or any(s != 1.0 for s in std):  # YOLOX needs neither: no work done for it
        hwc = (hwc - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    tensor = np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], dtype=np.float32)
    if out is not None:
        out[...] = tensor
        return out
    return tensor


def letterbox_chw(
    image: NDArray[np.uint8],
    out_hw: tuple[int, int],
    *,
    mode: Literal["letterbox", "stretch"] = "letterbox",
    align: Literal["top_left", "center"] = "top_left",
    pad_value: float = 114.0,
    swap_rb: bool = False,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    out: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.float32], LetterboxInfo]:
    """NumPy reference: (1, 3, h, w) float32 tensor and its :class:`LetterboxInfo`."""
    src_h, src_w = image.shape[:2]
    out_h, out_w = out_hw
    new_w, new_h, off_x, off_y = _geometry((src_h, src_w), out_hw, mode, align)
    canvas = np.full((out_h, out_w, 3), pad_value, dtype=np.float32)
    canvas[off_y : off_y + new_h, off_x : off_x + new_w] = _bilinear(image, new_w, new_h)
    info = LetterboxInfo(new_w / src_w, new_h / src_h, float(off_x), float(off_y))
    return _finish(canvas, swap_rb, mean, std, out), info


def letterbox_chw_opencv(
    image: NDArray[np.uint8],
    out_hw: tuple[int, int],
    *,
    mode: Literal["letterbox", "stretch"] = "letterbox",
    align: Literal["top_left", "center"] = "top_left",
    pad_value: float = 114.0,
    swap_rb: bool = False,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    out: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.float32], LetterboxInfo]:
    """The OpenCV way: resize, copyMakeBorder, astype, swap, normalise, transpose."""
    padded, info = _resize_pad_opencv(image, out_hw, mode, align, pad_value)
    return _finish(padded.astype(np.float32), swap_rb, mean, std, out), info


def letterbox_chw_blob(
    image: NDArray[np.uint8],
    out_hw: tuple[int, int],
    *,
    mode: Literal["letterbox", "stretch"] = "letterbox",
    align: Literal["top_left", "center"] = "top_left",
    pad_value: float = 114.0,
    swap_rb: bool = False,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> tuple[NDArray[np.float32], LetterboxInfo]:
    """cv2.resize + cv2.copyMakeBorder + ``cv2.dnn.blobFromImage``; ``std`` must be one value."""
    import cv2

    if len(set(std)) != 1:
        raise ValueError(f"blobFromImage takes one scale for all channels, got std={std}")
    padded, info = _resize_pad_opencv(image, out_hw, mode, align, pad_value)
    blob = cv2.dnn.blobFromImage(
        padded, scalefactor=1.0 / std[0], mean=tuple(mean), swapRB=swap_rb, crop=False
    )
    return blob, info


def _resize_pad_opencv(
    image: NDArray[np.uint8], out_hw: tuple[int, int], mode: str, align: str, pad_value: float
) -> tuple[NDArray[np.uint8], LetterboxInfo]:
    """``cv2.resize`` + ``cv2.copyMakeBorder`` to ``out_hw``, as detector code usually does it."""
    import cv2  # a dependency, imported lazily so the references stay importable without it

    src_h, src_w = image.shape[:2]
    out_h, out_w = out_hw
    new_w, new_h, off_x, off_y = _geometry((src_h, src_w), out_hw, mode, align)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(
        resized,
        off_y,
        out_h - new_h - off_y,
        off_x,
        out_w - new_w - off_x,
        cv2.BORDER_CONSTANT,
        value=(pad_value, pad_value, pad_value),
    )
    return padded, LetterboxInfo(new_w / src_w, new_h / src_h, float(off_x), float(off_y))
