"""``carbonedge tune``: the detection stride, tried on the fastest match.

After the model, crop and input-size chains (``runtime/tune.py``), the fastest candidate that
kept the reference's crossings (the reference itself when none did) is tried with the vehicle
stages seeing every 2nd, 3rd, ... frame (``detect_fps`` = source fps / k, ``runtime/stride.py``),
down to ``MIN_DETECT_FPS`` looks a second; the chain stops at its first miss.
"""

from __future__ import annotations

import math
from typing import Any

from carbonedge.runtime.tune import try_candidate
from carbonedge.runtime.tune_result import Candidate, Trial, fastest_match

__all__ = ["MIN_DETECT_FPS", "stride_candidates", "stride_trials"]

#: The fewest detections a second tried (Frigate's default detect rate).
MIN_DETECT_FPS = 5.0


def stride_candidates(base: Candidate, fps: float) -> list[Candidate]:
    """``base`` at every k-th frame of a ``fps`` source, k = 2 .. while fps / k >= 5."""
    out = []
    for k in range(2, math.floor(fps / MIN_DETECT_FPS + 1e-9) + 1):
        detect_fps = math.floor(fps / k * 1000) / 1000  # rounded down: fps // detect_fps is k
        settings = {**base.detector, "detect_fps": detect_fps}
        out.append(Candidate(f"{base.name} every {k}", settings, base.input_hw))
    return out


def stride_trials(runner: Any, trials: list[Trial], reference: Trial, tolerance: int,
                  fps: float, standard: Trial | None = None) -> list[Trial]:  # fmt: skip
    """The stride chain of the fastest match so far (or of the reference), until a miss;
    scored against ``standard`` (a hand count) or else the reference."""
    best = fastest_match(trials, reference, tolerance)
    out: list[Trial] = []
    for candidate in stride_candidates(best, fps):
        trial = try_candidate(runner, Trial(candidate), reference if standard is None else standard)
        out.append(trial)
        if not trial.matches(tolerance, reference):
            break
    return out
