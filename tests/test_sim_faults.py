"""Remote servers that misbehave: outages, replies by stage, schedule and probability, session
limits; and what the smtp client logs for each (Postfix 3.x texts, smtp_proto.c/smtp_trouble.c).

Times as in test_sim_dns: the message reaches mx.a.test's smtp(8) at 1.111 and connects at 1.161.
"""

from __future__ import annotations

from scipy import stats

from mailsim.scenario.faults import HostBehaviour, Outage, ReplyRule
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from builders import two_domains
from fault_builders import TIMES, at, mx_domain, recording_qmgr, run, strip_delays, to_dan

SENDER = "mx.a.test"
ONE = [(10, "mx1.c.test")]
TWO = [(10, "mx1.c.test"), (20, "mx2.c.test")]


def rule(reply: str, stage: str = "rcpt", **kw: object) -> HostBehaviour:
    return HostBehaviour(replies=(ReplyRule(reply, stage, **kw),))  # type: ignore[arg-type]


def outcomes(log: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """(event, recipient, dsn, relay, detail without delays) of the sender's smtp rows."""
    return [
        (row[3], row[4], row[5], row[6], strip_delays(row[7]))
        for row in log
        if row[1] == SENDER and row[2] == "smtp"
    ]


def test_a_host_that_is_down_times_out_and_the_message_is_deferred() -> None:
    """Down from 0 to 100: the connection times out after smtp_connect_timeout; the single MX
    is exhausted, so Postfix defers with relay=none and 4.4.1 (as the reference log's
    'Connection refused' lines), a site failure for qmgr. After the outage it is delivered."""
    behaviour = HostBehaviour(down=(Outage(0.0, 100.0),))
    scenario = mx_domain(ONE, {"mx1.c.test": behaviour}, capacity=TIMES, drain=2000.0)
    failures: list[tuple[str, str]] = []
    log = run(scenario, to_dan(), queue_manager=recording_qmgr(failures))
    text = "connect to mx1.c.test[10.0.2.1]:25: Connection timed out"
    assert [row[:7] for row in at(log, SENDER, "connect_fail", "deferred")][:2] == [
        (31.161, SENDER, "smtp", "connect_fail", "", "4.4.1", "mx1.c.test[10.0.2.1]:25"),
        (31.161, SENDER, "smtp", "deferred", "dan@c.test", "4.4.1", "none"),
    ]
    assert strip_delays(at(log, SENDER, "deferred")[0][7]) == text
    assert failures[0] == ("c.test", text)
    sent = at(log, SENDER, "sent")
    assert len(sent) == 1 and float(sent[0][0]) > 100.0  # type: ignore[arg-type]
    assert at(log, "mx1.c.test", "connect")[0][0] > 100.0  # type: ignore[operator]


def test_connect_timeout_is_the_senders_setting() -> None:
    behaviour = HostBehaviour(down=(Outage(0.0, 100.0),))
    scenario = mx_domain(
        ONE,
        {"mx1.c.test": behaviour},
        capacity=TIMES,
        sender_postfix={"smtp_connect_timeout": "5s"},
    )
    assert at(run(scenario, to_dan()), SENDER, "connect_fail")[0][0] == 6.161


def test_421_greeting_skips_to_the_next_mx_and_is_no_site_failure_when_it_delivers() -> None:
    shut = rule("421 4.3.2 Service shutting down", "connect")
    failures: list[tuple[str, str]] = []
    log = run(
        mx_domain(TWO, {"mx1.c.test": shut}), to_dan(), queue_manager=recording_qmgr(failures)
    )
    assert outcomes(log) == [
        (
            "connect_fail",
            "",
            "4.3.2",
            "mx1.c.test[10.0.2.1]:25",
            "host mx1.c.test[10.0.2.1] refused to talk to me: 421 4.3.2 Service shutting down",
        ),
        ("sent", "dan@c.test", "2.0.0", "mx2.c.test[10.0.2.2]:25", outcomes(log)[1][4]),
    ]
    assert failures == [("c.test", "")]
    assert [row[3:] for row in at(log, "mx1.c.test", "connect", "reject")] == [
        ("connect", "", "", "mx.a.test[10.0.0.1]", ""),
        (
            "reject",
            "",
            "4.3.2",
            "mx.a.test[10.0.0.1]",
            "CONNECT from mx.a.test[10.0.0.1]: 421 4.3.2 Service shutting down",
        ),
    ]


def test_421_greeting_at_the_last_mx_defers_and_is_a_site_failure() -> None:
    shut = rule("421 4.3.2 Service shutting down", "connect")
    failures: list[tuple[str, str]] = []
    log = run(
        mx_domain(ONE, {"mx1.c.test": shut}), to_dan(), queue_manager=recording_qmgr(failures)
    )
    text = "host mx1.c.test[10.0.2.1] refused to talk to me: 421 4.3.2 Service shutting down"
    assert outcomes(log)[0] == ("deferred", "dan@c.test", "4.3.2", "mx1.c.test[10.0.2.1]:25", text)
    assert failures[0] == ("c.test", text)


def test_5xx_greeting_counts_as_4xx_unless_smtp_skip_5xx_greeting_is_no() -> None:
    closed = rule("554 5.7.1 No SMTP service here", "connect")
    log = run(mx_domain(ONE, {"mx1.c.test": closed}), to_dan())
    assert outcomes(log)[0][:3] == ("deferred", "dan@c.test", "4.7.1")
    strict = mx_domain(ONE, {"mx1.c.test": closed}, sender_postfix={"smtp_skip_5xx_greeting": "no"})
    assert outcomes(run(strict, to_dan()))[0][:3] == ("bounced", "dan@c.test", "5.7.1")


def test_helo_refusal_ends_the_session_after_two_round_trips() -> None:
    """A 550 to EHLO bounces (a hard error needs no further MX host, smtp_bulk_fail())."""
    refuse = rule("550 5.7.1 Go away", "helo")
    scenario = mx_domain(TWO, {"mx1.c.test": refuse}, capacity=TIMES, latency=0.01)
    log = run(scenario, to_dan())
    assert outcomes(log) == [
        (
            "bounced",
            "dan@c.test",
            "5.7.1",
            "mx1.c.test[10.0.2.1]:25",
            "host mx1.c.test[10.0.2.1] refused to talk to me: 550 5.7.1 Go away",
        )
    ]
    reject = at(log, "mx1.c.test", "reject")[0]
    # hop 1 with 0.01 s links: smtpd at 1.01, session 0.1 + 5 round trips -> active 1.221,
    # smtp 0.05 + latency -> mx1 at 1.281; smtpd 0.1 and banner + EHLO (2 round trips, 0.04)
    assert reject[0] == 1.421 and reject[7] == "EHLO from mx.a.test[10.0.0.1]: 550 5.7.1 Go away"
    assert at(log, "mx2.c.test", "connect") == []


def test_mail_from_refusal_defers_the_message_without_a_site_failure() -> None:
    busy = rule("452 4.3.1 Insufficient system storage", "mail")
    failures: list[tuple[str, str]] = []
    log = run(
        mx_domain(ONE, {"mx1.c.test": busy}), to_dan(), queue_manager=recording_qmgr(failures)
    )
    assert outcomes(log)[0][1:] == (
        "dan@c.test",
        "4.3.1",
        "mx1.c.test[10.0.2.1]:25",
        "host mx1.c.test[10.0.2.1] said: 452 4.3.1 Insufficient system storage "
        "(in reply to MAIL FROM command)",
    )
    assert failures[0] == ("c.test", "")


def test_rcpt_rule_matches_recipients_by_pattern() -> None:
    """As the reference log's firma7: old.* gets 550 5.1.1, others 250."""
    gone = rule("550 5.1.1 Recipient address rejected: User unknown", recipients=r"^old\.")
    log = run(mx_domain(ONE, {"mx1.c.test": gone}), to_dan(rcpts=("old.dan@c.test", "dan@c.test")))
    assert [row[:3] for row in outcomes(log)] == [
        ("bounced", "old.dan@c.test", "5.1.1"),
        ("sent", "dan@c.test", "2.0.0"),
    ]
    assert outcomes(log)[0][4] == (
        "host mx1.c.test[10.0.2.1] said: 550 5.1.1 Recipient address rejected: User unknown "
        "(in reply to RCPT TO command)"
    )


def test_a_4xx_at_rcpt_on_a_host_that_is_not_final_sends_the_recipient_to_the_next() -> None:
    busy = rule("450 4.2.1 Mailbox temporarily unavailable")
    log = run(mx_domain(TWO, {"mx1.c.test": busy}), to_dan())
    assert outcomes(log)[0] == (
        "skipped",
        "dan@c.test",
        "4.2.1",
        "mx1.c.test[10.0.2.1]:25",
        "host mx1.c.test[10.0.2.1] said: 450 4.2.1 Mailbox temporarily unavailable "
        "(in reply to RCPT TO command)",
    )
    assert outcomes(log)[1][:4] == ("sent", "dan@c.test", "2.0.0", "mx2.c.test[10.0.2.2]:25")


def test_data_rule_refuses_the_message_at_the_end_of_data() -> None:
    spam = rule("554 5.7.1 Message rejected as spam", "data")
    log = run(mx_domain(ONE, {"mx1.c.test": spam}), to_dan(rcpts=("dan@c.test", "eve@c.test")))
    assert [row[:3] for row in outcomes(log)] == [
        ("bounced", "dan@c.test", "5.7.1"),
        ("bounced", "eve@c.test", "5.7.1"),
    ]
    assert outcomes(log)[0][4].endswith("(in reply to end of DATA command)")  # type: ignore[union-attr]
    assert at(log, "mx1.c.test", "received", "queued") == []
    assert [row[7] for row in at(log, "mx1.c.test", "reject")] == [
        "554 5.7.1 Message rejected as spam"
    ]


def test_a_rule_applies_only_inside_its_window() -> None:
    window = rule("451 4.3.0 Temporary local problem", start=10.0, end=20.0)
    scenario = mx_domain(ONE, {"mx1.c.test": window}, capacity=TIMES)
    log = run(scenario, to_dan(1.0, 1), to_dan(12.0, 2), to_dan(25.0, 3))
    first = [row for row in outcomes(log) if row[0] in ("sent", "deferred")][:3]
    assert [row[0] for row in first] == ["sent", "deferred", "sent"]


def test_a_rule_fires_with_its_probability() -> None:
    """p = 0.3 per recipient and attempt, from the host's own stream: the first attempts of 400
    messages are deferred as Binomial(400, 0.3) says (99.9 % Clopper-Pearson interval)."""
    flaky = rule("450 4.2.1 Try again", probability=0.3)
    scenario = mx_domain(ONE, {"mx1.c.test": flaky}, drain=1.0)
    arrivals = [to_dan(1.0 + i, i + 1) for i in range(400)]
    sim = Simulation(scenario, arrivals=iter(arrivals), seed=7)
    sim.run(until=402.0)
    first: dict[str, str] = {}  # each message's first attempt
    for e in sim.log.rows():
        if e.node == SENDER and e.daemon == "smtp" and e.event in ("sent", "deferred"):
            first.setdefault(e.msg, e.event)
    assert len(first) == 400
    deferred = list(first.values()).count("deferred")
    interval = stats.binomtest(deferred, 400).proportion_ci(0.999)
    assert interval.low < 0.3 < interval.high


def test_session_limit_refuses_excess_connections_with_421() -> None:
    """Two messages leave at once; mx1 takes one session at a time: the second connection gets
    the 421 greeting (site failure: deferred, relay mx1)."""
    limited = HostBehaviour(session_limit=1)
    scenario = mx_domain(ONE, {"mx1.c.test": limited}, capacity=TIMES)
    log = run(scenario, to_dan(1.0, 1), to_dan(1.0, 2))
    assert [row[:4] for row in outcomes(log)][:2] == [
        ("deferred", "dan@c.test", "4.7.0", "mx1.c.test[10.0.2.1]:25"),
        ("sent", "dan@c.test", "2.0.0", "mx1.c.test[10.0.2.1]:25"),
    ]
    assert outcomes(log)[0][4] == (
        "host mx1.c.test[10.0.2.1] refused to talk to me: "
        "421 4.7.0 Too many concurrent SMTP connections"
    )


def test_session_limit_without_reply_closes_the_connection() -> None:
    closer = HostBehaviour(session_limit=1, session_limit_reply="")
    log = run(
        mx_domain(ONE, {"mx1.c.test": closer}, capacity=TIMES), to_dan(1.0, 1), to_dan(1.0, 2)
    )
    assert outcomes(log)[0][2:] == (
        "4.4.2",
        "mx1.c.test[10.0.2.1]:25",
        "lost connection with mx1.c.test[10.0.2.1] while receiving the initial server greeting",
    )


def test_a_mail_client_cannot_submit_to_a_host_that_is_down() -> None:
    """Nothing answers the MUA either; it gives up (mailsim's clients do not retry)."""
    scenario = two_domains(capacity=TIMES)
    hosts = dict(scenario.hosts)
    down = HostBehaviour(down=(Outage(0.0, 10.0),))
    hosts[SENDER] = type(hosts[SENDER])(**{**_fields(hosts[SENDER]), "behaviour": down})
    sim = Simulation(
        scenario.replace(hosts=hosts),
        arrivals=iter([Arrival(1.0, 1, "alice@a.test", ("bob@a.test",), 1000)]),
    )
    sim.run()
    rows = [(e.node, e.daemon, e.event, e.dsn, e.detail) for e in sim.log.rows()]
    assert rows == [
        ("alice@a.test", "client", "submit", "", "smtp nrcpt=1"),
        (
            "alice@a.test",
            "client",
            "connect_fail",
            "4.4.1",
            "connect to mx.a.test[10.0.0.1]:25: Connection timed out",
        ),
    ]


def _fields(record: object) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}  # type: ignore[attr-defined]


def test_a_healthy_host_runs_the_plain_smtpd() -> None:
    """No fault object and the smtpd's own bound methods: a healthy host pays nothing."""
    sim = Simulation(mx_domain(TWO, {"mx1.c.test": rule("450 4.2.1 x")}), arrivals=iter(()))
    healthy, faulty = sim.nodes["mx2.c.test"], sim.nodes["mx1.c.test"]
    assert healthy.faults is None and faulty.faults is not None
    assert healthy.receive == healthy.smtpd.arrive
    assert healthy.smtpd.serve == healthy.smtpd_serve
    assert faulty.receive != faulty.smtpd.arrive
