"""Tiny benchmark harness: interleaved timing of our kernel against a reference in one run.

Benchmarks are not tests: they print ratios measured in the same process, alternating the two
callables so that a noisy neighbour slows both alike. Each ``bench_*.py`` module exposes
``run(quick: bool) -> list[Row]``; ``python -m carbonedge.benchmarks`` runs them all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Row:
    """One benchmark result: best-of-N times of ours and of the reference, in milliseconds."""

    kernel: str
    case: str
    ours_ms: float
    reference_ms: float
    reference: str

    @property
    def speedup(self) -> float:
        return self.reference_ms / self.ours_ms if self.ours_ms > 0 else float("inf")


# A compiled kernel that beats the best straightforward alternative by less than this is flagged.
UNDER_X = 3.0


def _once_ms(fn: Callable[[], object], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) * 1e3 / inner


def compare(
    kernel: str,
    case: str,
    ours: Callable[[], object],
    reference: Callable[[], object],
    *,
    reference_name: str = "numpy",
    repeats: int = 7,
    min_time_s: float = 0.02,
) -> Row:
    """Time ``ours`` and ``reference`` interleaved; report the best of ``repeats`` rounds each."""
    ours()
    reference()  # warm-up: JIT compile, caches, allocations
    inner = 1
    while _once_ms(ours, inner) * inner < min_time_s * 1e3 and inner < 1 << 16:
        inner *= 2
    inner_ref = 1
    while _once_ms(reference, inner_ref) * inner_ref < min_time_s * 1e3 and inner_ref < 1 << 16:
        inner_ref *= 2
    best_ours = best_ref = float("inf")
    for _ in range(repeats):
        best_ours = min(best_ours, _once_ms(ours, inner))
        best_ref = min(best_ref, _once_ms(reference, inner_ref))
    return Row(kernel, case, best_ours, best_ref, reference_name)


def format_table(rows: list[Row]) -> str:
    """Markdown table of rows, speed as a ratio against the reference; under 3x is said so."""
    lines = [
        "| kernel | case | ours ms | reference | reference ms | speed-up | note |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for r in rows:
        note = f"under {UNDER_X:g}x" if round(r.speedup, 1) < UNDER_X else ""
        lines.append(
            f"| {r.kernel} | {r.case} | {r.ours_ms:.4f} | {r.reference} | "
            f"{r.reference_ms:.4f} | {r.speedup:.1f}x | {note} |"
        )
    return "\n".join(lines)
