"""Poisson streams: rate, recipients without replacement by weight, sizes, reproducibility."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

from mailsim.scenario.model import Distribution, Host, Scenario, Stream, Weighted, Workload
from mailsim.scenario.postfix import PostfixSettings
from mailsim.streams import RandomStreams
from mailsim.workload import scenario_arrivals, stream_arrivals


def make_stream(**overrides: object) -> Stream:
    fields: dict[str, object] = {
        "name": "s",
        "rate": 2.0,
        "senders": (Weighted("a@x", 1.0), Weighted("b@x", 3.0)),
        "recipients": (Weighted("r1@y", 1.0), Weighted("r2@y", 2.0), Weighted("r3@y", 7.0)),
        "size": Distribution.constant(1000.0),
    }
    fields.update(overrides)
    return Stream(**fields)  # type: ignore[arg-type]


def test_interarrival_times_are_exponential() -> None:
    """Kolmogorov-Smirnov against Exp(rate): a Poisson process has exponential gaps."""
    arrivals = list(stream_arrivals(make_stream(), RandomStreams(5).generator("w"), 5000.0))
    gaps = np.diff([a[0] for a in arrivals])
    assert stats.kstest(gaps, "expon", args=(0, 1 / 2.0)).pvalue > 0.001
    count = len(arrivals)  # Poisson(10000): 99.9 % interval is about +-330
    assert abs(count - 10_000) < 3.29 * np.sqrt(10_000)


def test_senders_follow_their_weights() -> None:
    arrivals = list(stream_arrivals(make_stream(), RandomStreams(5).generator("w"), 5000.0))
    share_b = sum(a[1] == "b@x" for a in arrivals) / len(arrivals)
    half_width = 3.29 * np.sqrt(0.75 * 0.25 / len(arrivals))
    assert abs(share_b - 0.75) < half_width


def test_recipients_distinct_and_first_pick_by_weight() -> None:
    stream = make_stream(recipients_per_message=(1, 3))
    arrivals = list(stream_arrivals(stream, RandomStreams(9).generator("w"), 5000.0))
    counts = [len(a[2]) for a in arrivals]
    assert set(counts) == {1, 2, 3}
    assert all(len(set(a[2])) == len(a[2]) for a in arrivals)
    first = [a[2][0] for a in arrivals]
    share = first.count("r3@y") / len(first)
    assert abs(share - 0.7) < 3.29 * np.sqrt(0.21 / len(first))


def test_sizes_are_drawn_from_the_distribution() -> None:
    stream = make_stream(size=Distribution.lognormal(3500.0, 1.1))
    sizes = [a[3] for a in stream_arrivals(stream, RandomStreams(2).generator("w"), 5000.0)]
    log_sizes = np.log(sizes)
    assert stats.kstest(log_sizes, "norm", args=(np.log(3500.0), 1.1)).pvalue > 0.001


def test_start_and_stop_bound_the_stream() -> None:
    stream = make_stream(start=100.0, stop=200.0)
    times = [a[0] for a in stream_arrivals(stream, RandomStreams(1).generator("w"), 1000.0)]
    assert times and min(times) >= 100.0 and max(times) < 200.0


def _scenario(seed: int) -> Scenario:
    host = Host("mx.y", "10.0.0.1", PostfixSettings("mx.y"))
    return Scenario(
        "t",
        {"mx.y": host},
        seed=seed,
        duration=600.0,
        workload=Workload((make_stream(name="a"), make_stream(name="b", rate=0.5))),
    )


def test_streams_merge_in_time_order_and_are_numbered() -> None:
    arrivals = list(scenario_arrivals(_scenario(1), RandomStreams(1)))
    assert [a.msg for a in arrivals] == list(range(1, len(arrivals) + 1))
    assert all(x.t <= y.t for x, y in itertools.pairwise(arrivals))
    assert {a.stream for a in arrivals} == {"a", "b"}


def test_same_seed_same_workload_other_seed_other() -> None:
    one = list(scenario_arrivals(_scenario(1), RandomStreams(1)))
    again = list(scenario_arrivals(_scenario(1), RandomStreams(1)))
    other = list(scenario_arrivals(_scenario(1), RandomStreams(2)))
    assert one == again and one != other
