"""data/postfix-logs/daemons-sample.log: every daemon's lines are recognised, with their facts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mailsim.postfixlog import (
    KINDS,
    NOTIFICATION_BASE,
    Item,
    Message,
    Notice,
    ParseStats,
    Reject,
    Session,
    parse_log,
)

DAEMONS = Path(__file__).resolve().parents[1] / "data" / "postfix-logs" / "daemons-sample.log"


@pytest.fixture(scope="module")
def parsed() -> tuple[list[Item], ParseStats]:
    return parse_log(DAEMONS, 2026)


@pytest.fixture(scope="module")
def files(parsed: tuple[list[Item], ParseStats]) -> dict[str, Message]:
    return {m.queue_id: m for m in parsed[0] if isinstance(m, Message)}


def test_every_line_is_recognised(parsed: tuple[list[Item], ParseStats]) -> None:
    stats = parsed[1]
    assert stats.lines == 130
    assert stats.malformed == 0 and stats.by_kind["other"] == 0
    assert stats.unrelated == 1 and stats.examples["unrelated"][0][1].startswith(
        "Nov 28 08:07:09 neo dovecot: imap-login"
    )
    daemons = {
        "postfix-script",
        "master",
        "postscreen",
        "dnsblog",
        "smtpd",
        "cleanup",
        "qmgr",
        "smtp",
        "lmtp",
        "local",
        "virtual",
        "pipe",
        "discard",
        "error",
        "bounce",
        "pickup",
        "postsuper",
        "anvil",
        "scache",
        "tlsmgr",
        "trivial-rewrite",
        "sendmail",
    }
    assert set(stats.by_daemon) == daemons
    assert [kind for kind in KINDS if not stats.by_kind[kind]] == ["other"]


def test_kinds_per_daemon(parsed: tuple[list[Item], ParseStats]) -> None:
    notices = [n for n in parsed[0] if isinstance(n, Notice)]
    kinds = Counter((n.daemon, n.kind) for n in notices)
    assert kinds == {
        ("postfix-script", "postfix-script"): 3,
        ("master", "master"): 3,
        ("postscreen", "postscreen"): 11,
        ("dnsblog", "dnsblog"): 1,
        ("smtp", "delivery-info"): 1,  # TLS
        ("postsuper", "queue-move"): 3,  # the totals
        ("trivial-rewrite", "warning"): 1,
        ("tlsmgr", "warning"): 1,
        ("sendmail", "warning"): 1,
        ("anvil", "statistics"): 2,
        ("scache", "statistics"): 3,
    }
    screen = [n.text.split()[0] for n in notices if n.kind == "postscreen"]
    assert Counter(screen) == {
        "CONNECT": 4,
        "PREGREET": 1,
        "DNSBL": 1,
        "DISCONNECT": 1,
        "PASS": 2,
        "HANGUP": 1,
        "ALLOWLISTED": 1,
    }


def test_postscreen_refusal_stands_alone(parsed: tuple[list[Item], ParseStats]) -> None:
    (reject,) = [r for r in parsed[0] if isinstance(r, Reject)]
    assert (reject.daemon, reject.client, reject.code, reject.dsn) == (
        "postscreen",
        "[203.0.113.7]:51234",
        "550",
        "5.7.1",
    )
    assert (
        reject.reply == "Service unavailable; client [203.0.113.7] blocked using zen.spamhaus.org"
    )
    assert (reject.sender, reject.recipient, reject.proto, reject.helo) == (
        "winner@lottery.example",
        "jura@firma1.intr",
        "ESMTP",
        "x",
    )
    assert reject.msg == 1


def test_smtpd_sessions(parsed: tuple[list[Item], ParseStats], files: dict[str, Message]) -> None:
    sessions = [s for s in parsed[0] if isinstance(s, Session)]
    assert len(sessions) == 7
    first = sessions[0]
    assert first.client == "mx.firma2.intr[198.51.100.20]" and first.tally("rcpt") == (2, 3)
    assert [n.text.split(" from ")[0] for n in first.notes] == [
        "Anonymous TLS connection established"
    ]
    (refused,) = first.rejects
    assert refused.recipient == "nosuch@firma1.intr" and refused.msg == files["3A1F2160041"].msg
    submission = next(s for s in sessions if s.client.startswith("ws21"))
    assert submission.tally("auth") == (1, 1) and submission.messages == [("3D4A5160044", 5)]
    assert files["3D4A5160044"].client == "ws21.firma1.intr[192.0.2.21]"  # sasl attrs dropped
    lost = next(s for s in sessions if s.client.startswith("unknown"))
    assert lost.notes[0].text == "lost connection after RCPT from unknown[203.0.113.99]"
    out = next(s for s in sessions if s.instance == "postfix-out")
    assert out.messages == [("4NPm0D1xLwz2xqh", files["4NPm0D1xLwz2xqh"].msg)]


def test_content_checks_end_a_file(files: dict[str, Message]) -> None:
    header, milter = files["3B2E3160042"], files["3C3F4160043"]
    assert (header.gone, milter.gone) == ("rejected", "rejected")
    (check,) = header.rejects
    assert (check.daemon, check.action, check.stage, check.dsn) == (
        "cleanup",
        "reject",
        "header",
        "5.7.1",
    )
    assert check.reply == "Subject: You have won a prize: Message content rejected"
    assert check.client == "mx.firma3.intr[198.51.100.21]" and header.sender == "lucky@firma3.intr"
    (check,) = milter.rejects
    assert (check.action, check.stage, check.dsn, check.reply) == (
        "milter-reject",
        "END-OF-MESSAGE",
        "5.7.1",
        "Spam message rejected",
    )
    warned = files["3D4A5160044"].rejects
    assert [(r.action, r.stage) for r in warned] == [("warning", "header")]


def test_delivery_agents(files: dict[str, Message]) -> None:
    message = files["3D4A5160044"]
    assert [(n.kind, n.relay) for n in message.notes[:2]] == [
        ("connect", "mx1.firma4.intr[198.51.100.41]:25"),
        ("said", "mx2.firma4.intr[198.51.100.42]"),
    ]
    outcomes = [(d.daemon, d.recipient, d.status, d.dsn) for d in message.deliveries]
    assert outcomes == [
        ("smtp", "karel@firma4.intr", "deferred", "4.3.2"),
        ("smtp", "petra@firma2.intr", "sent", "2.0.0"),
        ("smtp", "anna@firma5.intr", "bounced", "5.1.1"),
        ("lmtp", "archive@lists.firma1.intr", "sent", "2.0.0"),
        ("smtp", "karel@firma4.intr", "deferred", "4.4.1"),
        ("qmgr", "karel@firma4.intr", "deferred", "4.3.0"),
    ]
    assert message.deliveries[-1].reason == "mail transport unavailable"
    assert [n.kind for n in message.notes[2:]] == ["hold", "requeued"]
    assert message.expired is not None and message.gone == "removed"
    picked = files["3F6C7160046"]
    assert (picked.origin, picked.uid, picked.sender) == ("pickup", 1001, "nekdo@firma1.intr")
    assert picked.resent_message_id == "<20261128080009.resent.1@firma1.intr>"
    assert [(d.daemon, d.relay, d.reason) for d in picked.deliveries] == [
        ("pipe", "dovecot", "delivered via dovecot service"),
        ("local", "local", "forwarded as 4A7D8160047"),
        ("discard", "none", "firma1.intr"),
    ]
    (bounce,) = files["4A7D8160047"].deliveries
    assert (bounce.daemon, bounce.status, bounce.orig_to) == (
        "error",
        "bounced",
        "tomas@firma1.intr",
    )
    assert files["3E5B6160045"].deliveries[0].reason == "delivered to maildir"
    assert files["4B8E9160048"].deliveries[0].reason == "delivered to file: /var/mail/nekdo"
    probe = files["6A3DE16004D"]
    assert [d.status for d in probe.deliveries] == ["deliverable"] and probe.origin == "unknown"


def test_copies_and_notifications(files: dict[str, Message]) -> None:
    assert files["4A7D8160047"].origin == "forward"
    assert files["4A7D8160047"].msg == files["3F6C7160046"].msg
    notices = {
        q: (m.notification, m.parent) for q, m in files.items() if m.origin == "notification"
    }
    assert notices == {
        "3E5B6160045": ("non-delivery", "3D4A5160044"),
        "4B8E9160048": ("non-delivery", "4A7D8160047"),
        "5D0AB16004A": ("delay", "3D4A5160044"),
        "5E1BC16004B": ("non-delivery", "3D4A5160044"),
        "5F2CD16004C": ("non-delivery", "3D4A5160044"),
    }
    assert sorted(files[q].msg for q in notices) == list(
        range(NOTIFICATION_BASE, NOTIFICATION_BASE + 5)
    )
    links = [(c.kind, c.postmaster) for c in files["3D4A5160044"].children]
    assert links == [
        ("non-delivery", False),
        ("delay", False),
        ("non-delivery", False),
        ("non-delivery", True),
    ]


def test_hold_release_and_a_second_instance(files: dict[str, Message]) -> None:
    held = files["4C9FA160049"]
    assert [(r.action, r.stage, r.recipient) for r in held.rejects] == [
        ("hold", "RCPT", "review@firma1.intr")
    ]
    assert [n.kind for n in held.notes] == ["released"] and held.gone == "removed"
    long_id = files["4NPm0D1xLwz2xqh"]
    assert (long_id.instance, long_id.host) == ("postfix-out", "neo")
    (sent,) = long_id.deliveries
    assert (sent.conn_use, sent.reason) == ("2", "250 2.0.0 Ok: queued as 8A4F31B0011")
