"""Arrival times of a non-homogeneous Poisson process with a daily and weekly profile.

The intensity is piecewise constant: ``rate`` times the profile's factor for each hour of the
week (:meth:`~mailsim.scenario.shape.Profile.multipliers`). Its integral, the cumulative
intensity Lambda, is then piecewise linear, and the process is sampled exactly by inversion:
the points of a unit-rate Poisson process (cumulative sums of Exp(1) gaps) are mapped through
Lambda's inverse (Cinlar's method; the time-rescaling theorem run backwards). For a
piecewise-constant rate this is exact like Lewis and Shedler's thinning but spends one draw per
arrival instead of one per candidate, and vectorises: one binary search per batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mailsim.scenario.shape import HOUR, WEEK, Profile

__all__ = ["CumulativeIntensity", "profile_times"]

Floats = np.ndarray[tuple[int], np.dtype[np.float64]]


class CumulativeIntensity:
    """Lambda(t) / rate for a profile: the run's time ``t`` in "flat seconds".

    A flat second is a second at factor 1, so a Poisson process of rate ``rate`` in flat
    seconds is the profiled process in real seconds.
    """

    def __init__(self, profile: Profile) -> None:
        self.origin = profile.origin
        self.factors: Floats = np.asarray(profile.multipliers(), dtype=float)
        #: flat seconds from Monday 00:00 to the start of each hour of the week (169 values)
        self.starts: Floats = np.concatenate(([0.0], np.cumsum(self.factors * HOUR)))
        self.per_week = float(self.starts[-1])
        self._safe: Floats = np.where(self.factors > 0, self.factors, 1.0)

    def forward(self, t: Floats) -> Floats:
        """Return the flat seconds from the run's start to the times ``t``."""
        return self._at(np.asarray(t, dtype=float) + self.origin) - self._at(
            np.asarray([self.origin])
        )

    def inverse(self, flat: Floats) -> Floats:
        """Return the run times at which ``flat`` flat seconds have passed since the start."""
        target = flat + self._at(np.asarray([self.origin]))
        weeks = np.floor(target / self.per_week)
        rest = np.maximum(target - weeks * self.per_week, 0.0)
        hour = np.clip(np.searchsorted(self.starts, rest, side="right") - 1, 0, 167)
        offset = (rest - self.starts[hour]) / self._safe[hour]
        times: Floats = weeks * WEEK + hour * HOUR + offset - self.origin
        return times

    def _at(self, phase: Floats) -> Floats:
        """Return flat seconds from Monday 00:00 of week 0 to ``phase`` seconds after it."""
        weeks = np.floor(phase / WEEK)
        rest = phase - weeks * WEEK
        hour = np.clip((rest // HOUR).astype(np.intp), 0, 167)
        flat: Floats = (
            weeks * self.per_week + self.starts[hour] + (rest - hour * HOUR) * self.factors[hour]
        )
        return flat


def profile_times(
    profile: Profile,
    rate: float,
    start: float,
    stop: float,
    generator: np.random.Generator,
    batch: int,
) -> Iterator[Floats]:
    """Yield batches of arrival times in [start, stop), in order, of the process with
    intensity ``rate * factor(t)``; each batch draws ``batch`` Exp gaps."""
    if rate <= 0 or stop <= start:
        return
    intensity = CumulativeIntensity(profile)
    flat = float(intensity.forward(np.asarray([start]))[0])
    end = float(intensity.forward(np.asarray([stop]))[0])
    while flat < end:
        points = flat + np.cumsum(generator.exponential(1.0 / rate, batch))
        flat = float(points[-1])
        inside = points[points < end]
        times = intensity.inverse(inside)
        # float rounding at an hour boundary must not step outside [start, stop)
        times = np.clip(times, start, np.nextafter(stop, start))
        yield times
