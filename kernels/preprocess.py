"""Detector preprocessing: one fused letterbox pass from a BGR frame to a (1, 3, h, w) tensor.

``letterbox_chw`` does bilinear resize (OpenCV INTER_LINEAR half-pixel convention), padding,
optional BGR->RGB swap, ``(x - mean) / std`` and HWC->CHW float32 in a single Cython pass with
the GIL released. It covers the common detector conventions:

- YOLOX: BGR, 0-255, ``mode="letterbox", align="top_left", pad_value=114``.
- Ultralytics: ``swap_rb=True, std=(255, 255, 255), align="center", pad_value=114``.
- NanoDet: ``mode="stretch"`` with the model's mean/std.

The returned :class:`LetterboxInfo` maps boxes from tensor pixels back to image pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["Letterbox", "LetterboxInfo", "letterbox_chw"]

Mode = Literal["letterbox", "stretch"]
Align = Literal["top_left", "center"]

_register("letterbox_chw", "cython", "_letterbox")


@dataclass(frozen=True, slots=True)
class LetterboxInfo:
    """How a tensor pixel relates to an image pixel: ``x_tensor = x_image * scale_x + pad_x_px``.

    Attributes:
        scale_x: output (tensor) px per input (image) px along x, i.e. ``new_w / W``.
        scale_y: output px per input px along y, i.e. ``new_h / H``.
        pad_x_px: left padding in output px.
        pad_y_px: top padding in output px.
    """

    scale_x: float
    scale_y: float
    pad_x_px: float
    pad_y_px: float

    def to_input_xyxy(self, xyxy_out: NDArray) -> NDArray[np.float32]:
        """Map boxes from tensor px to image px: ``x = (x - pad_x) / scale_x`` (same for y).

        Args:
            xyxy_out: (N, 4) boxes (x1, y1, x2, y2) in tensor pixels, any real dtype.

        Returns:
            (N, 4) float32 boxes in image pixels (not clipped).
        """
        xyxy = np.asarray(xyxy_out, dtype=np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy_out must have shape (N, 4), got {xyxy.shape}")
        offset = np.array([self.pad_x_px, self.pad_y_px] * 2, dtype=np.float32)
        scale = np.array([self.scale_x, self.scale_y] * 2, dtype=np.float32)
        return ((xyxy - offset) / scale).astype(np.float32, copy=False)


def letterbox_geometry(
    image_hw: tuple[int, int],
    out_hw: tuple[int, int],
    mode: Mode = "letterbox",
    align: Align = "top_left",
) -> tuple[int, int, int, int]:
    """Resized size and placement of an (H, W) image inside an (h, w) tensor.

    Returns:
        ``(new_w, new_h, off_x, off_y)`` in output px. Letterbox: ``s = min(h/H, w/W)``,
        ``new = round(size * s)`` clamped to [1, out]; stretch: ``new = out``, no offset.
    """
    src_h, src_w = image_hw
    out_h, out_w = out_hw
    if mode == "stretch":
        return out_w, out_h, 0, 0
    scale = min(out_h / src_h, out_w / src_w)
    new_w = min(max(int(round(src_w * scale)), 1), out_w)
    new_h = min(max(int(round(src_h * scale)), 1), out_h)
    if align == "center":
        return new_w, new_h, (out_w - new_w) // 2, (out_h - new_h) // 2
    return new_w, new_h, 0, 0


def _check_image(image: NDArray) -> NDArray[np.uint8]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be a uint8 array, got {dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    if image.strides[1:] == (3, 1) and image.strides[0] >= 3 * image.shape[1]:
        return image  # C-contiguous, or a crop of a larger frame: rows strided, pixels packed
    return np.ascontiguousarray(image)


def _check_settings(
    out_hw: tuple[int, int],
    mode: str,
    align: str,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> tuple[int, int]:
    try:
        ok = len(out_hw) == 2 and all(int(v) == v and v >= 1 for v in out_hw)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"out_hw must be two positive integers (h, w), got {out_hw!r}")
    if mode not in ("letterbox", "stretch"):
        raise ValueError(f"mode must be 'letterbox' or 'stretch', got {mode!r}")
    if align not in ("top_left", "center"):
        raise ValueError(f"align must be 'top_left' or 'center', got {align!r}")
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std must have 3 values each, got {len(mean)} and {len(std)}")
    if not all(math.isfinite(s) and s != 0.0 for s in std):
        raise ValueError(f"std values must be finite and non-zero, got {tuple(std)}")
    return int(out_hw[0]), int(out_hw[1])


def _check_out(out: NDArray | None, out_hw: tuple[int, int]) -> NDArray[np.float32]:
    expected = (1, 3, out_hw[0], out_hw[1])
    if out is None:
        return np.empty(expected, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != expected:
        raise ValueError(
            f"out must be a float32 array of shape {expected}, got "
            f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable")
    return out


class Letterbox:
    """:func:`letterbox_chw` with its settings validated once: a detector builds one and calls it
    on every frame (only the image and ``out`` are checked then; the geometry of each image size
    is kept, at most ``MAX_SIZES`` of them).

    Args: ``out_hw``, ``mode``, ``align``, ``pad_value``, ``swap_rb``, ``mean``, ``std`` as
    :func:`letterbox_chw`.
    """

    MAX_SIZES = 16

    def __init__(
        self,
        out_hw: tuple[int, int],
        *,
        mode: Mode = "letterbox",
        align: Align = "top_left",
        pad_value: float = 114.0,
        swap_rb: bool = False,
        mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
        std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> None:
        self.out_hw = _check_settings(out_hw, mode, align, mean, std)
        self.mode, self.align = mode, align
        self._args = (
            bool(swap_rb),
            float(pad_value),
            tuple(float(m) for m in mean),
            tuple(float(v) for v in std),
        )
        self._sizes: dict[tuple[int, int], tuple[tuple[int, int, int, int], LetterboxInfo]] = {}

    def _geometry(self, src_hw: tuple[int, int]) -> tuple[tuple[int, int, int, int], LetterboxInfo]:
        known = self._sizes.get(src_hw)
        if known is None:
            geom = letterbox_geometry(src_hw, self.out_hw, self.mode, self.align)
            info = LetterboxInfo(
                geom[0] / src_hw[1], geom[1] / src_hw[0], float(geom[2]), float(geom[3])
            )
            if len(self._sizes) >= self.MAX_SIZES:
                self._sizes.clear()
            known = self._sizes[src_hw] = (geom, info)
        return known

    def __call__(
        self,
        image: NDArray[np.uint8],
        *,
        out: NDArray[np.float32] | None = None,
        pad_ready: bool = False,
    ) -> tuple[NDArray[np.float32], LetterboxInfo]:
        """``(tensor, info)`` as :func:`letterbox_chw` with this object's settings."""
        image = _check_image(image)
        tensor = _check_out(out, self.out_hw)
        if pad_ready and out is None:
            raise ValueError("pad_ready=True needs the out buffer that holds the padding")
        geom, info = self._geometry((image.shape[0], image.shape[1]))
        _require("_letterbox").letterbox_into(image, tensor[0], *geom, *self._args, not pad_ready)
        return tensor, info


def letterbox_chw(
    image: NDArray[np.uint8],
    out_hw: tuple[int, int],
    *,
    mode: Mode = "letterbox",
    align: Align = "top_left",
    pad_value: float = 114.0,
    swap_rb: bool = False,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    out: NDArray[np.float32] | None = None,
    pad_ready: bool = False,
) -> tuple[NDArray[np.float32], LetterboxInfo]:
    """Resize, pad, swap, normalise and transpose a BGR image into a detector input tensor.

    Args:
        image: (H, W, 3) uint8 BGR image.
        out_hw: tensor size (h, w) in px.
        mode: ``"letterbox"`` keeps the aspect ratio and pads; ``"stretch"`` scales each axis.
        align: where the resized image sits in letterbox mode: ``"top_left"`` or ``"center"``.
        pad_value: padding in pixel units, before normalisation.
        swap_rb: True gives RGB output channel order.
        mean, std: per output channel; value = (pixel_after_resize - mean[c]) / std[c].
        out: optional (1, 3, h, w) float32 C-contiguous buffer to fill and return.
        pad_ready: ``out`` already holds this call's padding (the previous call into it had the
            same image size and settings), so only the image area is written; needs ``out``.

    Returns:
        ``(tensor, info)``: (1, 3, h, w) float32 C-contiguous tensor and the geometry that maps
        tensor px back to image px.

    Raises:
        ValueError: wrong image dtype/shape, bad sizes, mode, align, mean/std or ``out`` buffer.
    """
    image = _check_image(image)
    plan = Letterbox(
        out_hw, mode=mode, align=align, pad_value=pad_value, swap_rb=swap_rb, mean=mean, std=std
    )
    return plan(image, out=out, pad_ready=pad_ready)
