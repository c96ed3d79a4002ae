"""Named random streams: reproducible, independent, and unaffected by other components."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mailsim.scenario.model import Distribution
from mailsim.streams import RandomStreams


def draw(streams: RandomStreams, name: str, n: int = 5) -> list[float]:
    return list(streams.generator(name).random(n))


def test_same_seed_same_numbers() -> None:
    assert draw(RandomStreams(7), "a") == draw(RandomStreams(7), "a")


def test_other_seed_or_name_other_numbers() -> None:
    assert draw(RandomStreams(7), "a") != draw(RandomStreams(8), "a")
    assert draw(RandomStreams(7), "a") != draw(RandomStreams(7), "b")


def test_adding_a_component_does_not_shift_another() -> None:
    first = RandomStreams(3)
    second = RandomStreams(3)
    draw(second, "new-component", 1000)
    assert draw(first, "workload") == draw(second, "workload")


def test_negative_seed_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="-1"):
        RandomStreams(-1)


@pytest.mark.parametrize(
    "dist",
    [
        Distribution.exponential(2.0),
        Distribution.uniform(1.0, 3.0),
        Distribution.lognormal(2.0, 0.5),
    ],
)
def test_batch_sampler_mean_within_confidence_interval(dist: Distribution) -> None:
    values = np.array(list(itertools.islice(RandomStreams(11).sampler("s", dist), 20_000)))
    half_width = 3.29 * values.std(ddof=1) / np.sqrt(len(values))  # 99.9 % normal interval
    assert abs(values.mean() - dist.mean) < half_width


def test_constant_sampler_is_constant() -> None:
    sampler = RandomStreams(1).sampler("c", Distribution.constant(0.25))
    assert list(itertools.islice(sampler, 3)) == [0.25, 0.25, 0.25]
