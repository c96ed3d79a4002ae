"""Arrival times of a burst: a newsletter or campaign of a known size.

``over``: the N times are independent uniform draws on [at, at + over), sorted, which is a
Poisson process on that window conditioned on having exactly N points. ``rate``: N arrivals
one after another with Exp(rate) gaps from ``at`` on (a Poisson process stopped at its Nth
point). Times at or after the run's end are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mailsim.scenario.shape import Burst

__all__ = ["burst_times"]

Floats = np.ndarray[tuple[int], np.dtype[np.float64]]


def burst_times(
    burst: Burst, generator: np.random.Generator, horizon: float, batch: int
) -> Iterator[Floats]:
    """Yield the burst's arrival times before ``horizon`` in order, ``batch`` at a time."""
    if burst.over > 0:
        times: Floats = burst.at + np.sort(generator.uniform(0.0, burst.over, burst.messages))
    else:
        times = burst.at + np.cumsum(generator.exponential(1.0 / burst.rate, burst.messages))
    times = times[times < horizon]
    for first in range(0, len(times), batch):
        yield times[first : first + batch]
