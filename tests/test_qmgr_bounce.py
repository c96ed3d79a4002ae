"""bounce(8) notifications: non-delivery reports and delay warnings are messages of their own."""

from __future__ import annotations

from mailsim.sim import Simulation
from mailsim.sim.engine import FIRST_CREATED_MSG_ID
from mailsim.sim.records import QueueFile
from mailsim.workload import Arrival

from qmgr_builders import mail, unreachable

NOTICE = f"m{FIRST_CREATED_MSG_ID}"
LAB = {
    "minimal_backoff_time": "30s",
    "maximal_backoff_time": "60s",
    "queue_run_delay": "15s",
    "maximal_queue_lifetime": "2m",
}


def lan(t: float, sender: str, rcpt: str) -> Arrival:
    """A message with any envelope sender from a workstation in mx.a.test's mynetworks."""
    return Arrival(t, 1, sender, (rcpt,), 1000, client_address="10.0.0.9", connect_to="mx.a.test")


def simulate(*arrivals: Arrival, until: float = 400.0, **postfix: str) -> Simulation:
    sim = Simulation(unreachable(**postfix), arrivals=iter(arrivals))
    sim.run(until=until)
    return sim


def injected(sim: Simulation, node: str = "mx.a.test") -> list[QueueFile]:
    """Record the queue files ``node`` creates itself (forwarded copies, notifications)."""
    made: list[QueueFile] = []
    mta = sim.nodes[node]
    inject = mta.inject

    def spy(qf: QueueFile) -> None:
        made.append(qf)
        inject(qf)

    mta.inject = spy  # type: ignore[method-assign]
    return made


def events(sim: Simulation, *names: str) -> list[tuple[object, ...]]:
    return [
        (round(e.t, 6), e.node, e.msg, e.event, e.sender, e.recipient, e.dsn, e.detail)
        for e in sim.log.rows()
        if e.event in names
    ]


def test_a_rejected_recipient_comes_back_to_the_sender() -> None:
    """550 at RCPT from mx.b.test: bounced, then one non-delivery notification from <> to
    alice, delivered to her mailbox; the log names the notification's queue id."""
    sim = Simulation(unreachable(), arrivals=iter([mail(1.0, "nobody@b.test")]))
    made = injected(sim)
    sim.run(until=50.0)
    assert [(e[2], e[3], e[5], e[6]) for e in events(sim, "bounced")] == [
        ("m1", "bounced", "nobody@b.test", "5.1.1")
    ]
    (notice,) = made
    assert (notice.sender, notice.recipients) == ("", ["alice@a.test"])
    assert dict(notice.headers)["Subject"] == "Undelivered Mail Returned to Sender"
    assert dict(notice.headers)["Auto-Submitted"] == "auto-replied"
    report = events(sim, "bounce_notice")
    assert report == [
        (
            1.0,
            "mx.a.test",
            "m1",
            "bounce_notice",
            "alice@a.test",
            "",
            "",
            f"sender non-delivery notification: {notice.qid:010X}",
        )
    ]
    delivered = [e for e in events(sim, "delivered") if e[2] == NOTICE]
    assert [(e[1], e[4], e[5]) for e in delivered] == [("mx.a.test", "", "alice@a.test")]
    assert [m.msg for m in sim.mailboxes["alice@a.test"].messages] == [FIRST_CREATED_MSG_ID]


def test_a_local_bounce_is_returned_too() -> None:
    """local(8) bounces 5.2.2 over mailbox_size_limit; the sender hears about it (the report
    returns 1000 bytes of the message, so it fits in alice's mailbox)."""
    sim = simulate(
        Arrival(1.0, 1, "alice@a.test", ("bob@a.test",), 8000),
        mailbox_size_limit="5000",
        bounce_size_limit="1000",
    )
    assert [e[6] for e in events(sim, "bounced")] == ["5.2.2"]
    assert len(events(sim, "bounce_notice")) == 1
    assert [m.msg for m in sim.mailboxes["alice@a.test"].messages] == [FIRST_CREATED_MSG_ID]


def test_a_bounce_that_bounces_is_discarded() -> None:
    """No notification to the null sender (a bounce never causes another one)."""
    sim = simulate(lan(1.0, "", "nobody@b.test"))
    assert len(events(sim, "bounced")) == 1
    assert events(sim, "bounce_notice") == []


def test_an_undeliverable_bounce_expires_after_bounce_queue_lifetime() -> None:
    """The notification to dan@c.test (unreachable) is retried under bounce_queue_lifetime,
    then dropped without a notification about the notification."""
    sim = simulate(
        lan(1.0, "dan@c.test", "nobody@b.test"),
        **LAB,
        bounce_queue_lifetime="45s",
    )
    assert [e[2] for e in events(sim, "bounce_notice")] == ["m1"]
    tries = [e[0] for e in events(sim, "deferred") if e[2] == NOTICE and e[5]]
    assert tries == [1.0, 30.0, 60.0]  # 60 >= 1 + 45: expired
    assert [(e[0], e[2]) for e in events(sim, "expired")] == [(60.0, NOTICE)]
    assert len(events(sim, "bounce_notice")) == 1


def test_one_delay_warning_then_the_non_delivery_report() -> None:
    """delay_warning_time 1m: warn_time = 1 + 60; the deferral at 60 (>= 61 - 1) warns, once;
    the expiry at 180 sends the non-delivery notification."""
    sim = Simulation(
        unreachable(**LAB, delay_warning_time="1m"),
        arrivals=iter([mail(1.0, "dan@c.test")]),
    )
    made = injected(sim)
    sim.run(until=400.0)
    warnings = events(sim, "delay_warning")
    assert [(e[0], e[2]) for e in warnings] == [(60.0, "m1")]
    assert [(e[0], e[2]) for e in events(sim, "bounce_notice")] == [(180.0, "m1")]
    warning, report = made
    assert dict(warning.headers)["Subject"] == "Delayed Mail (still being retried)"
    assert dict(report.headers)["Subject"] == "Undelivered Mail Returned to Sender"
    assert warnings[0][7] == f"sender delay notification: {warning.qid:010X}"
    assert [m.delivered_at for m in sim.mailboxes["alice@a.test"].messages] == [60.0, 180.0]


def test_bounced_and_expired_recipients_get_separate_reports() -> None:
    """qmgr_active_done(): the bounce log is flushed after each round; expiry sends another."""
    sim = simulate(
        Arrival(1.0, 1, "alice@a.test", ("nobody@b.test", "dan@c.test", "carol@b.test"), 1000),
        **LAB,
    )
    assert [(e[0], e[2]) for e in events(sim, "bounce_notice")] == [(1.0, "m1"), (180.0, "m1")]
    assert [e[5] for e in events(sim, "bounced") if e[2] == "m1"] == [
        "nobody@b.test",
        "dan@c.test",
    ]


def test_the_notification_returns_the_message_up_to_bounce_size_limit() -> None:
    """bounce_size_limit (50000 bytes) caps the returned copy of a 1 MB message."""
    sizes = []
    for limit in ("50000", "1000"):
        sim = Simulation(
            unreachable(bounce_size_limit=limit),
            arrivals=iter([Arrival(1.0, 1, "alice@a.test", ("nobody@b.test",), 1_000_000)]),
        )
        made = injected(sim)
        sim.run(until=50.0)
        sizes.append(made[0].size)
    assert 50000 < sizes[0] < 55000
    assert 1000 < sizes[1] < 5000
    assert sizes[0] - sizes[1] == 49000
