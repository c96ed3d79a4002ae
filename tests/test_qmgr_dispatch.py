"""qmgr(8) moving mail into the active queue and out to the delivery agents: the incoming /
deferred alternation, qmgr_message_active_limit, recipient batching, per-destination and
per-transport limits. Exact times, worked out by hand."""

from __future__ import annotations

from dataclasses import replace

from mailsim.scenario.model import Distribution, Scenario
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from qmgr_builders import mail, unreachable

C = Distribution.constant


def slow(scenario: Scenario, node: str, **times: float) -> Scenario:
    """Give ``node`` constant service times (seconds per daemon)."""
    old = scenario.hosts[node]
    capacity = replace(
        old.capacity,
        service_time={
            **old.capacity.service_time,
            **{daemon: C(seconds) for daemon, seconds in times.items()},
        },
    )
    return replace(scenario, hosts={**scenario.hosts, node: replace(old, capacity=capacity)})


def at(sim: Simulation, event: str, node: str = "mx.a.test") -> list[tuple[float, str]]:
    return [(round(e.t, 6), e.msg) for e in sim.log.rows() if e.node == node and e.event == event]


def run(scenario: Scenario, arrivals: list[Arrival], until: float) -> Simulation:
    sim = Simulation(scenario, arrivals=iter(arrivals))
    sim.run(until=until)
    return sim


def test_imports_alternate_between_incoming_and_deferred() -> None:
    """qmgr takes 0.3 s per import. m1 and m2 fail at 0.4 and 0.7 (stamps 30); m3 and m4 arrive
    at 29.9 and 29.95. The scan at 30 finds m1 and m2 while m3 is being imported; then qmgr
    alternates: deferred m1, incoming m4, deferred m2 (qmgr_loop() round robin)."""
    scenario = slow(
        unreachable(minimal_backoff_time="30s", queue_run_delay="15s"), "mx.a.test", qmgr=0.3
    )
    arrivals = [
        mail(0.1, "dan@c.test", 1),
        mail(0.1, "dan@c.test", 2),
        mail(29.9, "carol@b.test", 3),
        mail(29.95, "carol@b.test", 4),
    ]
    sim = run(scenario, arrivals, until=40.0)
    assert at(sim, "active") == [
        (0.4, "m1"),
        (0.7, "m2"),
        (30.2, "m3"),
        (30.5, "m1"),
        (30.8, "m4"),
        (31.1, "m2"),
    ]


def test_the_active_queue_limit_keeps_mail_in_incoming() -> None:
    """qmgr_message_active_limit = 2 and a 1 s delivery: m3 enters the active queue when m1
    leaves it."""
    scenario = slow(unreachable(qmgr_message_active_limit="2"), "mx.b.test", smtpd=1.0)
    sim = run(scenario, [mail(1.0, "carol@b.test", n) for n in (1, 2, 3)], until=10.0)
    assert at(sim, "active") == [(1.0, "m1"), (1.0, "m2"), (2.0, "m3")]
    assert at(sim, "sent") == [(2.0, "m1"), (2.0, "m2"), (3.0, "m3")]


def test_recipients_are_batched_per_destination_recipient_limit() -> None:
    """smtp_destination_recipient_limit = 2: five recipients at b.test make three deliveries
    (2 + 2 + 1), each a transaction of its own at mx.b.test."""
    rcpts = tuple(f"carol+{n}@b.test" for n in range(5))
    scenario = unreachable(smtp_destination_recipient_limit="2")
    b = scenario.hosts["mx.b.test"]
    b = replace(b, postfix=b.postfix.with_values(recipient_delimiter="+"))
    scenario = replace(scenario, hosts={**scenario.hosts, "mx.b.test": b})
    sim = run(scenario, [Arrival(1.0, 1, "alice@a.test", rcpts, 1000)], until=10.0)
    received = [e.detail for e in sim.log.rows() if e.node == "mx.b.test" and e.event == "received"]
    assert sorted(received) == ["nrcpt=1", "nrcpt=2", "nrcpt=2"]


def test_the_smtp_process_limit_caps_deliveries_over_all_destinations() -> None:
    """smtp_process_limit = 2: four messages to b.test (window 5) go two at a time."""
    scenario = slow(unreachable(smtp_process_limit="2"), "mx.b.test", smtpd=1.0)
    sim = run(scenario, [mail(1.0, "carol@b.test", n) for n in (1, 2, 3, 4)], until=10.0)
    assert [t for t, _ in at(sim, "sent")] == [2.0, 2.0, 3.0, 3.0]


def test_local_concurrency_is_per_recipient() -> None:
    """local_destination_concurrency_limit = 2 per recipient (local_destination_recipient_limit
    = 1 makes the recipient the destination): three messages each to bob and to alice, local
    taking 1 s: two of each at once."""
    scenario = slow(unreachable(), "mx.a.test", local=1.0)
    arrivals = [mail(1.0, rcpt, n) for n, rcpt in enumerate(["bob@a.test", "alice@a.test"] * 3, 1)]
    sim = run(scenario, arrivals, until=10.0)
    delivered = [(e.t, e.recipient) for e in sim.log.rows() if e.event == "delivered"]
    assert sorted(delivered) == [
        (2.0, "alice@a.test"),
        (2.0, "alice@a.test"),
        (2.0, "bob@a.test"),
        (2.0, "bob@a.test"),
        (3.0, "alice@a.test"),
        (3.0, "bob@a.test"),
    ]


def test_destinations_of_a_transport_take_turns() -> None:
    """smtp_process_limit = 1, two messages for c.test (refused at once) queued behind two for
    b.test (1 s each): the free process serves the destinations in turn, b, c, b, c (the one
    just served goes to the back, a new one to the front)."""
    scenario = slow(unreachable(smtp_process_limit="1"), "mx.b.test", smtpd=1.0)
    arrivals = [
        mail(1.0, "carol@b.test", 1),
        mail(1.0, "carol@b.test", 2),
        mail(1.0, "dan@c.test", 3),
        mail(1.0, "dan@c.test", 4),
    ]
    sim = run(scenario, arrivals, until=10.0)
    outcomes = [
        (e.t, e.msg)
        for e in sim.log.rows()
        if e.node == "mx.a.test" and e.event in ("sent", "deferred") and e.recipient
    ]
    assert outcomes == [(2.0, "m1"), (2.0, "m3"), (3.0, "m2"), (3.0, "m4")]
