"""Weighted header sets of a stream: drawn per message, carried to the MDA, free when unused."""

from __future__ import annotations

import dataclasses

import numpy as np

from mailsim.scenario.mda import MDARule
from mailsim.scenario.model import Distribution, Stream, Weighted, Workload
from mailsim.sim import simulate
from mailsim.streams import RandomStreams
from mailsim.workload import scenario_arrivals, stream_arrivals

from builders import two_domains

SPAM = (("Subject", "[SPAM] cheap watches"),)
HAM = (("Subject", "Re: objednavka"),)
LIST = (("Subject", "Novinky"), ("List-Id", "<novinky.example>"))


def stream(**overrides: object) -> Stream:
    fields: dict[str, object] = {
        "name": "s",
        "rate": 2.0,
        "senders": (Weighted("a@x"), Weighted("b@x", 3.0)),
        "recipients": (Weighted("r1@y"), Weighted("r2@y", 2.0)),
        "size": Distribution.lognormal(3000.0, 1.0),
    }
    fields.update(overrides)
    return Stream(**fields)  # type: ignore[arg-type]


def test_a_stream_without_header_sets_yields_no_headers() -> None:
    arrivals = list(stream_arrivals(stream(), RandomStreams(3).generator("w"), 100.0))
    assert arrivals and all(a[4] == () for a in arrivals)


def test_header_sets_do_not_change_the_rest_of_the_first_batch() -> None:
    """The header draw comes after the batch's times, senders, recipients and sizes."""
    plain = list(stream_arrivals(stream(), RandomStreams(3).generator("w"), 1000.0))
    mixed = stream(headers=((SPAM, 1.0), (HAM, 9.0)))
    with_headers = list(stream_arrivals(mixed, RandomStreams(3).generator("w"), 1000.0))
    assert len(plain) < 4096  # one batch
    assert [a[:4] for a in with_headers] == [a[:4] for a in plain]
    assert {a[4] for a in with_headers} == {SPAM, HAM}


def test_header_sets_follow_their_weights() -> None:
    mixed = stream(rate=50.0, headers=((SPAM, 4.0), (HAM, 90.0), (LIST, 6.0)))
    arrivals = list(stream_arrivals(mixed, RandomStreams(8).generator("w"), 2000.0))
    share = sum(a[4] == SPAM for a in arrivals) / len(arrivals)
    assert abs(share - 0.04) < 3.29 * np.sqrt(0.04 * 0.96 / len(arrivals))
    assert sum(a[4] == LIST for a in arrivals) > 0


def test_scenario_arrivals_carry_headers_with_one_stream_and_with_several() -> None:
    base = two_domains()
    one = stream(senders=(Weighted("alice@a.test"),), recipients=(Weighted("bob@a.test"),),
                 headers=((SPAM, 1.0),))  # fmt: skip
    alone = list(scenario_arrivals(base.replace(workload=Workload((one,))), RandomStreams(1)))
    assert alone and all(a.headers == SPAM for a in alone)
    other = dataclasses.replace(one, name="t", headers=())
    both = base.replace(workload=Workload((one, other)))
    merged = list(scenario_arrivals(both, RandomStreams(1)))
    assert {a.stream: a.headers for a in merged} == {"s": SPAM, "t": ()}
    assert [a.t for a in merged if a.stream == "s"] == [a.t for a in alone]


def test_headers_reach_the_mda_through_the_simulation() -> None:
    """A stream of 10 % spam subjects to bob, whose rule files them into .Spam."""
    base = two_domains()
    rules = (MDARule("folder", "spam", header="Subject", pattern=r"^\[SPAM\]", folder=".Spam"),)
    users = tuple(
        dataclasses.replace(u, mda_rules=rules) if u.address == "bob@a.test" else u
        for u in base.users
    )
    office = stream(
        rate=0.5,
        senders=(Weighted("alice@a.test"),),
        recipients=(Weighted("bob@a.test"),),
        headers=((SPAM, 1.0), (HAM, 9.0)),
    )
    world = base.replace(users=users, workload=Workload((office,)), duration=400.0)
    arrivals = list(scenario_arrivals(world, RandomStreams(world.seed)))
    spam = {f"m{a.msg}" for a in arrivals if a.headers == SPAM}
    events = simulate(world).events
    delivered = events[events["event"] == "delivered"]
    filed = delivered["detail"].astype(str).str.startswith("delivered to maildir folder .Spam")
    assert set(delivered.loc[filed, "msg"].astype(str)) == spam
    assert 0 < len(spam) < len(arrivals)
