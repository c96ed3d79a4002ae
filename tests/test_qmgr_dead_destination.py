"""Dead destinations: declared after failed pseudo-cohorts, revived by a success, by
minimal_backoff_time or by a flush; exact logs worked out by hand.

mx.b.test is down from 0 to 2 s (connections time out after smtp_connect_timeout = 2 s); its
smtpd takes 1 s per message; everything else is free and links have no latency. mx.a.test
retries with the real run's 30s/60s/15s backoff. Three messages to carol@b.test at t = 1 all
try at once and time out at 3: with the default feedback (1) and failed cohort limit (1) the
window goes 5 -> 3 (1/5 of a cohort failed), -> 2 (+1/3), then the third failure makes 1.03
failed cohorts: dead.
"""

from __future__ import annotations

from dataclasses import replace

from mailsim.scenario.faults import HostBehaviour, Outage
from mailsim.scenario.model import Distribution, Scenario
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from builders import host, two_domains
from qmgr_builders import mail

TIMED_OUT = "connect to mx.b.test[10.0.1.1]:25: Connection timed out"
SUSPENDED = f"delivery temporarily suspended: {TIMED_OUT}"


def scenario() -> Scenario:
    base = two_domains()
    a = host(
        "mx.a.test",
        "10.0.0.1",
        "a.test",
        mynetworks="127.0.0.0/8, 10.0.0.0/24",
        minimal_backoff_time="30s",
        maximal_backoff_time="60s",
        queue_run_delay="15s",
        smtp_connect_timeout="2s",
    )
    b = host("mx.b.test", "10.0.1.1", "b.test", capacity={"smtpd": Distribution.constant(1.0)})
    b = replace(b, behaviour=HostBehaviour(down=(Outage(0.0, 2.0),)))
    return replace(base, hosts={"mx.a.test": a, "mx.b.test": b}, drain=100.0)


def run(
    arrivals: list[Arrival], until: float = 60.0, flush_at: float | None = None
) -> list[tuple[object, ...]]:
    sim = Simulation(scenario(), arrivals=iter(arrivals))
    if flush_at is not None:
        sim.run(until=flush_at)
        sim.flush("mx.a.test")
    sim.run(until=until)
    return [
        (round(e.t, 9), e.msg, e.daemon, e.event, e.recipient, e.dsn, e.relay, e.detail)
        for e in sim.log.rows()
        if e.node == "mx.a.test" and e.daemon in ("smtp", "error", "qmgr")
    ]


def three_at_one() -> list[Arrival]:
    return [mail(1.0, "carol@b.test", n) for n in (1, 2, 3)]


def failed_at_three() -> list[tuple[object, ...]]:
    """The log up to the death at 3 s, the same in every story."""
    out: list[tuple[object, ...]] = [
        (1.0, f"m{n}", "qmgr", "active", "", "", "", "nrcpt=1") for n in (1, 2, 3)
    ]
    for n in (1, 2, 3):
        out.append(
            (3.0, f"m{n}", "smtp", "connect_fail", "", "4.4.1", "mx.b.test[10.0.1.1]:25", TIMED_OUT)
        )
        out.append(
            (
                3.0,
                f"m{n}",
                "smtp",
                "deferred",
                "carol@b.test",
                "4.4.1",
                "none",
                f"{TIMED_OUT} delays=0/0/2/0",
            )
        )
        if n == 3:  # the third failure kills the destination; the message is then deferred
            out.append((3.0, "", "qmgr", "throttled", "", "", "smtp:b.test", TIMED_OUT))
        out.append((3.0, f"m{n}", "qmgr", "deferred", "", "", "", "queue deferred"))
    return out


def sent(t: float, n: int, queued_as: int, delays: str) -> list[tuple[object, ...]]:
    return [
        (
            t,
            f"m{n}",
            "smtp",
            "sent",
            "carol@b.test",
            "2.0.0",
            "mx.b.test[10.0.1.1]:25",
            f"250 2.0.0 Ok: queued as {queued_as:010X} delays={delays}",
        ),
        (t, f"m{n}", "qmgr", "removed", "", "", "", ""),
    ]


#: mx.b.test's queue ids count up from crc32(name) << 16 (MTANode)
B = 0xE4249D0000


def test_revived_by_minimal_backoff_time() -> None:
    """Dead at 3: m4 (arriving at 10) is deferred at once by the retry service (postfix/error,
    'delivery temporarily suspended'). minimal_backoff_time later (33) the destination is
    unthrottled at the initial window and, being idle, forgotten. The scan at 45 takes all four
    (stamps 33, 40 <= 46) and they go through at 46."""
    log = run([*three_at_one(), mail(10.0, "carol@b.test", 4)])
    assert log == [
        *failed_at_three(),
        (10.0, "m4", "qmgr", "active", "", "", "", "nrcpt=1"),
        (
            10.0,
            "m4",
            "error",
            "deferred",
            "carol@b.test",
            "4.4.1",
            "none",
            f"{SUSPENDED} delays=0/0/0/0",
        ),
        (10.0, "m4", "qmgr", "deferred", "", "", "", "queue deferred"),
        (
            33.0,
            "",
            "qmgr",
            "unthrottled",
            "",
            "",
            "smtp:b.test",
            "minimal_backoff_time passed; window 5",
        ),
        *[(45.0, f"m{n}", "qmgr", "active", "", "", "", "nrcpt=1") for n in (1, 2, 3, 4)],
        *sent(46.0, 1, B + 1, "44/0/0/1"),
        *sent(46.0, 2, B + 2, "44/0/0/1"),
        *sent(46.0, 3, B + 3, "44/0/0/1"),
        *sent(46.0, 4, B + 4, "35/0/0/1"),
    ]


def test_revived_by_a_delivery_that_gets_through() -> None:
    """m4 starts at 2.5, after the outage, and is still in its session when the destination dies
    at 3. Its success at 3.5 brings the destination back with the window at the deliveries still
    busy (1, its own: "back from the almost grave"); the timer set at 3 does nothing at 33. m5
    came at 3.2, while it was dead."""
    log = run([*three_at_one(), mail(2.5, "carol@b.test", 4), mail(3.2, "carol@b.test", 5)])
    start = failed_at_three()
    assert log == [
        *start[:3],
        (2.5, "m4", "qmgr", "active", "", "", "", "nrcpt=1"),
        *start[3:],
        (3.2, "m5", "qmgr", "active", "", "", "", "nrcpt=1"),
        (
            3.2,
            "m5",
            "error",
            "deferred",
            "carol@b.test",
            "4.4.1",
            "none",
            f"{SUSPENDED} delays=0/0/0/0",
        ),
        (3.2, "m5", "qmgr", "deferred", "", "", "", "queue deferred"),
        *sent(3.5, 4, B + 1, "0/0/0/1")[:1],
        (3.5, "", "qmgr", "unthrottled", "", "", "smtp:b.test", "delivery succeeded; window 1"),
        *sent(3.5, 4, B + 1, "0/0/0/1")[1:],
        *[(45.0, f"m{n}", "qmgr", "active", "", "", "", "nrcpt=1") for n in (1, 2, 3, 5)],
        *sent(46.0, 1, B + 2, "44/0/0/1"),
        *sent(46.0, 2, B + 3, "44/0/0/1"),
        *sent(46.0, 3, B + 4, "44/0/0/1"),
        *sent(46.0, 5, B + 5, "42/0/0/1"),
    ]


def test_revived_by_postqueue_flush() -> None:
    """postqueue -f at 20: the dead destination is unthrottled and the deferred queue scanned
    regardless of time stamps, so the three go out at once instead of at 45."""
    log = run(three_at_one(), flush_at=20.0)
    assert log == [
        *failed_at_three(),
        (20.0, "", "qmgr", "unthrottled", "", "", "smtp:b.test", "flush; window 5"),
        *[(20.0, f"m{n}", "qmgr", "active", "", "", "", "nrcpt=1") for n in (1, 2, 3)],
        *sent(21.0, 1, B + 1, "19/0/0/1"),
        *sent(21.0, 2, B + 2, "19/0/0/1"),
        *sent(21.0, 3, B + 3, "19/0/0/1"),
    ]
