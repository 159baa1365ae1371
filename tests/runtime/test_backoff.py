"""The one capped exponential backoff (carbonedge.runtime.base.backoff)."""

from __future__ import annotations

import random

import pytest

from carbonedge.runtime.base.backoff import Backoff


def delays(backoff: Backoff, n: int) -> list[float]:
    return [backoff.next_delay_s() for _ in range(n)]


def test_doubles_up_to_the_cap_and_reset_starts_again() -> None:
    backoff = Backoff(0.5, 3.0)
    assert delays(backoff, 6) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff.failures == 6
    backoff.reset()
    assert delays(backoff, 2) == [0.5, 1.0]


def test_the_cap_wins_over_the_initial_delay_and_months_of_failures_stay_finite() -> None:
    assert delays(Backoff(5.0, 2.0), 3) == [2.0, 2.0, 2.0]
    backoff = Backoff(1.0, 120.0, jitter="full", rng=random.Random(1))
    assert all(1.0 <= d <= 120.0 for d in delays(backoff, 5000))  # no OverflowError at 2**1024


@pytest.mark.parametrize(
    ("jitter", "low", "high"),
    [
        ("full", lambda d, initial: initial, lambda d, initial: d),  # [initial_s, d]
        ("equal", lambda d, initial: d / 2, lambda d, initial: d),  # [d/2, d]
    ],
)
def test_jitter_stays_in_its_range_and_spreads(jitter, low, high) -> None:
    initial_s, max_s = 0.25, 8.0
    rng = random.Random(7)
    spread: list[float] = []
    for _ in range(200):
        backoff = Backoff(initial_s, max_s, jitter=jitter, rng=rng)
        for n, delay_s in enumerate(delays(backoff, 8)):
            d = min(max_s, initial_s * 2**n)
            assert low(d, initial_s) <= delay_s <= high(d, initial_s)
            if n == 7:
                spread.append(delay_s)
    assert max(spread) - min(spread) > 2.0  # boxes failing together do not retry in step


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0.0, 1.0), {}, "must be > 0"),
        ((1.0, -1.0), {}, "must be > 0"),
        ((1.0, 2.0), {"jitter": "half"}, "'none', 'full' or 'equal'"),
    ],
)
def test_bad_arguments_are_rejected(args, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(*args, **kwargs)
