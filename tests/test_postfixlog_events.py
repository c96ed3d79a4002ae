"""From parsed facts to event-log rows: the schema, the conventions of its text columns
(docs/design.md section 3), node names, times, and Run on a parsed log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.eventlog import COLUMNS, EVENTS
from mailsim.postfixlog import PostfixLog, read_log

DAEMONS = Path(__file__).resolve().parents[1] / "data" / "postfix-logs" / "daemons-sample.log"
AT = "Nov 28 08:00:0{} neo postfix"


def story(*lines: str) -> PostfixLog:
    return read_log([AT.format(second) + line for second, line in lines], 2026)


def rows(log: PostfixLog, *columns: str) -> list[tuple[object, ...]]:
    table = log.events[list(columns)].astype(str)
    return list(table.itertuples(index=False, name=None))


DELIVERY = "delay=0.2, delays=0.1/0/0.05/0.05, dsn={dsn}, status={status} ({reason})"


def test_a_relayed_message_row_by_row() -> None:
    log = story(
        (0, "/smtpd[1]: connect from ws.example[192.0.2.5]"),
        (0, "/smtpd[1]: 0AB0AB0AB0: client=ws.example[192.0.2.5]"),
        (0, "/cleanup[2]: 0AB0AB0AB0: message-id=<1@ws.example>"),
        (1, "/qmgr[3]: 0AB0AB0AB0: from=<a@ws.example>, size=999, nrcpt=2 (queue active)"),
        (
            1,
            "/smtpd[1]: disconnect from ws.example[192.0.2.5] mail=1 rcpt=2 data=1 commands=4",
        ),
        (
            2,
            "/smtp[4]: 0AB0AB0AB0: to=<b@far.example>, orig_to=<list@ws.example>, "
            "relay=mx.far.example[198.51.100.1]:25, "
            + DELIVERY.format(dsn="2.0.0", status="sent", reason="250 2.0.0 Ok: queued as 77AA"),
        ),
        (
            2,
            "/smtp[4]: 0AB0AB0AB0: to=<c@slow.example>, relay=none, "
            + DELIVERY.format(
                dsn="4.4.1", status="deferred", reason="connect to slow: Connection refused"
            ),
        ),
        (9, "/qmgr[3]: 0AB0AB0AB0: from=<a@ws.example>, size=999, nrcpt=2 (queue active)"),
        (
            9,
            "/smtp[4]: 0AB0AB0AB0: to=<c@slow.example>, relay=mx.slow.example[198.51.100.2]:25, "
            + DELIVERY.format(dsn="2.0.0", status="sent", reason="250 2.0.0 Ok"),
        ),
        (9, "/qmgr[3]: 0AB0AB0AB0: removed"),
    )
    assert list(log.events.columns) == list(COLUMNS)
    assert set(log.events["event"].astype(str)) <= set(EVENTS)
    assert rows(
        log, "t", "daemon", "event", "msg", "queue_id", "recipient", "size", "dsn", "relay"
    ) == [
        ("0.0", "smtpd", "connect", "m1", "", "", "0", "", "ws.example[192.0.2.5]"),
        ("0.0", "smtpd", "received", "m1", "0AB0AB0AB0", "", "999", "", "ws.example[192.0.2.5]"),
        ("0.0", "cleanup", "queued", "m1", "0AB0AB0AB0", "", "999", "", ""),
        ("1.0", "qmgr", "active", "m1", "0AB0AB0AB0", "", "999", "", ""),
        (
            "2.0",
            "smtp",
            "sent",
            "m1",
            "0AB0AB0AB0",
            "b@far.example",
            "999",
            "2.0.0",
            "mx.far.example[198.51.100.1]:25",
        ),
        ("2.0", "smtp", "deferred", "m1", "0AB0AB0AB0", "c@slow.example", "999", "4.4.1", "none"),
        ("2.0", "qmgr", "deferred", "m1", "0AB0AB0AB0", "", "999", "", ""),
        ("9.0", "qmgr", "active", "m1", "0AB0AB0AB0", "", "999", "", ""),
        (
            "9.0",
            "smtp",
            "sent",
            "m1",
            "0AB0AB0AB0",
            "c@slow.example",
            "999",
            "2.0.0",
            "mx.slow.example[198.51.100.2]:25",
        ),
        ("9.0", "qmgr", "removed", "m1", "0AB0AB0AB0", "", "999", "", ""),
    ]
    details = log.events["detail"].astype(str).tolist()
    assert details[1:4] == ["client=ws.example[192.0.2.5]", "message-id=<1@ws.example>", "nrcpt=2"]
    assert (
        details[4]
        == "250 2.0.0 Ok: queued as 77AA (orig_to=<list@ws.example>) delays=0.1/0/0.05/0.05"
    )
    assert details[5] == "connect to slow: Connection refused delays=0.1/0/0.05/0.05"
    assert details[6] == "queue deferred"
    assert set(log.events["sender"].astype(str)) == {"", "a@ws.example"}  # connect has none
    recipients = Run(log.events).recipients().set_index("recipient")
    assert recipients.loc["b@far.example", "status"] == "relayed"
    assert recipients.loc["c@slow.example", "deferred"] == pytest.approx(7.0)  # t 2 -> 9
    assert recipients.loc["c@slow.example", "delay_a"] == pytest.approx(0.1)


def test_which_event_a_status_line_is() -> None:
    log = story(
        (0, "/pickup[1]: 0CD0CD0CD0: uid=0 from=<root>"),
        (0, "/qmgr[3]: 0CD0CD0CD0: from=<root@h.example>, size=10, nrcpt=6 (queue active)"),
        (
            1,
            "/local[5]: 0CD0CD0CD0: to=<u@h.example>, orig_to=<root@h.example>, relay=local, "
            + DELIVERY.format(dsn="2.0.0", status="sent", reason="delivered to mailbox"),
        ),
        (
            1,
            "/local[5]: 0CD0CD0CD0: to=<f@h.example>, relay=local, "
            + DELIVERY.format(dsn="2.0.0", status="sent", reason="forwarded as 0EF0EF0EF0"),
        ),
        (
            1,
            "/lmtp[6]: 0CD0CD0CD0: to=<v@h.example>, relay=h[private/dovecot-lmtp], "
            + DELIVERY.format(dsn="2.0.0", status="sent", reason="250 2.0.0 <v@h.example> x Saved"),
        ),
        (
            1,
            "/lmtp[6]: 0CD0CD0CD0: to=<w@h.example>, relay=127.0.0.1[127.0.0.1]:10024, "
            + DELIVERY.format(
                dsn="2.0.0", status="sent", reason="250 2.0.0 Ok: queued as 0AA0AA0AA0"
            ),
        ),
        (
            1,
            "/smtp[7]: 0CD0CD0CD0: to=<p@h.example>, relay=m[192.0.2.1]:25, "
            + DELIVERY.format(dsn="2.1.5", status="deliverable", reason="250 2.1.5 Ok"),
        ),
        (
            1,
            "/error[8]: 0CD0CD0CD0: to=<x@h.example>, relay=none, "
            + DELIVERY.format(dsn="5.0.0", status="bounced", reason="no such domain"),
        ),
        (2, "/qmgr[3]: 0CD0CD0CD0: removed"),
    )
    outcomes = [r for r in rows(log, "daemon", "event", "recipient", "relay") if r[2]]
    assert outcomes == [
        ("local", "delivered", "u@h.example", "local"),
        ("local", "sent", "f@h.example", "local"),  # as the simulator logs a forward
        ("lmtp", "delivered", "v@h.example", "h[private/dovecot-lmtp]"),
        ("lmtp", "sent", "w@h.example", "127.0.0.1[127.0.0.1]:10024"),
        ("error", "bounced", "x@h.example", "none"),
    ]  # verify's "deliverable" has no event
    assert rows(log, "daemon", "event", "detail")[0] == ("pickup", "received", "uid=0")
    assert log.deliveries["event"].tolist() == [
        "delivered",
        "sent",
        "delivered",
        "sent",
        "",
        "bounced",
    ]


def test_nodes_times_and_instances() -> None:
    lines = [
        "Nov 28 08:00:00 mx1 postfix/qmgr[1]: 0A0A0A0A0A: removed",
        "Nov 28 08:00:30 mx1 postfix-out/qmgr[2]: 0B0B0B0B0B: removed",
        "Nov 28 08:01:00 mx2 postfix/qmgr[3]: 0C0C0C0C0C: removed",
    ]
    log = read_log(lines, 2026, nodes={"mx1": "mx1.example.org"})
    assert log.start == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert rows(log, "t", "node", "queue_id") == [
        ("0.0", "mx1.example.org", "0A0A0A0A0A"),
        ("30.0", "mx1/postfix-out", "0B0B0B0B0B"),
        ("60.0", "mx2", "0C0C0C0C0C"),
    ]
    upper = read_log(lines, 2026, nodes=str.upper)
    assert list(upper.events["node"].astype(str)) == ["MX1", "MX1/POSTFIX-OUT", "MX2"]
    assert read_log([], 2026).start is None and read_log([], 2026).events.empty


def test_refusals_and_content_rejects() -> None:
    log = story(
        (0, "/smtpd[1]: connect from s.example[203.0.113.5]"),
        (
            0,
            "/smtpd[1]: NOQUEUE: reject: RCPT from s.example[203.0.113.5]: 554 5.7.1 "
            "<x@y.example>: Relay access denied; from=<s@s.example> to=<x@y.example> proto=ESMTP "
            "helo=<s.example>",
        ),
        (1, "/smtpd[1]: 0DD0DD0DD0: client=s.example[203.0.113.5]"),
        (1, "/cleanup[2]: 0DD0DD0DD0: message-id=<spam@s.example>"),
        (
            1,
            "/cleanup[2]: 0DD0DD0DD0: reject: body buy now from s.example[203.0.113.5]; "
            "from=<s@s.example> to=<u@h.example> proto=ESMTP helo=<s.example>: 5.7.1 Spam",
        ),
        (
            2,
            "/smtpd[1]: disconnect from s.example[203.0.113.5] ehlo=1 mail=2 rcpt=1/2 data=0/1 "
            "commands=4/6",
        ),
    )
    assert rows(log, "daemon", "event", "msg", "queue_id", "sender", "recipient", "dsn") == [
        ("smtpd", "connect", "m2", "", "", "", ""),
        ("smtpd", "reject", "m2", "", "s@s.example", "x@y.example", "5.7.1"),
        ("cleanup", "reject", "m1", "", "s@s.example", "", "5.7.1"),
    ]  # mail=2: the relay refusal was a transaction of its own; the body check's file is gone
    details = log.events["detail"].astype(str).tolist()
    assert (
        details[1]
        == "RCPT from s.example[203.0.113.5]: 554 5.7.1 <x@y.example>: Relay access denied"
    )
    assert details[2] == "body buy now: Spam"
    (gone,) = log.messages.itertuples()
    assert (gone.queue_id, gone.gone, gone.message_id) == (
        "0DD0DD0DD0",
        "rejected",
        "<spam@s.example>",
    )
    summary = Run(log.events).summary().set_index(["scope", "metric"])["value"]
    assert summary[("run", "rejected")] == 2 and summary[("run", "still_queued")] == 0


def test_run_on_the_daemons_sample() -> None:
    log = read_log(DAEMONS, 2026)
    table = Run(log.events).recipients()
    statuses = dict(
        zip(
            table["msg"].astype(str) + " " + table["recipient"].astype(str),
            table["status"].astype(str),
            strict=True,
        )
    )
    assert statuses["m5 karel@firma4.intr"] == "expired"
    assert statuses["m5 petra@firma2.intr"] == "relayed"
    assert statuses["m5 anna@firma5.intr"] == "bounced"
    assert statuses["m5 archive@lists.firma1.intr"] == "delivered"
    assert statuses["m6 tomas@old-isp.example"] == "bounced"  # the .forward copy, same msg
    assert statuses["m1 jura@firma1.intr"] == "rejected"  # postscreen
    assert list(table["status"].astype(str)).count("rejected") == 5
    queues = Run(log.events).queue_depth()
    assert set(queues["queue"].astype(str)) >= {"incoming", "active", "deferred", "hold"}
    held = log.events[log.events["event"].isin(["hold", "released", "requeued"])]
    assert held["event"].astype(str).tolist() == ["hold", "released", "hold", "requeued"]


def test_tables_have_their_columns() -> None:
    log = read_log(DAEMONS, 2026)
    assert len(log.messages) == 14 and log.messages["line"].is_monotonic_increasing
    assert set(log.messages["gone"]) == {"removed", "rejected"}
    assert len(log.deliveries) == 20 and len(log.links) == 6
    assert log.links["kind"].tolist().count("forward") == 1
    assert len(log.sessions) == 7 and len(log.rejects) == 7
    assert log.notices["kind"].value_counts().to_dict()["postscreen"] == 11
    assert log.deliveries.loc[0, ["delay", "delay_a", "delay_d"]].tolist() == [0.12, 0.05, 0.06]
    assert isinstance(log.events["node"].dtype, pd.CategoricalDtype)
