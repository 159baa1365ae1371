"""``letterbox_chw`` against the NumPy reference and the usual OpenCV pipeline.

Ours runs as the detector runs it: a ``Letterbox`` built once (settings checked once) filling a
reused input buffer; in the "padding kept" case the buffer keeps its padding between frames of
one size (``pad_ready``), as the YOLOX detector does.

The OpenCV way is ``cv2.resize`` + ``cv2.copyMakeBorder`` + ``astype`` + channel swap + normalise
+ transpose, as most detector code does it; ``cv2.dnn.blobFromImage`` (after the same resize and
exact padding) is the shortest OpenCV way and the strongest peer, timed where its one-scale
normalisation can express the convention; where the convention has one scale per channel
(NanoDet, stretched: no padding) ``cv2.dnn.blobFromImageWithParams`` with a per-channel
``scalefactor`` does resize, mean, scale and HWC->CHW in one C++ call, and is timed instead.
The NumPy reference skips normalisation when the
convention needs none (YOLOX: mean 0, std 1), as any sensible code would. Cases are the three
detector conventions on realistic camera frames (a smooth gradient plus noise; content does not
change the timing).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import Letterbox
from carbonedge.kernels import reference as ref

# case name -> (image (H, W), tensor (h, w), keyword arguments)
_CASES: dict[str, tuple[tuple[int, int], tuple[int, int], dict]] = {
    "yolox 320x240->416 (highway clip), padding kept": ((240, 320), (416, 416), {}),
    "yolox 1920x1080->416": ((1080, 1920), (416, 416), {}),
    "yolox 640x480->416": ((480, 640), (416, 416), {}),
    "ultralytics 1280x720->640": (
        (720, 1280),
        (640, 640),
        {"swap_rb": True, "std": (255.0,) * 3, "align": "center"},
    ),
    "nanodet 1280x720->320 stretch": (
        (720, 1280),
        (320, 320),
        {"mode": "stretch", "mean": (103.53, 116.28, 123.675), "std": (57.375, 57.12, 58.395)},
    ),
}
_QUICK = ("yolox 320x240->416 (highway clip), padding kept",)


def _frame(shape_hw: tuple[int, int]) -> NDArray[np.uint8]:
    rng = np.random.default_rng(0)
    h, w = shape_hw
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 256], axis=-1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    for name, (image_hw, out_hw, kwargs) in _CASES.items():
        if quick and name not in _QUICK:
            continue
        image = _frame(image_hw)
        buf = np.empty((1, 3, *out_hw), np.float32)

        # Defaults bind this iteration's values; each stays a zero-argument callable.
        # the detector's way: settings checked once, padding written once per image size
        plan = Letterbox(out_hw, **kwargs)
        plan(image, out=buf)
        pad_ready = "padding kept" in name

        def ours(image=image, buf=buf, plan=plan, pad_ready=pad_ready):
            return plan(image, out=buf, pad_ready=pad_ready)

        def ref_numpy(image=image, out_hw=out_hw, kwargs=kwargs):
            return ref.letterbox_chw(image, out_hw, **kwargs)

        def ref_opencv(image=image, out_hw=out_hw, kwargs=kwargs):
            return ref.letterbox_chw_opencv(image, out_hw, **kwargs)

        rows.append(compare("letterbox_chw", name, ours, ref_numpy, reference_name="numpy"))
        rows.append(compare("letterbox_chw", name, ours, ref_opencv, reference_name="opencv"))
        if len(set(kwargs.get("std", (1.0,)))) == 1:

            def ref_blob(image=image, out_hw=out_hw, kwargs=kwargs):
                return ref.letterbox_chw_blob(image, out_hw, **kwargs)

            rows.append(
                compare(
                    "letterbox_chw", name, ours, ref_blob, reference_name="cv2.dnn.blobFromImage"
                )
            )
        elif kwargs.get("mode") == "stretch":
            params = blob_params(out_hw, kwargs)

            def ref_blob_params(image=image, params=params):
                return cv2.dnn.blobFromImageWithParams(image, params)

            rows.append(
                compare("letterbox_chw", name, ours, ref_blob_params,
                        reference_name="cv2.dnn.blobFromImageWithParams")
            )  # fmt: skip
    return rows


def blob_params(out_hw: tuple[int, int], kwargs: dict) -> cv2.dnn.Image2BlobParams:
    """One-call OpenCV preprocessing of a stretched input with a scale per channel."""
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = tuple(1.0 / s for s in kwargs.get("std", (1.0,) * 3))
    params.size = (out_hw[1], out_hw[0])
    params.mean = tuple(kwargs.get("mean", (0.0,) * 3))
    params.swapRB = bool(kwargs.get("swap_rb", False))
    params.ddepth = cv2.CV_32F
    params.datalayout = cv2.DNN_LAYOUT_NCHW
    params.paddingmode = cv2.dnn.DNN_PMODE_NULL
    return params
