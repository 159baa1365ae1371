"""``bench_model`` compares model variants of YOLOX-nano in one run (nothing here asserts a speed):
each variant's row holds its input size, FLOPs, share of the CPU's peak and its line count, and the
ratio is against the FP32 416 reference of the same run. Two variants, the quick settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonedge.benchmarks import bench_model


@pytest.mark.slow  # two variants over 300 frames of the highway clip (~30 s)
def test_quick_rows_of_the_reference_and_a_crop(
    shared_dir: Path, with_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, crop = bench_model.VARIANTS[0], bench_model.VARIANTS[3]
    assert reference.name.startswith("FP32 416") and crop.roi == "auto" and not crop.int8
    monkeypatch.setattr(bench_model, "VARIANTS", (reference, crop))
    rows = bench_model.run(quick=True)
    assert [r.kernel for r in rows] == ["model", "model"]
    assert rows[0].ours_ms == rows[0].reference_ms  # the reference against itself: 1.0x
    assert rows[1].reference_ms == rows[0].ours_ms
    assert rows[0].case.startswith("FP32 416 (reference): input 416x416, ")
    assert rows[1].case.startswith(f"{crop.name}: input 128x320, ")
    for row in rows:
        assert "% of peak" in row.case and "(truth 3), 300 frames" in row.case, row.case
        assert row.ours_ms > 0 and row.reference == f"{reference.name}, same run"
