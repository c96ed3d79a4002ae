"""Greylisting at the remote server, exact logs (postgrey's rule, Postfix's words).

mx1.c.test greylists with a 60 s delay: the first attempt of a (client address, sender,
recipient) triplet gets ``450 4.7.1 <rcpt>: Recipient address rejected: Greylisted, please try
again later`` (how smtpd words a policy server's answer; the reference log's firma6 shows the
same form), an attempt 60 s or more after the first is accepted and so is every later one.
Times as in test_sim_dns: a message submitted at t reaches mx1 at t + 0.161; its RCPT is
answered 0.1 s later (mx1's smtpd time). minimal_backoff_time = 1000 s keeps the sender's
retries out of the first 1000 s, so only fresh messages test the triplet.
"""

from __future__ import annotations

from mailsim.scenario.faults import Greylist, HostBehaviour
from mailsim.sim import simulate
from mailsim.workload import Arrival

from fault_builders import TIMES, at, mx_domain, run, strip_delays, to_dan

SENDER = "mx.a.test"
MX1 = "mx1.c.test"
RELAY = "mx1.c.test[10.0.2.1]:25"
CLIENT = "mx.a.test[10.0.0.1]"
GREYLISTED = (
    "450 4.7.1 <dan@c.test>: Recipient address rejected: Greylisted, please try again later"
)
SAID = f"host mx1.c.test[10.0.2.1] said: {GREYLISTED} (in reply to RCPT TO command)"


def scenario(delay: float = 60.0, reply: str = "") -> object:
    greylist = Greylist(delay=delay, reply=reply) if reply else Greylist(delay=delay)
    return mx_domain(
        [(10, MX1)],
        {MX1: HostBehaviour(greylist=greylist)},
        capacity=TIMES,
        sender_postfix={"minimal_backoff_time": "1000s", "maximal_backoff_time": "4000s"},
        drain=3000.0,
    )


def test_first_attempt_is_greylisted_and_a_later_one_after_the_delay_passes() -> None:
    """m1 at 1 (first seen 1.161) and m2 at 30 (29 s later: too early, and the timer is not
    reset) are greylisted; m3 at 62 (61 s after the first) is accepted; bob's m4 at the same
    moment is a new triplet and greylisted."""
    log = run(
        scenario(),  # type: ignore[arg-type]
        to_dan(1.0, 1),
        to_dan(30.0, 2),
        to_dan(62.0, 3),
        Arrival(62.0, 4, "bob@a.test", ("dan@c.test",), 1000),
    )
    rows = [
        (*row[:7], strip_delays(row[7]))
        for row in log
        if row[0] < 1000
        and row[2] in ("smtp", "smtpd")
        and row[3] in ("reject", "deferred", "sent")
        and row[1] in (SENDER, MX1)
    ]
    reject = (
        MX1,
        "smtpd",
        "reject",
        "dan@c.test",
        "4.7.1",
        CLIENT,
        f"RCPT from {CLIENT}: {GREYLISTED}",
    )
    deferred = (SENDER, "smtp", "deferred", "dan@c.test", "4.7.1", RELAY, SAID)
    assert rows == [
        (1.261, *reject),
        (1.261, *deferred),
        (30.261, *reject),
        (30.261, *deferred),
        (62.262, *reject),
        (62.262, *deferred),
        (62.271, SENDER, "smtp", "sent", "dan@c.test", "2.0.0", RELAY, rows[-1][7]),
    ]
    assert str(rows[-1][7]).startswith("250 2.0.0 Ok: queued as ")
    assert [row[1] for row in at(log, MX1, "received")][:1] == [MX1]
    assert at(log, MX1, "received")[0][0] == 62.261  # m3, not bob's m4


def test_deferred_messages_get_through_on_their_retry() -> None:
    """Every greylisted message is retried after its backoff and delivered: the analysis says
    delivered for all four recipients, and mx1 logged four greylist rejects in all."""
    run_ = simulate(
        scenario(),  # type: ignore[arg-type]
        arrivals=iter(
            [
                to_dan(1.0, 1),
                to_dan(30.0, 2),
                to_dan(62.0, 3),
                Arrival(62.0, 4, "bob@a.test", ("dan@c.test",), 1000),
            ]
        ),
    )
    recipients = run_.recipients()
    assert list(recipients["status"]) == ["delivered"] * 4
    events = run_.events
    rejects = events[(events["node"] == MX1) & (events["event"] == "reject")]
    assert len(rejects) == 3


def test_the_greylist_reply_is_configurable() -> None:
    """The reference log's firma6 answered 450 4.2.0 and named the delay."""
    reply = "450 4.2.0 Greylisted, please try again in 25 seconds"
    log = run(scenario(25.0, reply), to_dan())  # type: ignore[arg-type]
    deferred = at(log, SENDER, "deferred")[0]
    assert deferred[5] == "4.2.0"
    assert strip_delays(deferred[7]) == (
        "host mx1.c.test[10.0.2.1] said: 450 4.2.0 <dan@c.test>: Recipient address rejected: "
        "Greylisted, please try again in 25 seconds (in reply to RCPT TO command)"
    )


def test_each_recipient_is_its_own_triplet() -> None:
    """dan's triplet was first seen at 1.161 and eve's never: a two-recipient message at 70 gets
    dan accepted and eve greylisted in the same session."""
    log = run(
        scenario(),  # type: ignore[arg-type]
        to_dan(1.0, 1),
        to_dan(70.0, 2, ("dan@c.test", "eve@c.test")),
    )
    second = [
        row
        for row in at(log, SENDER, "sent", "deferred")
        if row[2] == "smtp" and 70 < row[0] < 1000
    ]  # type: ignore[operator]
    assert [(row[3], row[4]) for row in second] == [
        ("sent", "dan@c.test"),
        ("deferred", "eve@c.test"),
    ]
