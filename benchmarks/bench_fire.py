"""Fire/smoke kernels against their NumPy references, at tower-camera working sizes, and the
weight-free monitor's cost per frame on big tower frames (2048x1536, 3072x2048): ours (the whole
frame reduced to ~640 px, the horizon band at up to 2048 px) against the same monitor run on the
whole frame at full resolution, measured in the same run."""

from __future__ import annotations

import os
from itertools import count, cycle
from pathlib import Path

import cv2
import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import fire, smoke_change_update
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


def flicker_masks(shape_hw: tuple[int, int], n: int = 8) -> list[np.ndarray]:
    """``n`` random (H, W) uint8 0/255 masks, 30 % set: fed in turn, most pixels keep toggling."""
    rng = np.random.default_rng(2)
    return [(rng.random(shape_hw) < 0.3).astype(np.uint8) * 255 for _ in range(n)]


def _bench_flicker(name: str, shape_hw: tuple[int, int]) -> Row:
    """A new mask every call (8 random masks in turn), as flames toggle. One fixed mask would let
    every score decay by ``decay`` per call into float32 subnormals (after ~400 calls), where both
    sides run 10-60x slower and the row measures the FPU's subnormal path, not the kernel."""
    masks = flicker_masks(shape_hw)
    prev, flick = np.zeros(shape_hw, np.uint8), np.zeros(shape_hw, np.float32)
    prev_ref, flick_ref = prev.copy(), flick.copy()
    ours_masks, ref_masks = cycle(masks), cycle(masks)
    return compare(
        "flicker_update", name,
        lambda: fire.flicker_update(next(ours_masks), prev, flick, decay=0.8),
        lambda: ref.flicker_update(next(ref_masks), prev_ref, flick_ref, decay=0.8),
    )  # fmt: skip


def _bench_smoke_change(name: str, shape_hw: tuple[int, int]) -> Row:
    rng = np.random.default_rng(3)
    luma = rng.uniform(0, 255, shape_hw).astype(np.float32)
    bg = (luma + rng.normal(0, 6, shape_hw)).astype(np.float32)
    var = rng.uniform(1, 20, shape_hw).astype(np.float32)
    bg_ref, var_ref, out = bg.copy(), var.copy(), np.empty(shape_hw, np.uint8)
    kw = {"threshold_levels": 4.0, "k_sigma": 2.0, "alpha": 0.18, "alpha_candidate": 0.06,
          "alpha_variance": 0.1}  # fmt: skip
    return compare(
        "smoke_change_update", name,
        lambda: smoke_change_update(luma, bg, var, out_mask=out, **kw),
        lambda: ref.smoke_change_update(luma, bg_ref, var_ref, out_mask=out, **kw),
    )  # fmt: skip


_TOWER = "media/fire/positive/seq_hpwren_figlib_20180728_rm-w-mobo-c"


def tower_frames(size_wh: tuple[int, int], n: int = 6) -> list[np.ndarray]:
    """``n`` consecutive real tower frames (FIgLib rm-w-mobo-c, 2048x1536) resized to
    ``size_wh`` when ../shared is here, else a synthetic sky-over-terrain scene with noise."""
    shared = Path(os.environ.get("CARBONEDGE_SHARED_DIR", Path(__file__).parents[2] / "shared"))
    files = sorted((shared / _TOWER).glob("*.jpg"))[:n]
    if len(files) == n:
        return [cv2.resize(cv2.imread(str(f)), size_wh, interpolation=cv2.INTER_AREA)
                for f in files]  # fmt: skip
    rng = np.random.default_rng(4)
    w, h = size_wh
    base = np.empty((h, w, 3), np.uint8)
    base[: h // 3] = (220, 180, 150)
    base[h // 3 :] = rng.integers(40, 120, (h - h // 3, w, 1), dtype=np.uint8)
    return [np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
            for _ in range(n)]  # fmt: skip


def _bench_frame(name: str, size_wh: tuple[int, int]) -> Row:
    from carbonedge.runtime.base.types import Frame
    from carbonedge.vision.fire import FireMonitor, FireMonitorConfig

    frames = tower_frames(size_wh)

    def feeder(config: FireMonitorConfig):
        monitor, ticks = FireMonitor(config, "bench"), count()
        for i in range(len(frames)):  # backgrounds and the scene in place before timing
            monitor.update(Frame("tower", i, 60.0 * i, 60.0 * i, frames[i], 1 / 60))

        def step() -> None:
            i = next(ticks) + len(frames)
            image = frames[i % len(frames)]
            monitor.update(Frame("tower", i, 60.0 * i, 60.0 * i, image, 1 / 60))

        return step

    full = {"detector": {"type": "pixels", "work_width_px": size_wh[0]}}
    return compare(
        "fire monitor frame", name, feeder(FireMonitorConfig()),
        feeder(FireMonitorConfig(**full)), reference_name="whole frame at full res",
        repeats=5, min_time_s=0.0,
    )  # fmt: skip


_FRAMES_WH = {"2048x1536": (2048, 1536), "3072x2048": (3072, 2048)}


def run(quick: bool) -> list[Row]:
    sizes = ["640x427"] if quick else list(_SIZES_HW)
    rows = []
    for name in sizes:
        shape = _SIZES_HW[name]
        rows += [_bench_smoke(name, shape), _bench_flame(name, shape), _bench_flicker(name, shape)]
    band = {"2048x537 band": (537, 2048)} if quick else {"2048x537 band": (537, 2048),
                                                          "1536x717 band": (717, 1536)}  # fmt: skip
    rows += [_bench_smoke_change(name, shape) for name, shape in band.items()]
    frames = ["2048x1536"] if quick else list(_FRAMES_WH)
    rows += [_bench_frame(name, _FRAMES_WH[name]) for name in frames]
    return rows
