"""Scenarios and log helpers for the queue manager tests (qmgr(8), SCHEDULER_README)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from mailsim.scenario.faults import HostBehaviour
from mailsim.scenario.model import Distribution, DNSConfig, Link, MXRecord, Scenario, Zone
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from builders import host, two_domains

#: c.test's MX host has no server: every connection to it is refused
UNREACHABLE = Zone("c.test", 3600.0, (MXRecord(10, "mx.c.test"),), {"mx.c.test": "10.0.2.1"})


def with_unreachable(scenario: Scenario) -> Scenario:
    """Add c.test, whose MX host mx.c.test (10.0.2.1) refuses every connection."""
    zones = {**scenario.dns.zones, UNREACHABLE.origin: UNREACHABLE}
    return replace(scenario, dns=DNSConfig(zones, scenario.dns.lookup_time))


def unreachable(drain: float = 300.0, **postfix: str) -> Scenario:
    """two_domains() plus the unreachable c.test; ``postfix`` settings apply to mx.a.test."""
    return replace(with_unreachable(two_domains(**postfix)), drain=drain)


def mail(
    t: float, rcpt: str, n: int = 1, sender: str = "alice@a.test", size: int = 1000
) -> Arrival:
    """One message from alice's workstation (in mx.a.test's mynetworks) to ``rcpt``."""
    return Arrival(t, n, sender, (rcpt,), size)


def rows(sim: Simulation, node: str = "mx.a.test") -> list[tuple[object, ...]]:
    """Return (t, msg, daemon, event, recipient, dsn, relay, detail) of ``node``'s events."""
    return [
        (round(e.t, 9), e.msg, e.daemon, e.event, e.recipient, e.dsn, e.relay, e.detail)
        for e in sim.log.rows()
        if e.node == node
    ]


def concurrency_limited(
    positive: str,
    negative: str | None = None,
    style: str = "postfix",
    session_limit: int = 5,
    service: Distribution | None = None,
    latency: float = 0.002,
    **postfix: str,
) -> Scenario:
    """SCHEDULER_README's "active server concurrency limiter" experiment.

    mx.a.test (smtp_destination_concurrency_limit 20, initial_destination_concurrency 5, the given
    feedback) sends to mx.b.test, whose smtpd takes ``service`` per delivery (about 1 s) and
    answers 421 to a connection beyond ``session_limit`` simultaneous sessions. Everything else
    is free; links have ``latency`` (one way), so a 421 takes a round trip, during which another
    delivery may end.
    """
    base = two_domains()
    client = host(
        "mx.a.test",
        "10.0.0.1",
        "a.test",
        mynetworks="127.0.0.0/8, 10.0.0.0/24",
        smtp_destination_concurrency_limit="20",
        initial_destination_concurrency="5",
        smtp_destination_concurrency_positive_feedback=positive,
        smtp_destination_concurrency_negative_feedback=negative or positive,
        mailsim_concurrency_feedback_style=style,
        **postfix,
    )
    server = host(
        "mx.b.test",
        "10.0.1.1",
        "b.test",
        capacity={"smtpd": service or Distribution.uniform(0.9, 1.1)},
    )
    server = replace(server, behaviour=HostBehaviour(session_limit=session_limit))
    links = (Link(latency=latency, bandwidth=0.0),)
    return replace(base, hosts={"mx.a.test": client, "mx.b.test": server}, links=links)


def burst(count: int, rcpt: str = "carol@b.test", t: float = 0.0) -> Iterator[Arrival]:
    """``count`` one-recipient messages from alice, all submitted at time ``t``."""
    for n in range(1, count + 1):
        yield mail(t, rcpt, n)
