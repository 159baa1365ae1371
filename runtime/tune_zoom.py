"""``carbonedge tune``: the zoom windows, tried off on the fastest match.

Zoom windows (``vision/detectors/zoom.py``) cost one model run per window on every detected
frame while the lines learn, and on the small-road-user lines for good. After the model, crop
and input-size chains (``runtime/tune.py``), the fastest candidate that kept the reference's
crossings (the reference itself when none did) is tried with ``zoom: off``: where the site's
road users are large enough for the whole-frame pass, that keeps every crossing and saves the
windows from the first frame on. Tried only where the candidate zooms at all.
"""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.tune import try_candidate
from carbonedge.runtime.tune_result import Candidate, Trial, fastest_match

__all__ = ["zoom_off_candidate", "zoom_trials"]


def zoom_off_candidate(base: Candidate) -> Candidate | None:
    """``base`` with ``zoom: off``; None where ``base`` has no zoom windows to turn off (its
    settings are a detector config's ``model_dump``: ``zoom`` is a mapping or absent)."""
    zoom = base.detector.get("zoom")
    if not isinstance(zoom, dict) or zoom.get("mode") == "off":
        return None
    settings = {**base.detector, "zoom": {**zoom, "mode": "off"}}
    return Candidate(f"{base.name} zoom off", settings, base.input_hw)


def zoom_trials(runner: Any, trials: list[Trial], reference: Trial, tolerance: int,
                standard: Trial | None = None) -> list[Trial]:  # fmt: skip
    """The fastest match so far (or the reference) with its zoom windows off, scored against
    ``standard`` (a hand count) or else the reference; [] where it has none."""
    candidate = zoom_off_candidate(fastest_match(trials, reference, tolerance))
    if candidate is None:
        return []
    return [try_candidate(runner, Trial(candidate), reference if standard is None else standard)]
