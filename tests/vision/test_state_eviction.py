"""Held per-track state stays bounded while tracks keep coming and going (no RSS assertions).

The long stream of ``benchmarks/soak_memory.py`` (vehicles entering and leaving six lanes, with
false positives that start unconfirmed tracks) runs through ByteTrack and a LineCounter; the
number of tracks each stage holds must stay small while the number of tracks created grows far
beyond it, and the crossings must still match the stream's true crossings.
"""

from __future__ import annotations

import pytest

from carbonedge.benchmarks.soak_memory import soak

_BOUND = 64  # about 12 vehicles on screen; a leak would pass this within a few hundred frames


def test_tracker_and_counter_state_stay_bounded_with_removed_ids_forwarded() -> None:
    res = soak(20_000, vehicles_per_minute=150.0, seed=3)
    assert res.highest_tracker_id > 100 * _BOUND  # tracks created, far beyond the bound
    assert res.max_held_tracks <= _BOUND
    assert res.max_line_states <= _BOUND
    assert all(s.pending_crossings <= _BOUND for s in res.samples)
    # eviction loses nothing: every true crossing is counted, within 1 %
    assert res.true_crossings > 3000
    assert res.crossings == pytest.approx(res.true_crossings, rel=0.01)


def test_counter_evicts_idle_tracks_on_its_own() -> None:
    """Without ``forget`` from the tracker, ``forget_after_s`` alone bounds the counter."""
    res = soak(6_000, seed=4, forget_removed=False, forget_after_s=5.0)
    assert res.highest_tracker_id > 30 * _BOUND
    assert res.max_line_states <= 2 * _BOUND
    assert res.crossings == pytest.approx(res.true_crossings, rel=0.01)


def test_counter_state_grows_without_any_eviction() -> None:
    """Control: with neither eviction path the same stream leaves state behind for every track,
    so the bounds above measure eviction, not a stream that happens to be small."""
    res = soak(6_000, seed=4, forget_removed=False, forget_after_s=1e9)
    assert res.max_line_states > 10 * _BOUND
