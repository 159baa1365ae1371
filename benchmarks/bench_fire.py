"""Fire/smoke kernels against their NumPy references, at tower-camera working sizes."""

from __future__ import annotations

import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import fire
from carbonedge.kernels import reference as ref

_SIZES_HW = {"640x427": (427, 640), "1280x853": (853, 1280), "1920x1080": (1080, 1920)}


def _bench_smoke(name: str, shape_hw: tuple[int, int]) -> Row:
    rng = np.random.default_rng(0)
    luma = rng.uniform(0, 255, shape_hw).astype(np.float32)
    bg = (luma + rng.normal(0, 6, shape_hw)).astype(np.float32)
    var = rng.uniform(1, 20, shape_hw).astype(np.float32)
    bg_ref, var_ref, out = bg.copy(), var.copy(), np.empty(shape_hw, np.uint8)
    kw = {"threshold_levels": 4.0, "k_sigma": 2.0, "alpha": 0.18, "alpha_candidate": 0.06,
          "alpha_variance": 0.1}  # fmt: skip
    return compare(
        "smoke_update", name,
        lambda: fire.smoke_update(luma, bg, var, out_mask=out, **kw),
        lambda: ref.smoke_update(luma, bg_ref, var_ref, out_mask=out, **kw),
    )  # fmt: skip


def _bench_flame(name: str, shape_hw: tuple[int, int]) -> Row:
    image = np.random.default_rng(1).integers(0, 256, (*shape_hw, 3), dtype=np.uint8)
    out = np.empty(shape_hw, np.uint8)
    return compare(
        "flame_mask", name,
        lambda: fire.flame_mask(image, out_mask=out),
        lambda: ref.flame_mask(image, out_mask=out),
    )  # fmt: skip


def _bench_flicker(name: str, shape_hw: tuple[int, int]) -> Row:
    rng = np.random.default_rng(2)
    mask = (rng.random(shape_hw) < 0.3).astype(np.uint8) * 255
    prev, flick = np.zeros(shape_hw, np.uint8), np.zeros(shape_hw, np.float32)
    prev_ref, flick_ref = prev.copy(), flick.copy()
    return compare(
        "flicker_update", name,
        lambda: fire.flicker_update(mask, prev, flick, decay=0.8),
        lambda: ref.flicker_update(mask, prev_ref, flick_ref, decay=0.8),
    )  # fmt: skip


def run(quick: bool) -> list[Row]:
    sizes = ["640x427"] if quick else list(_SIZES_HW)
    rows = []
    for name in sizes:
        shape = _SIZES_HW[name]
        rows += [_bench_smoke(name, shape), _bench_flame(name, shape), _bench_flicker(name, shape)]
    return rows
