"""Capped exponential backoff: the one way carbonedge spaces its retries.

Delays double from ``initial_s`` up to ``max_s`` (never above it); ``reset()`` after a success
starts again at ``initial_s``. Jitter spreads the retries of many boxes that failed together (a
shared network or broker outage) so they do not come back in step (ETSI EN 303 645 provision
5.9-3). The schemes are those of the AWS Architecture Blog's "Exponential Backoff And Jitter":

- ``"none"``: exactly ``d = min(max_s, initial_s * 2**failures)``;
- ``"full"``: uniform in ``[initial_s, d]`` (full jitter, but never sooner than ``initial_s``);
- ``"equal"``: uniform in ``[d / 2, d]`` (equal jitter: at least half the delay is kept).

    backoff = Backoff(0.5, 30.0, jitter="equal")
    while not connected():
        stop.wait(backoff.next_delay_s())
    backoff.reset()
"""

from __future__ import annotations

import random
from typing import Literal

__all__ = ["Backoff", "Jitter"]

Jitter = Literal["none", "full", "equal"]

_MAX_DOUBLINGS = 60  # 2**60 * any positive initial_s is past any cap; keeps the float finite


class Backoff:
    """Delays ``initial_s, 2*initial_s, 4*initial_s, ...`` capped at ``max_s``, with jitter.

    Args:
        initial_s: the first delay (> 0), and the floor of ``"full"`` jitter.
        max_s: no delay is longer (> 0).
        jitter: ``"none"``, ``"full"`` or ``"equal"`` (see the module docstring).
        rng: the random source for jitter (a seeded ``random.Random`` in tests).
    """

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        jitter: Jitter = "none",
        rng: random.Random | None = None,
    ) -> None:
        if not initial_s > 0 or not max_s > 0:
            raise ValueError(f"backoff delays must be > 0 (initial_s={initial_s}, max_s={max_s})")
        if jitter not in ("none", "full", "equal"):
            raise ValueError(f"backoff jitter must be 'none', 'full' or 'equal', not {jitter!r}")
        self.initial_s, self.max_s, self.jitter = float(initial_s), float(max_s), jitter
        self.failures = 0  # next_delay_s() calls since the last reset()
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        """The delay before the next try (seconds); each call counts one more failure."""
        delay_s = min(self.max_s, self.initial_s * 2.0 ** min(self.failures, _MAX_DOUBLINGS))
        self.failures += 1
        if self.jitter == "full" and delay_s > self.initial_s:
            return self._rng.uniform(self.initial_s, delay_s)
        if self.jitter == "equal":
            return self._rng.uniform(delay_s / 2.0, delay_s)
        return delay_s

    def reset(self) -> None:
        """After a success: the next failure waits ``initial_s`` again (jittered)."""
        self.failures = 0
