"""Shaped streams end to end: bursts, records, reproducibility, and plain streams left alone.

* bursts: exactly N arrivals; ``over``: uniform on the window (Kolmogorov-Smirnov);
  ``rate``: Exp(rate) gaps (KS); cut at the run's end;
* a shaped stream's records carry its route (connect_to, client address, service) and its
  header sets by weight (binomial 99.9 % interval);
* the same seed gives the same records, another seed others, and adding a shaped stream does
  not move another stream's draws (named random streams);
* the issue-2 scenarios draw exactly what they drew before issue 5 (a digest of every record,
  computed with the code of commit 6cb1e40).
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mailsim.scenario import load_scenario
from mailsim.scenario.model import Distribution, Host, Scenario, Stream, Weighted, Workload
from mailsim.scenario.postfix import PostfixSettings
from mailsim.scenario.shape import Burst, LognormalPareto, Profile, ZipfCount
from mailsim.streams import RandomStreams
from mailsim.workload import Arrival, scenario_arrivals, shaped_arrivals, stream_arrivals
from mailsim.workload.burst import burst_times

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
P_MIN = 0.001
Z = 3.29
USERS = tuple(Weighted(f"user{i}@a.test") for i in range(1, 51))


def shaped(**overrides: object) -> Stream:
    fields: dict[str, object] = {
        "name": "shaped",
        "rate": 0.5,
        "senders": USERS,
        "recipients": USERS,
        "size": LognormalPareto(),
        "recipients_per_message": ZipfCount(2.0, 10),
        "profile": Profile.office(),
    }
    fields.update(overrides)
    return Stream(**fields)  # type: ignore[arg-type]


def scenario(*streams: Stream, duration: float = 86400.0, seed: int = 1) -> Scenario:
    host = Host("mx.a.test", "10.0.0.1", PostfixSettings("mx.a.test"))
    return Scenario("t", {"mx.a.test": host}, workload=Workload(streams), duration=duration,
                    seed=seed)  # fmt: skip


def arrivals(*streams: Stream, seed: int = 1, duration: float = 86400.0) -> list[Arrival]:
    return list(scenario_arrivals(scenario(*streams, duration=duration), RandomStreams(seed)))


# -- bursts ---------------------------------------------------------------------------------------
def burst_of(burst: Burst, horizon: float = 1e9, seed: int = 1) -> np.ndarray:
    generator = RandomStreams(seed).generator("workload/news")
    return np.concatenate(list(burst_times(burst, generator, horizon, 1000)))


def test_burst_over_a_window_is_uniform_on_it() -> None:
    times = burst_of(Burst(at=9000.0, messages=6000, over=120.0))
    assert len(times) == 6000 and np.all(np.diff(times) >= 0)
    assert times.min() >= 9000.0 and times.max() < 9120.0
    assert stats.kstest(times, "uniform", args=(9000.0, 120.0)).pvalue > P_MIN


def test_burst_at_a_rate_has_exponential_gaps() -> None:
    times = burst_of(Burst(at=100.0, messages=5000, rate=50.0))
    assert len(times) == 5000 and times[0] > 100.0
    gaps = np.diff(np.concatenate(([100.0], times)))
    assert stats.kstest(gaps, "expon", args=(0, 1 / 50.0)).pvalue > P_MIN


def test_burst_is_cut_at_the_end_of_the_run() -> None:
    times = burst_of(Burst(at=50.0, messages=1000, over=100.0), horizon=100.0)
    assert 0 < len(times) < 1000 and times.max() < 100.0
    assert abs(len(times) - 500) < Z * np.sqrt(1000 * 0.25)  # Binomial(1000, 1/2)


@pytest.mark.parametrize(
    "kwargs",
    [{"messages": 0, "over": 1.0}, {"messages": 5}, {"messages": 5, "over": 1.0, "rate": 1.0}],
)
def test_bad_bursts_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="a burst needs"):
        Burst(at=0.0, **kwargs)  # type: ignore[arg-type]


def test_burst_stream_merges_with_the_others() -> None:
    news = Stream("news", 0.0, (Weighted("news@a.test"),), USERS,
                  burst=Burst(at=3600.0, messages=400, over=60.0))  # fmt: skip
    plain = Stream("plain", 0.05, USERS, USERS)
    merged = arrivals(plain, news, duration=7200.0)
    assert sum(a.stream == "news" for a in merged) == 400
    assert [a.msg for a in merged] == list(range(1, len(merged) + 1))
    assert all(x.t <= y.t for x, y in itertools.pairwise(merged))


# -- records --------------------------------------------------------------------------------------
def test_shaped_records_carry_the_route_and_weighted_headers() -> None:
    spam = (("Subject", "[SPAM] offer"),)
    ham = (("Subject", "Hello"),)
    stream = shaped(name="spam", connect_to="mx.a.test", client_address="203.0.113.66",
                    service="smtp", headers=((spam, 3.0), (ham, 7.0)),
                    senders=(Weighted("offer@bulk.example"),))  # fmt: skip
    records = arrivals(stream)
    assert records and {(a.connect_to, a.client_address, a.service) for a in records} == {
        ("mx.a.test", "203.0.113.66", "smtp")
    }
    share = sum(a.headers == spam for a in records) / len(records)
    assert abs(share - 0.3) < Z * np.sqrt(0.21 / len(records))


def test_shaped_senders_follow_their_weights() -> None:
    senders = (Weighted("a@a.test", 1.0), Weighted("b@a.test", 3.0))
    records = list(shaped_arrivals(shaped(senders=senders), RandomStreams(2).generator("w"),
                                   7 * 86400.0))  # fmt: skip
    share = sum(r[1] == "b@a.test" for r in records) / len(records)
    assert abs(share - 0.75) < Z * np.sqrt(0.75 * 0.25 / len(records))


def test_start_stop_and_rate_bound_a_shaped_stream() -> None:
    stream = shaped(start=3600.0, stop=7200.0, profile=Profile.flat())
    times = [r[0] for r in stream_arrivals(stream, RandomStreams(3).generator("w"), 86400.0)]
    assert times and min(times) >= 3600.0 and max(times) < 7200.0
    assert abs(len(times) - 1800) < Z * np.sqrt(1800)
    assert list(stream_arrivals(shaped(rate=0.0), RandomStreams(3).generator("w"), 1e5)) == []
    assert list(stream_arrivals(shaped(senders=()), RandomStreams(3).generator("w"), 1e5)) == []


def test_a_plain_stream_with_a_shaped_size_is_drawn_shaped() -> None:
    plain = Stream("p", 1.0, USERS, USERS, size=Distribution.constant(1000.0))
    assert plain.is_plain
    assert not Stream("p", 1.0, USERS, USERS, size=LognormalPareto()).is_plain
    assert not Stream("p", 1.0, USERS, USERS, recipients_per_message=ZipfCount()).is_plain
    assert not Stream("p", 1.0, USERS, USERS, remote_share=0.5, remote_recipients=USERS).is_plain


# -- reproducibility ------------------------------------------------------------------------------
def test_same_seed_same_records_other_seed_other() -> None:
    streams = (shaped(), shaped(name="spam", profile=Profile.flat(), rate=0.2))
    one = arrivals(*streams, seed=5)
    assert one == arrivals(*streams, seed=5)
    assert one != arrivals(*streams, seed=6)


def test_adding_a_shaped_stream_does_not_move_another_stream() -> None:
    plain = Stream("plain", 0.05, USERS, USERS)
    alone = [a[:1] + a[2:5] for a in arrivals(plain)]
    together = [a[:1] + a[2:5] for a in arrivals(plain, shaped()) if a.stream == "plain"]
    assert alone == together


def digest(records: list[Arrival]) -> str:
    text = "".join(
        f"{a.msg} {a.t:.6f} {a.stream} {a.sender} {','.join(a.recipients)} {a.size} "
        f"{a.client_address} {a.connect_to} {a.service} {a.headers}\n"
        for a in records
    )
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("name", "count", "expected"),
    [
        ("firma1", 10316, "94234711b911057a81e01a8e973ce5d3f359fa13fa12086d9ac3b8cb967f48f5"),
        ("real-maincf", 104, "f68832ff5f4e1608c8df8a518849aa5e3026037c06f1ee2951b88c3bcb57bb1f"),
    ],
)
def test_issue_2_scenarios_draw_what_they_drew(name: str, count: int, expected: str) -> None:
    loaded = load_scenario(SCENARIOS / f"{name}.yaml")
    records = list(scenario_arrivals(loaded, RandomStreams(loaded.seed)))
    assert len(records) == count
    assert digest(records) == expected
