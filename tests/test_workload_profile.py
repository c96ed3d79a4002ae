"""Non-homogeneous Poisson arrivals with a daily and weekly profile, sampled by inversion.

The checks work from the profile's definition, not from the sampler's code: the cumulative
intensity Lambda is rebuilt here hour by hour, and

* time rescaling: the gaps between Lambda(t_i) are Exp(1) for an NHPP (Kolmogorov-Smirnov);
* the count in [0, T) is Poisson(Lambda(T)) (99.9 % normal bound);
* given the count, arrivals fall into the hours of the day and the days of the week in
  proportion to the profile (chi-square goodness of fit);
* peak-share tuning keeps the hours' order and reaches the share asked for.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mailsim.scenario.shape import OFFICE_HOURLY, OFFICE_WEEKLY, Profile
from mailsim.streams import RandomStreams
from mailsim.workload.profile import CumulativeIntensity, profile_times

HOUR, DAY = 3600.0, 86400.0
P_MIN = 0.001  # significance of every goodness-of-fit test here


def times_of(profile: Profile, rate: float, start: float, stop: float, seed: int) -> np.ndarray:
    generator = RandomStreams(seed).generator("workload/profiled")
    batches = list(profile_times(profile, rate, start, stop, generator, 4096))
    return np.concatenate(batches) if batches else np.zeros(0)


def flat_seconds(profile: Profile, t: np.ndarray, horizon: float) -> np.ndarray:
    """Lambda(t) / rate from the definition: sum over whole hours of the hour's factor."""
    hours = int(np.ceil((profile.origin + horizon) / HOUR)) + 2
    index = np.arange(hours)
    hourly = np.asarray(profile.hourly) / np.mean(profile.hourly)
    weekly = np.asarray(profile.weekly) / np.max(profile.weekly)
    factor = hourly[index % 24] * weekly[(index // 24) % 7]
    before = np.concatenate(([0.0], np.cumsum(factor * HOUR)))

    def integral(x: np.ndarray) -> np.ndarray:
        whole = np.floor(x / HOUR).astype(int)
        result: np.ndarray = before[whole] + (x - whole * HOUR) * factor[whole]
        return result

    return integral(profile.origin + t) - integral(np.asarray([profile.origin]))


@pytest.mark.parametrize(
    "profile",
    [Profile.office(), Profile.office(origin=8.5 * HOUR + 17.0), Profile(OFFICE_HOURLY)],
    ids=["office-week", "office-from-monday-08:30:17", "office-hours-every-day"],
)
def test_rescaled_gaps_are_exponential_and_the_count_poisson(profile: Profile) -> None:
    rate, horizon = 0.05, 7 * DAY
    t = times_of(profile, rate, 0.0, horizon, seed=11)
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < horizon
    rescaled = rate * flat_seconds(profile, t, horizon)
    gaps = np.diff(np.concatenate(([0.0], rescaled)))
    assert stats.kstest(gaps, "expon").pvalue > P_MIN
    expected = rate * float(flat_seconds(profile, np.asarray([horizon]), horizon)[0])
    assert abs(len(t) - expected) < 3.29 * np.sqrt(expected)


def test_hours_of_the_day_follow_the_hourly_weights() -> None:
    """Chi-square of the arrivals per hour of day (over 10 days) against the weights."""
    profile = Profile(OFFICE_HOURLY)
    t = times_of(profile, 0.2, 0.0, 10 * DAY, seed=3)
    counts = np.bincount((t // HOUR).astype(int) % 24, minlength=24)
    expected = len(t) * np.asarray(OFFICE_HOURLY) / sum(OFFICE_HOURLY)
    assert stats.chisquare(counts, expected).pvalue > P_MIN


def test_days_of_the_week_follow_the_weekly_weights() -> None:
    """Chi-square of arrivals per weekday over four weeks against the weekly weights."""
    profile = Profile.office()
    t = times_of(profile, 0.02, 0.0, 28 * DAY, seed=5)
    counts = np.bincount((t // DAY).astype(int) % 7, minlength=7)
    expected = len(t) * np.asarray(OFFICE_WEEKLY) / sum(OFFICE_WEEKLY)
    assert stats.chisquare(counts, expected).pvalue > P_MIN


def test_rate_is_the_mean_over_a_full_day() -> None:
    """Mondays (weekly weight 1) get rate * 86400 messages on average: a t interval over 30
    seeded replications of one Monday contains it; Sundays (0.15) get 15 % of that."""
    rate = 0.1
    monday = [len(times_of(Profile.office(), rate, 0.0, DAY, seed)) for seed in range(30)]
    sunday = [
        len(times_of(Profile.office(origin=6 * DAY), rate, 0.0, DAY, seed)) for seed in range(30)
    ]
    for counts, share in ((monday, 1.0), (sunday, 0.15)):
        mean, half = np.mean(counts), stats.t.ppf(0.995, 29) * np.std(counts, ddof=1) / np.sqrt(30)
        assert abs(mean - share * rate * DAY) < half


def test_start_and_stop_cut_the_process_without_moving_it() -> None:
    profile = Profile.office(origin=3 * HOUR)
    whole = times_of(profile, 0.05, 0.0, 2 * DAY, seed=8)
    window = times_of(profile, 0.05, 10 * HOUR, 30 * HOUR, seed=8)
    assert window.min() >= 10 * HOUR and window.max() < 30 * HOUR
    rescaled = 0.05 * (flat_seconds(profile, window, 2 * DAY) - flat_seconds(
        profile, np.asarray([10 * HOUR]), 2 * DAY
    ))  # fmt: skip
    assert stats.kstest(np.diff(np.concatenate(([0.0], rescaled))), "expon").pvalue > P_MIN
    assert len(whole) > len(window) > 0


def test_hours_without_mail_get_none() -> None:
    hourly = tuple(1.0 if 9 <= h < 17 else 0.0 for h in range(24))
    t = times_of(Profile(hourly), 0.05, 0.0, 3 * DAY, seed=2)
    hours = (t // HOUR).astype(int) % 24
    assert len(t) > 1000 and set(hours.tolist()) <= set(range(9, 17))


def test_flat_profile_is_a_homogeneous_poisson_process() -> None:
    t = times_of(Profile.flat(origin=12345.0), 0.5, 0.0, DAY, seed=4)
    assert stats.kstest(np.diff(t), "expon", args=(0, 2.0)).pvalue > P_MIN


def test_cumulative_intensity_inverse_undoes_forward() -> None:
    intensity = CumulativeIntensity(Profile.office(origin=2 * DAY + 7 * HOUR))
    t = np.linspace(0.0, 20 * DAY, 5001)
    assert np.allclose(intensity.inverse(intensity.forward(t)), t, atol=1e-6)
    assert intensity.per_week == pytest.approx(
        HOUR * sum(np.asarray(OFFICE_HOURLY) / np.mean(OFFICE_HOURLY)) * sum(OFFICE_WEEKLY)
    )


def test_same_seed_same_times_other_seed_other() -> None:
    one = times_of(Profile.office(), 0.1, 0.0, DAY, seed=1)
    assert np.array_equal(one, times_of(Profile.office(), 0.1, 0.0, DAY, seed=1))
    assert not np.array_equal(one, times_of(Profile.office(), 0.1, 0.0, DAY, seed=2))


# -- the profile record ---------------------------------------------------------------------------
def test_office_profile_peak_is_ten_to_eleven() -> None:
    profile = Profile.office()
    assert max(range(24), key=lambda h: profile.hourly[h]) == 10
    assert profile.peak_share == pytest.approx(2.3 / sum(OFFICE_HOURLY))
    assert len(profile.multipliers()) == 168
    assert np.mean(profile.multipliers()[:24]) == pytest.approx(1.0)


@pytest.mark.parametrize("share", [0.05, 0.08, 0.15, 0.3, 0.6])
def test_peak_share_tuning_reaches_the_share_and_keeps_the_order(share: float) -> None:
    profile = Profile.office().with_peak_share(share)
    assert profile.peak_share == pytest.approx(share, rel=1e-9)
    assert np.array_equal(np.argsort(profile.hourly, kind="stable"),
                          np.argsort(OFFICE_HOURLY, kind="stable"))  # fmt: skip
    assert profile.weekly == OFFICE_WEEKLY


def test_peak_share_outside_the_reachable_range_is_refused() -> None:
    low, high = Profile.office().peak_share_range()
    assert (low, high) == (1 / 24, 1.0)
    with pytest.raises(ValueError, match=r"peak share 0\.03 outside"):
        Profile.office().with_peak_share(0.03)
    with pytest.raises(ValueError, match="outside"):
        Profile.flat().with_peak_share(0.1)
    assert Profile.flat().with_peak_share(1 / 24) == Profile.flat()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hourly": (1.0,) * 23}, "hourly needs 24 weights, got 23"),
        ({"hourly": (0.0,) * 24}, "hourly weights must be >= 0 with one > 0"),
        ({"weekly": (1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0)}, "weekly weights must be >= 0"),
        ({"origin": -5.0}, "negative or infinite origin -5.0"),
    ],
)
def test_bad_profiles_raise_quoting_the_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Profile(**kwargs)  # type: ignore[arg-type]
