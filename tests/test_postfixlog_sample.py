"""The real Postfix 3.7 sample: every count of its README table, the joins between queue files,
the whole story of a few hand-checked messages, and the event log under mailsim.analysis.Run.

The sample and its README are copied in data/postfix-logs/ (maillog-postfix-3.7-sample.md is
the original README; its table is the ground truth here).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailsim.analysis import Run
from mailsim.postfixlog import (
    NOTIFICATION_BASE,
    Item,
    Message,
    Notice,
    ParseStats,
    PostfixLog,
    Reject,
    Session,
    parse_log,
    read_log,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"
START = datetime(2026, 11, 28, 0, 13, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def parsed() -> tuple[list[Item], ParseStats]:
    return parse_log(SAMPLE, 2026)


@pytest.fixture(scope="module")
def messages(parsed: tuple[list[Item], ParseStats]) -> dict[str, Message]:
    return {item.queue_id: item for item in parsed[0] if isinstance(item, Message)}


@pytest.fixture(scope="module")
def log() -> PostfixLog:
    return read_log(SAMPLE, 2026, nodes={"neo": "neo.firma1.intr"})


def smtpd_rejects(items: list[Item]) -> list[Reject]:
    return [r for item in items if isinstance(item, Session) for r in item.rejects]


# -- the README table, line by line ------------------------------------------------------------


def test_every_line_is_read(parsed: tuple[list[Item], ParseStats]) -> None:
    stats = parsed[1]
    assert stats.lines == 2444
    assert stats.parsed == 2444 and stats.malformed == 0 and stats.unrelated == 0
    assert stats.by_kind["other"] == 0
    assert stats.by_kind["connect"] == 171 == stats.by_kind["disconnect"]
    # the README's delay-template warnings of bounce(8), plus postfix-script's two at start
    warnings = [n for n in parsed[0] if isinstance(n, Notice) and n.kind == "warning"]
    assert stats.by_kind["warning"] == len(warnings) == 146
    assert Counter(n.daemon for n in warnings) == {"bounce": 144, "postfix-script": 2}
    assert stats.by_daemon == Counter(
        {
            "qmgr": 717,
            "smtpd": 546,
            "smtp": 344,
            "cleanup": 306,
            "local": 271,
            "bounce": 205,
            "pickup": 27,
            "error": 22,
            "postfix-script": 5,
            "master": 1,
        }
    )


def test_queue_files_and_their_origins(messages: dict[str, Message]) -> None:
    entered = [m for m in messages.values() if m.actives]
    assert len(entered) == len(messages) == 306
    origins = Counter(m.origin for m in entered)
    assert origins == {"smtpd": 175, "pickup": 27, "forward": 43, "notification": 61}
    notices = Counter(m.notification for m in entered if m.origin == "notification")
    assert notices == {"non-delivery": 37, "delay": 24}
    assert all(m.sender == "" for m in entered if m.origin == "notification")
    assert all(m.gone == "removed" and not m.still_queued for m in entered)


def test_rejects(parsed: tuple[list[Item], ParseStats], messages: dict[str, Message]) -> None:
    noqueue = Counter((r.stage, r.code, r.dsn) for r in smtpd_rejects(parsed[0]))
    assert noqueue == {
        ("RCPT", "554", "5.7.1"): 13,
        ("RCPT", "550", "5.1.1"): 12,
        ("MAIL", "552", "5.3.4"): 1,
    }
    relay = [r for r in smtpd_rejects(parsed[0]) if r.dsn == "5.7.1"]
    assert all(r.reply.endswith("Relay access denied") for r in relay)
    size = next(r for r in smtpd_rejects(parsed[0]) if r.stage == "MAIL")
    assert size.reply == "Message size exceeds fixed limit" and size.recipient == ""
    assert (size.sender, size.helo, size.proto) == ("bob@firma1.intr", "ws21.firma1.intr", "ESMTP")
    with_id = [r for m in messages.values() for r in m.rejects]
    assert len(with_id) == 3
    assert {(r.queue_id, r.recipient) for r in with_id} == {
        ("4DA8B160407", "hr@firma1.intr"),
        ("8CFB216044E", "kontakt@firma1.intr"),
        ("C22C116046B", "nosuch@firma1.intr"),
    }


def test_status_lines(messages: dict[str, Message], parsed: tuple[list[Item], ParseStats]) -> None:
    deliveries = [d for m in messages.values() for d in m.deliveries]
    assert Counter(d.status for d in deliveries) == {"sent": 484, "deferred": 106, "bounced": 13}
    assert parsed[1].statuses == {"sent": 484, "deferred": 106, "bounced": 13}
    sent = Counter(d.daemon for d in deliveries if d.status == "sent")
    assert sent == {"local": 269, "smtp": 215}


def test_deferral_and_bounce_breakdown(messages: dict[str, Message]) -> None:
    deliveries = [d for m in messages.values() for d in m.deliveries]
    deferred = [d for d in deliveries if d.status == "deferred"]
    breakdown = Counter(
        (d.daemon, d.relay.split("[")[0], d.dsn)
        for d in deferred
        if d.daemon == "error" or "firma" in d.relay or d.relay == "none"
    )
    assert breakdown == {
        ("smtp", "none", "4.4.1"): 34,  # firma3: connection refused
        ("error", "none", "4.4.1"): 22,  # delivery temporarily suspended
        ("smtp", "mx.firma4.intr", "4.2.1"): 33,
        ("smtp", "mx.firma6.intr", "4.2.0"): 9,  # greylisting
        ("smtp", "mx.firma7.intr", "4.2.2"): 8,
    }
    assert all(
        d.reason.startswith("delivery temporarily suspended: ")
        for d in deferred
        if d.daemon == "error"
    )
    assert all("Greylisted" in d.reason for d in deferred if d.dsn == "4.2.0")
    bounced = Counter(
        (d.daemon, d.relay.split("[")[0], d.dsn) for d in deliveries if d.status == "bounced"
    )
    assert bounced == {
        ("smtp", "mx.firma5.intr", "5.1.1"): 7,
        ("smtp", "mx.firma7.intr", "5.1.1"): 4,
        ("local", "local", "5.2.2"): 2,
    }


def test_expiries_and_notifications(messages: dict[str, Message]) -> None:
    assert sum(1 for m in messages.values() if m.expired is not None) == 24
    links = Counter(link.kind for m in messages.values() for link in m.children)
    assert links == {"non-delivery": 37, "delay": 24, "forward": 43}
    assert not any(link.postmaster for m in messages.values() for link in m.children)


# -- joins -------------------------------------------------------------------------------------


def test_every_copy_and_notification_resolves_to_its_parent(messages: dict[str, Message]) -> None:
    children = [m for m in messages.values() if m.origin in ("forward", "notification")]
    assert len(children) == 104
    for child in children:
        parent = messages[child.parent]
        assert child.parent_msg == parent.msg
        (link,) = [link for link in parent.children if link.queue_id == child.queue_id]
        assert link.msg == child.msg
        if child.origin == "forward":
            assert link.kind == "forward" and child.msg == parent.msg
            # the parent logged the alias (or the .forward owner) as "forwarded as CHILD" ...
            (forwarded,) = [d for d in parent.deliveries if d.forwarded_as == child.queue_id]
            # ... and every delivery of the copy names that address as orig_to
            assert child.deliveries
            assert {d.orig_to for d in child.deliveries} == {forwarded.recipient}
        else:
            assert link.kind == child.notification
            assert child.msg >= NOTIFICATION_BASE
    numbers = [m.msg for m in children if m.origin == "notification"]
    assert len(set(numbers)) == 61
    originals = [m for m in messages.values() if m.origin in ("smtpd", "pickup")]
    assert (
        len({m.msg for m in originals}) == 202 and max(m.msg for m in originals) < NOTIFICATION_BASE
    )


def test_alias_expanded_recipients_carry_orig_to(messages: dict[str, Message]) -> None:
    staff = [d for m in messages.values() for d in m.deliveries if d.orig_to == "staff@firma1.intr"]
    assert {d.recipient for d in staff} >= {
        "alice@firma1.intr",
        "bob@firma1.intr",
        "erin@firma1.intr",
    }
    archive = [
        d for m in messages.values() for d in m.deliveries if d.recipient == "archive@firma1.intr"
    ]
    assert archive and all(
        d.reason == "delivered to command: /bin/cat > /dev/null" for d in archive
    )
    with_orig = [d for m in messages.values() for d in m.deliveries if d.orig_to]
    assert Counter(d.daemon for d in with_orig) == {"local": 49, "smtp": 43}


# -- hand-checked stories ----------------------------------------------------------------------


def test_daves_forward_message(messages: dict[str, Message], log: PostfixLog) -> None:
    """alice -> dave (whose .forward keeps a copy and forwards) and anna@firma4 (450 forever)."""
    m = messages["AE36E160407"]
    assert (m.origin, m.client, m.sender, m.size, m.nrcpt) == (
        "smtpd",
        "ws22.firma1.intr[127.0.0.22]",
        "alice@firma1.intr",
        22468,
        2,
    )
    assert m.message_id == "<1795824792.1.19@firma1.intr>"
    t0 = START.timestamp()
    assert m.arrival - t0 == 20 and m.queued == (678, t0 + 20)
    assert [(line, t - t0) for line, t in m.actives] == [
        (679, 20),
        (966, 60),
        (1498, 105),
        (2016, 165),
    ]
    story = [(d.line, d.daemon, d.recipient, d.status, d.dsn, d.delays) for d in m.deliveries]
    assert story == [
        (681, "local", "dave@firma1.intr", "sent", "2.0.0", "0.01/0.01/0/0"),
        (682, "smtp", "anna@firma4.intr", "deferred", "4.2.1", "0.01/0/0.01/0"),
        (685, "local", "dave@firma1.intr", "sent", "2.0.0", "0.01/0.01/0/0"),
        (972, "smtp", "anna@firma4.intr", "deferred", "4.2.1", "40/0/0/0"),
        (1505, "smtp", "anna@firma4.intr", "deferred", "4.2.1", "85/0/0/0"),
        (2041, "smtp", "anna@firma4.intr", "deferred", "4.2.1", "145/0/0.01/0"),
    ]
    assert m.deliveries[0].reason == "delivered to mailbox"
    assert m.deliveries[2].forwarded_as == "B3790160408"
    assert m.deliveries[1].relay == "mx.firma4.intr[127.0.1.4]:25"
    assert [(c.line, c.kind, c.queue_id) for c in m.children] == [
        (685, "forward", "B3790160408"),
        (1522, "delay", "5AD39160462"),
        (2059, "non-delivery", "6A99E160432"),
    ]
    assert m.expired == (2042, t0 + 165) and m.removed == (2063, t0 + 165)
    copy = messages["B3790160408"]
    assert (copy.origin, copy.parent, copy.msg, copy.sender) == (
        "forward",
        "AE36E160407",
        m.msg,
        "alice@firma1.intr",
    )
    (out,) = copy.deliveries
    assert (out.recipient, out.orig_to, out.relay, out.reason) == (
        "dave.home@firma2.intr",
        "dave@firma1.intr",
        "mx.firma2.intr[127.0.1.2]:25",
        "250 2.0.0 Ok",
    )
    warning, bounce = messages["5AD39160462"], messages["6A99E160432"]
    assert (warning.notification, warning.size, bounce.notification, bounce.size) == (
        "delay",
        2719,
        "non-delivery",
        24492,
    )
    assert warning.outcomes()["alice@firma1.intr"].reason == "delivered to mailbox"
    # the event log: one message-level deferral per pass that was followed by another pass
    events = log.events
    mine = events[events["msg"] == f"m{m.msg}"]
    assert (mine["event"].astype(str) + "/" + mine["recipient"].astype(str)).tolist().count(
        "deferred/"
    ) == 3
    assert set(mine["queue_id"].astype(str)) == {"", "AE36E160407", "B3790160408"}
    assert mine[mine["queue_id"] == ""]["event"].astype(str).tolist() == ["connect"]
    notices = mine[mine["event"].isin(["bounce_notice", "delay_warning"])]
    assert notices["detail"].astype(str).tolist() == [
        "sender delay notification: 5AD39160462",
        "sender non-delivery notification: 6A99E160432",
    ]


def test_a_greylisted_message(messages: dict[str, Message], log: PostfixLog) -> None:
    """erin -> o.wagner@firma6.intr: 450 4.2.0 greylisted, sent 42 s later on the retry."""
    m = messages["AC96D160402"]
    assert (m.origin, m.client, m.sender, m.size, m.nrcpt) == (
        "smtpd",
        "ws21.firma1.intr[127.0.0.21]",
        "erin@firma1.intr",
        2138,
        1,
    )
    assert [line for line, _ in m.actives] == [626, 964]
    first, second = m.deliveries
    assert (first.status, first.dsn, first.delays) == ("deferred", "4.2.0", "0/0/0/0")
    assert first.reason.startswith(
        "host mx.firma6.intr[127.0.1.6] said: 450 4.2.0 <o.wagner@firma6.intr>"
    )
    assert (second.status, second.dsn, second.delay, second.delays) == (
        "sent",
        "2.0.0",
        "42",
        "42/0/0/0",
    )
    assert second.reason == "250 2.0.0 Ok: queued as 912265B1F5"
    assert second.time - first.time == 42 and m.removed is not None and m.removed[0] == 974
    table = Run(log.events).recipients()
    (row,) = table[table["msg"] == f"m{m.msg}"].itertuples()
    assert row.recipient == "o.wagner@firma6.intr"
    assert (row.status, row.dsn, row.delay_a) == ("relayed", "2.0.0", 42.0)
    assert row.deferred == pytest.approx(42.0) and row.latency == pytest.approx(42.0)


def test_a_session_of_four_messages_and_one_refused_recipient(
    parsed: tuple[list[Item], ParseStats],
) -> None:
    (session,) = [
        s for s in parsed[0] if isinstance(s, Session) and len(s.messages) == 4 and s.rejects
    ]
    assert session.client == "ws22.firma1.intr[127.0.0.22]" and session.tally("rcpt") == (7, 8)
    assert [qid for qid, _ in session.messages] == [
        "B6124160465",
        "B7AB2160465",
        "B8743160466",
        "B9F51160467",
    ]
    # mail=4 with 4 files: the refusal was part of the first file's transaction
    (refusal,) = session.rejects
    assert refusal.msg == session.messages[0][1]
    # mail=3 but only 2 files: the refused transaction is one of its own
    (other,) = [s for s in parsed[0] if isinstance(s, Session) and s.tally("rcpt") == (6, 7)]
    assert other.tally("mail") == (3, 3)
    assert other.rejects[0].msg not in {msg for _, msg in other.messages}


# -- the event log under Run -------------------------------------------------------------------


def test_event_log_start_and_nodes(log: PostfixLog) -> None:
    assert log.start == START
    events = log.events
    # t = 0 is the first line (postfix-script at 00:13:10); the first event is pickup's at 00:13:14
    assert float(events["t"].iloc[0]) == 4.0 and float(events["t"].max()) <= 307.0
    assert set(events["node"].astype(str)) == {"neo.firma1.intr"}
    assert bool(events["t"].is_monotonic_increasing)


def test_run_summary_matches_the_readme(log: PostfixLog) -> None:
    summary = Run(log.events).summary()
    run = summary[summary["scope"] == "run"].set_index("metric")["value"].to_dict()
    neo = summary[summary["scope"] == "neo.firma1.intr"].set_index("metric")["value"].to_dict()
    assert neo["connect"] == 171
    assert neo["received"] == run["messages_received"] == 175 + 27
    assert neo["reject"] == 13 + 12 + 3 + 1
    assert (run["rejected 5.7.1"], run["rejected 5.1.1"], run["rejected 5.3.4"]) == (13, 12 + 3, 1)
    assert neo["deferred"] == run["deferred_attempts"] == 106
    assert neo["bounced"] == run["bounced"] == 13
    assert neo["expired"] == 24
    forwarded = 43  # local's "forwarded as" lines are `sent` with relay local
    assert neo["sent"] == run["sent"] == 215 + forwarded
    assert neo["delivered"] == 269 - forwarded
    assert run["still_queued"] == 0 and run["pending"] == 0


def test_message_level_deferrals_one_per_retry(log: PostfixLog) -> None:
    events = log.events
    whole = events[(events["event"] == "deferred") & (events["recipient"] == "")]
    assert len(whole) == 387 - 306  # every pass through the active queue after the first
    assert set(whole["detail"].astype(str)) == {"queue deferred"}
