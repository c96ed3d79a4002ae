"""Export of hand-made logs, line for line, and Postfix's rounding of delay= and delays=."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailsim.analysis import Run
from mailsim.analysis.example import MX, NEO, Story, example_eventlog
from mailsim.postfixlog.export import (
    client_label,
    format_delay,
    format_postfix_log,
    host_labels,
    outcome_delays,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"

#: The example's five messages (mailsim/analysis/example.py) as Postfix logs them. The story
#: has no reply texts or delays= of its own: the export uses Postfix's usual words, and delay=
#: is the time since smtpd's connect (m2 to dave: 10 s -> 314 s), split as a = up to the last
#: entry into the active queue, d = the rest.
EXPECTED = """\
Jan  5 00:00:00 neo postfix/smtpd[10720]: connect from unknown[unknown]
Jan  5 00:00:01 neo postfix/smtpd[10720]: 0000000001: client=unknown[unknown]
Jan  5 00:00:01 neo postfix/smtpd[10720]: disconnect from unknown[unknown] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Jan  5 00:00:01 neo postfix/cleanup[10703]: 0000000001: message-id=<mailsim.m1@firma1.intr>
Jan  5 00:00:01 neo postfix/qmgr[10702]: 0000000001: from=<alice@firma1.intr>, size=1000, nrcpt=1 (queue active)
Jan  5 00:00:02 mx postfix/smtpd[80720]: connect from neo.firma1.intr[195.113.106.10]
Jan  5 00:00:02 mx postfix/smtpd[80720]: 0000000001: client=neo.firma1.intr[195.113.106.10]
Jan  5 00:00:02 mx postfix/smtpd[80720]: disconnect from neo.firma1.intr[195.113.106.10] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Jan  5 00:00:02 neo postfix/smtp[10705]: 0000000001: to=<bob@firma2.intr>, relay=mx.firma2.intr[195.113.107.10]:25, delay=2, delays=1/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Jan  5 00:00:02 neo postfix/qmgr[10702]: 0000000001: removed
Jan  5 00:00:02 mx postfix/cleanup[80703]: 0000000001: message-id=<mailsim.m1@firma1.intr>
Jan  5 00:00:03 mx postfix/qmgr[80702]: 0000000001: from=<alice@firma1.intr>, size=1000, nrcpt=1 (queue active)
Jan  5 00:00:03 mx postfix/local[80706]: 0000000001: to=<bob@firma2.intr>, relay=local, delay=1.5, delays=1/0/0/0.5, dsn=2.0.0, status=sent (delivered to mailbox)
Jan  5 00:00:03 mx postfix/qmgr[80702]: 0000000001: removed
Jan  5 00:00:10 neo postfix/smtpd[10720]: connect from unknown[unknown]
Jan  5 00:00:10 neo postfix/smtpd[10720]: 0000000002: client=unknown[unknown]
Jan  5 00:00:10 neo postfix/smtpd[10720]: disconnect from unknown[unknown] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Jan  5 00:00:10 neo postfix/cleanup[10703]: 0000000002: message-id=<mailsim.m2@firma1.intr>
Jan  5 00:00:11 neo postfix/qmgr[10702]: 0000000002: from=<alice@firma1.intr>, size=2000, nrcpt=2 (queue active)
Jan  5 00:00:11 neo postfix/local[10706]: 0000000002: to=<carol@firma1.intr>, relay=local, delay=1.5, delays=1/0/0/0.5, dsn=2.0.0, status=sent (delivered to mailbox)
Jan  5 00:00:12 neo postfix/smtp[10705]: 0000000002: to=<dave@firma2.intr>, relay=mx.firma2.intr[195.113.107.10]:25, delay=2, delays=1/0/0/1, dsn=4.4.1, status=deferred (connect to mx.firma2.intr[195.113.107.10]:25: Connection refused)
Jan  5 00:00:20 neo postfix/smtpd[10720]: connect from unknown[unknown]
Jan  5 00:00:20 neo postfix/smtpd[10720]: NOQUEUE: reject: RCPT from unknown[unknown]: 550 5.1.1 <nobody@firma1.intr>: Recipient address rejected: User unknown in local recipient table; from=<alice@firma1.intr> to=<nobody@firma1.intr> proto=ESMTP helo=<[unknown]>
Jan  5 00:00:20 neo postfix/smtpd[10720]: disconnect from unknown[unknown] ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5
Jan  5 00:00:30 neo postfix/smtpd[10720]: connect from unknown[unknown]
Jan  5 00:00:30 neo postfix/smtpd[10720]: 0000000003: client=unknown[unknown]
Jan  5 00:00:30 neo postfix/smtpd[10720]: disconnect from unknown[unknown] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Jan  5 00:00:30 neo postfix/cleanup[10703]: 0000000003: message-id=<mailsim.m4@firma1.intr>
Jan  5 00:00:30 neo postfix/qmgr[10702]: 0000000003: from=<alice@firma1.intr>, size=500, nrcpt=1 (queue active)
Jan  5 00:00:31 neo postfix/smtp[10705]: 0000000003: to=<frank@firma3.intr>, relay=none, delay=0.9, delays=0.7/0/0/0.2, dsn=5.4.4, status=bounced (permanent failure)
Jan  5 00:00:31 neo postfix/qmgr[10702]: 0000000003: removed
Jan  5 00:00:40 neo postfix/smtpd[10720]: connect from unknown[unknown]
Jan  5 00:00:40 neo postfix/smtpd[10720]: 0000000004: client=unknown[unknown]
Jan  5 00:00:40 neo postfix/smtpd[10720]: disconnect from unknown[unknown] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Jan  5 00:00:40 neo postfix/cleanup[10703]: 0000000004: message-id=<mailsim.m5@firma1.intr>
Jan  5 00:00:40 neo postfix/qmgr[10702]: 0000000004: from=<alice@firma1.intr>, size=700, nrcpt=1 (queue active)
Jan  5 00:00:41 neo postfix/smtp[10705]: 0000000004: to=<gina@firma2.intr>, relay=mx.firma2.intr[195.113.107.10]:25, delay=1, delays=0.6/0/0/0.4, dsn=4.4.1, status=deferred (connect to mx.firma2.intr[195.113.107.10]:25: Connection refused)
Jan  5 00:05:12 neo postfix/qmgr[10702]: 0000000002: from=<alice@firma1.intr>, size=2000, nrcpt=2 (queue active)
Jan  5 00:05:13 mx postfix/smtpd[80720]: connect from neo.firma1.intr[195.113.106.10]
Jan  5 00:05:13 mx postfix/smtpd[80720]: 0000000002: client=neo.firma1.intr[195.113.106.10]
Jan  5 00:05:13 mx postfix/smtpd[80720]: disconnect from neo.firma1.intr[195.113.106.10] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Jan  5 00:05:14 neo postfix/smtp[10705]: 0000000002: to=<dave@firma2.intr>, relay=mx.firma2.intr[195.113.107.10]:25, delay=304, delays=302/0/0/2, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Jan  5 00:05:14 neo postfix/qmgr[10702]: 0000000002: removed
Jan  5 00:05:14 mx postfix/cleanup[80703]: 0000000002: message-id=<mailsim.m2@firma1.intr>
Jan  5 00:05:14 mx postfix/qmgr[80702]: 0000000002: from=<alice@firma1.intr>, size=2000, nrcpt=1 (queue active)
Jan  5 00:05:15 mx postfix/local[80706]: 0000000002: to=<dave@firma2.intr>, relay=local, delay=2, delays=1.5/0/0/0.5, dsn=2.0.0, status=sent (delivered to mailbox)
Jan  5 00:05:15 mx postfix/qmgr[80702]: 0000000002: removed
"""  # noqa: E501


def test_the_example_log_exports_line_for_line() -> None:
    assert format_postfix_log(Run.from_eventlog(example_eventlog()).events) == EXPECTED


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (0.0, "0"),
        (0.004, "0"),  # below delay_logging_resolution_limit = 2 decimals
        (0.005, "0.01"),  # rounded half up, as format_tv adds half the resolution
        (0.062, "0.06"),  # 2 decimals at most, even with 2 significant digits to show
        (0.1, "0.1"),  # trailing zeros dropped
        (0.999, "1"),  # rounds up into the seconds
        (1.04, "1"),
        (1.25, "1.3"),  # 1 to 10 s: two significant digits
        (9.94, "9.9"),
        (9.96, "10"),
        (10.4, "10"),  # whole seconds from 10 s
        (42.5, "43"),
        (3600.2, "3600"),
        (-3.0, "0"),  # a clock that went back: log_adhoc.c clamps to 0
    ],
)
def test_format_delay_is_postfix_format_tv(seconds: float, printed: str) -> None:
    assert format_delay(seconds) == printed


STATUS = re.compile(r", delay=([0-9.]+), delays=([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+), ")


def rounding(value: float) -> float:
    """The most format_tv's rounding can move a printed value."""
    return 0.005 if value < 1 else 0.05 if value < 10 else 0.5


def check_delays(lines: list[str]) -> int:
    """Every delay= and delays= value of ``lines`` prints as format_tv prints it, and delay=
    is a+b+c+d up to their rounding; return how many status lines were checked."""
    checked = 0
    for line in lines:
        found = STATUS.search(line)
        if not found:
            continue
        texts = found.groups()
        assert [format_delay(float(x)) for x in texts] == list(texts), line
        delay, *parts = (float(x) for x in texts)
        slack = sum(rounding(v) for v in (delay, *parts)) + 1e-9
        assert abs(delay - sum(parts)) <= slack, line
        checked += 1
    return checked


def test_the_real_sample_follows_format_tv() -> None:
    assert check_delays(SAMPLE.read_text(encoding="utf-8").splitlines()) == 603


def test_exported_delays_follow_format_tv_not_the_event_log_digits() -> None:
    story = Story()
    story.submit(0.0, 1, 900)
    story.accept((0.0, 0.05, 0.06, 0.062), NEO, 1, 7)
    # the event log's own delays text has three decimals (2 significant digits)
    story.outcome(0.0741, NEO, "delivered", 1, 7, "jura@firma1.intr", detail="delivered to "
                  "mailbox delays=0.062/0/0/0.012")  # fmt: skip
    story.queue(0.0741, NEO, "removed", 1, 7)
    text = format_postfix_log(Run.from_eventlog(story.log).events)
    assert "delay=0.07, delays=0.06/0/0/0.01, dsn=2.0.0" in text  # Postfix's 2 decimals
    assert check_delays(text.splitlines()) == 1


def test_delay_is_the_time_since_arrival_not_the_sum_of_rounded_parts() -> None:
    story = Story()
    story.submit(0.0, 1, 900)
    story.accept((1.0, 1.5, 1.6, 1.62), NEO, 1, 7)
    # a = 0.624 printed 0.62 (2 significant digits); the whole stay is 0.6789 s
    story.outcome(1.6789, NEO, "delivered", 1, 7, "jura@firma1.intr",
                  detail="delivered to mailbox delays=0.62/0.04/0/0.015")  # fmt: skip
    events = Run.from_eventlog(story.log).events
    delays = outcome_delays(events)
    row = int((events["event"] == "delivered").to_numpy().argmax())
    assert delays.loc[row, "delay"] == pytest.approx(0.6789)  # not 0.62 + 0.04 + 0.015
    assert delays.loc[row, ["a", "b", "c", "d"]].tolist() == [0.62, 0.04, 0.0, 0.015]
    assert "delay=0.68, delays=0.62/0.04/0/0.02," in format_postfix_log(events)
    # a connect that does not fit the delays text (another session) is not taken as arrival
    story.connect(0.0, NEO, 2)
    story.received(50.0, NEO, 2, 8)
    story.queue(50.1, NEO, "queued", 2, 8)
    story.outcome(50.2, NEO, "delivered", 2, 8, "jura@firma1.intr",
                  detail="delivered to mailbox delays=0.1/0/0/0.1")  # fmt: skip
    events = Run.from_eventlog(story.log).events
    last = int((events["event"] == "delivered").to_numpy().nonzero()[0][-1])
    assert outcome_delays(events).loc[last, "delay"] == pytest.approx(0.2)


def test_sessions_messages_and_agents_lines() -> None:
    story = Story(sender="ivan@firma3.intr")
    client = "mx1.firma3.intr[198.51.100.10]"
    # one refused recipient and one accepted: rcpt=1/2; a MAIL refusal; a greylisted retry
    story.connect(1.0, NEO, 1, client=client)
    story.log.emit(1.1, NEO, "smtpd", "reject", 1, 0, "ivan@firma3.intr", "x@firma1.intr", 0,
                   "5.1.1", client, f"RCPT from {client}: 550 5.1.1 <x@firma1.intr>: Recipient "
                   "address rejected: User unknown in local recipient table")  # fmt: skip
    story.log.emit(1.2, NEO, "smtpd", "received", 1, 9, "ivan@firma3.intr", "", 1200, "",
                   client, "nrcpt=1")  # fmt: skip
    story.connect(2.0, NEO, 2, client="[203.0.113.9][203.0.113.9]")
    story.log.emit(2.1, NEO, "smtpd", "reject", 2, 0, "big@firma3.intr", "", 0, "5.3.4",
                   "[203.0.113.9][203.0.113.9]", "MAIL from [203.0.113.9][203.0.113.9]: 552 "
                   "5.3.4 Message size exceeds fixed limit")  # fmt: skip
    story.log.emit(3.0, NEO, "smtp", "connect_fail", 1, 9, detail="connect to "
                   "mx.firma2.intr[192.0.2.25]:25: Connection timed out")  # fmt: skip
    story.log.emit(3.1, NEO, "smtp", "skipped", 1, 9, recipient="a@firma2.intr",
                   detail="host mx.firma2.intr[192.0.2.25] said: 450 4.7.1 try later (in "
                   "reply to RCPT TO command)")  # fmt: skip
    story.log.emit(4.0, NEO, "postsuper", "hold", 1, 9)
    story.log.emit(5.0, NEO, "postsuper", "released", 1, 9)
    story.log.emit(6.0, NEO, "qmgr", "throttled", relay="smtp:firma2.intr", detail="dead")
    story.log.emit(7.0, NEO, "mda", "delivered", 1, 9, recipient="jura@firma1.intr")
    story.log.emit(8.0, "jura@firma1.intr", "client", "connect_fail", 3)
    lines = [x[16:] for x in format_postfix_log(Run.from_eventlog(story.log).events).splitlines()]
    assert lines == [
        "neo postfix/smtpd[10720]: connect from mx1.firma3.intr[198.51.100.10]",
        "neo postfix/smtpd[10720]: NOQUEUE: reject: RCPT from mx1.firma3.intr[198.51.100.10]: "
        "550 5.1.1 <x@firma1.intr>: Recipient address rejected: User unknown in local recipient"
        " table; from=<ivan@firma3.intr> to=<x@firma1.intr> proto=ESMTP helo=<mx1.firma3.intr>",
        "neo postfix/smtpd[10720]: 0000000009: client=mx1.firma3.intr[198.51.100.10]",
        "neo postfix/smtpd[10720]: disconnect from mx1.firma3.intr[198.51.100.10] ehlo=1 mail=1"
        " rcpt=1/2 data=1 quit=1 commands=5/6",
        "neo postfix/smtpd[10720]: connect from unknown[203.0.113.9]",
        "neo postfix/smtpd[10720]: NOQUEUE: reject: MAIL from unknown[203.0.113.9]: 552 5.3.4 "
        "Message size exceeds fixed limit; from=<big@firma3.intr> proto=ESMTP "
        "helo=<[203.0.113.9]>",
        "neo postfix/smtpd[10720]: disconnect from unknown[203.0.113.9] ehlo=1 mail=0/1 rset=1 "
        "quit=1 commands=3/4",
        "neo postfix/smtp[10705]: connect to mx.firma2.intr[192.0.2.25]:25: Connection timed out",
        "neo postfix/smtp[10705]: 0000000009: host mx.firma2.intr[192.0.2.25] said: 450 4.7.1 "
        "try later (in reply to RCPT TO command)",
        "neo postfix/postsuper[10709]: 0000000009: placed on hold",
        "neo postfix/postsuper[10709]: 0000000009: released from hold",
    ]


def test_concurrent_sessions_get_their_own_smtpd_and_a_retry_closes_the_first() -> None:
    story = Story()
    story.connect(1.0, NEO, 1, client="a.example[192.0.2.1]")
    story.connect(1.1, NEO, 2, client="b.example[192.0.2.2]")
    story.reject(1.2, NEO, 1, "x@firma1.intr", "4.7.1")
    story.connect(2.0, NEO, 1, client="a.example[192.0.2.1]")  # the retry: a new session
    story.received(2.5, NEO, 1, 5)
    story.received(3.0, NEO, 2, 6)
    lines = [x[16:] for x in format_postfix_log(Run.from_eventlog(story.log).events).splitlines()]
    assert [line.split(": ", 1)[0] for line in lines] == [
        "neo postfix/smtpd[10720]",  # a.example takes the first smtpd process
        "neo postfix/smtpd[10721]",  # b.example comes while it is busy
        "neo postfix/smtpd[10720]",  # a's reject
        "neo postfix/smtpd[10720]",  # a's disconnect, before its retry
        "neo postfix/smtpd[10720]",  # the retry reuses the free process
        "neo postfix/smtpd[10720]",
        "neo postfix/smtpd[10720]",
        "neo postfix/smtpd[10721]",
        "neo postfix/smtpd[10721]",
    ]
    assert "rcpt=0/1 rset=1 quit=1 commands=4/5" in lines[3]
    assert "450 4.7.1 <x@firma1.intr>: Recipient address rejected: Greylisted" in lines[2]


def test_client_names_and_host_fields() -> None:
    assert client_label("ws21.firma1.intr[127.0.0.21]") == (
        "ws21.firma1.intr[127.0.0.21]",
        "ws21.firma1.intr",
        "127.0.0.21",
    )
    assert client_label("olga@firma3.intr[198.51.100.1]")[0] == "unknown[198.51.100.1]"
    assert client_label("[203.0.113.66][203.0.113.66]")[0] == "unknown[203.0.113.66]"
    assert client_label("")[0] == "unknown[unknown]"
    assert host_labels([NEO, MX, "mx.firma4.intr"]) == {
        NEO: "neo",
        MX: "mx.firma2.intr",  # two "mx": the full names tell them apart
        "mx.firma4.intr": "mx.firma4.intr",
    }
    assert host_labels([NEO, MX], {MX: "gw"}) == {NEO: "neo", MX: "gw"}
