"""The pflogsumm-style report on the example log: every number worked out by hand.

The example (mailsim/analysis/example.py): neo.firma1.intr and mx.firma2.intr; m1 (1000 B)
relayed to bob@firma2.intr; m2 (2000 B) to carol (local) and dave@firma2.intr (deferred at 12 s,
relayed at 314 s); m3 refused (5.1.1); m4 (500 B) bounced; m5 (700 B) deferred and still queued.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from mailsim.analysis import LogReport, Run, summarise
from mailsim.analysis.example import MX, NEO, example_eventlog
from mailsim.analysis.logreport import (
    bounce_reason,
    deferral_reason,
    gimme_domain,
    reject_reason,
    run_start,
    said_string_trimmer,
)


@pytest.fixture(scope="module")
def example() -> Run:
    return Run.from_eventlog(example_eventlog(), name="example")


@pytest.fixture(scope="module")
def report(example: Run) -> LogReport:
    return example.pflogsumm()


def test_grand_totals_by_hand(report: LogReport) -> None:
    totals = dict(zip(report.totals["metric"], report.totals["value"], strict=True))
    assert totals == {
        "received": 6,  # smtpd accepted m1, m2, m4, m5 at neo and m1, m2 at mx
        "delivered": 5,  # bob (neo -> mx, mx -> mailbox), carol, dave (neo -> mx, mx -> mailbox)
        "forwarded": 0,
        "deferred": 2,  # m2 and m5 at neo
        "deferrals": 2,
        "bounced": 1,  # frank
        "rejected": 1,  # nobody
        "reject warnings": 0,
        "held": 0,
        "discarded": 0,
        "bytes received": 7200,  # 1000 + 1000 + 2000 + 500 + 700 + 2000
        "bytes delivered": 8000,  # 1000 + 1000 + 2000 + 2000 + 2000
        "senders": 1,  # alice
        "sending hosts/domains": 1,  # firma1.intr
        "recipients": 3,  # bob, carol, dave
        "recipient hosts/domains": 2,  # firma1.intr, firma2.intr
    }
    assert report.total("bytes received") == 7200
    with pytest.raises(KeyError, match="no total"):
        report.total("spam")


def test_per_hour_and_per_domain_by_hand(report: LogReport) -> None:
    assert report.per_hour.to_dict("records") == [
        {
            "hour": 0,
            "start": datetime(2026, 1, 5, tzinfo=UTC),
            "received": 6,
            "delivered": 5,
            "deferred": 2,
            "bounced": 1,
            "rejected": 1,
        }
    ]
    # firma2.intr: bob 2 s (neo) + 1.5 s (mx), dave 304 s (neo: 10 -> 314) + 2 s (mx);
    # its deferrals took 2 s (dave) and 1 s (gina); firma1.intr: carol 1.5 s
    assert report.per_domain.to_dict("records") == [
        {
            "domain": "firma2.intr",
            "sent": 4,
            "bytes": 6000,
            "defers": 2,
            "avg_delay": pytest.approx((2 + 1.5 + 304 + 2) / 4),
            "max_delay": pytest.approx(304.0),
        },
        {
            "domain": "firma1.intr",
            "sent": 1,
            "bytes": 2000,
            "defers": 0,
            "avg_delay": 1.5,
            "max_delay": 1.5,
        },
    ]
    assert report.sending_domains.to_dict("records") == [
        {"domain": "firma1.intr", "messages": 6, "bytes": 7200}
    ]
    assert report.recipients.to_dict("records") == [
        {"address": "bob@firma2.intr", "messages": 2, "bytes": 2000},
        {"address": "dave@firma2.intr", "messages": 2, "bytes": 4000},
        {"address": "carol@firma1.intr", "messages": 1, "bytes": 2000},
    ]


def test_reasons_latency_stages_and_qshape_by_hand(report: LogReport) -> None:
    assert report.defer_reasons.to_dict("records") == [
        {
            "daemon": "smtp",
            "reason": "mx.firma2.intr[195.113.107.10]:25: Connection refused",
            "count": 2,
        }
    ]
    assert report.bounce_reasons.to_dict("records") == [
        {"relay": "none", "reason": "permanent failure", "count": 1}
    ]
    assert report.reject_reasons.to_dict("records") == [
        {
            "command": "RCPT",
            "reason": "Recipient address rejected: User unknown in local recipient table",
            "count": 1,
        }
    ]
    latency = report.latency.set_index("latency (s)")
    end_to_end = latency.loc["end to end: submit to mailbox (delivered)"]
    assert end_to_end["count"] == 3 and end_to_end["p50"] == 3.5 and end_to_end["max"] == 305
    per_mta = latency.loc["per MTA: delay= of delivered lines"]
    assert per_mta["count"] == 5 and per_mta["mean"] == pytest.approx((2 + 1.5 + 1.5 + 304 + 2) / 5)
    stages = report.stages.set_index("stage")["mean"]
    # a: 1, 1, 1, 302 (10 s -> last active at 312 s), 1.5; d: 1, 0.5, 0.5, 2, 0.5
    assert stages.iloc[0] == pytest.approx(61.3) and stages.iloc[3] == pytest.approx(0.9)
    assert stages.iloc[1] == 0 and stages.iloc[2] == 0
    assert report.stages["share"].iloc[:4].sum() == pytest.approx(1.0)
    (t, table) = report.qshape[NEO]
    assert t == 41.0 and table.loc["firma2.intr", "T"] == 2 and list(report.qshape) == [NEO]


def test_one_node_is_its_own_log(example: Run) -> None:
    mx = summarise(example, nodes=[MX])
    totals = dict(zip(mx.totals["metric"], mx.totals["value"], strict=True))
    assert totals["received"] == 2 and totals["delivered"] == 2 and totals["rejected"] == 0
    assert totals["bytes received"] == 3000 and totals["deferred"] == 0
    # a sender without domain would take the client's; here the relaying client is neo
    assert mx.sending_domains["domain"].tolist() == ["firma1.intr"]
    assert mx.qshape == {}
    assert example.pflogsumm(nodes=[MX]) is example.pflogsumm(nodes=[MX])  # cached


def test_text_is_laid_out_as_pflogsumm(report: LogReport) -> None:
    text = report.to_text()
    assert text.startswith("Postfix log summary: example (2026-01-05 00:00:00 to 2026-01-05 ")
    grand = text.split("Grand Totals\n------------\n", 1)[1].split("\n\n\n", 1)[0]
    assert grand.splitlines()[:6] == [
        "messages",
        "",
        "      6   received",
        "      5   delivered",
        "      0   forwarded",
        "      2   deferred  (2  deferrals)",
    ]
    assert "      1   rejected (16%)" in grand  # 1 of 5 delivered + 1 rejected, as an integer
    assert "   7200   bytes received" in grand
    assert re.search(r"^    0000-0100 {11}6 {10}5 {10}2 {10}1 {10}1 $", text, re.M)
    assert "      4     6000        2     1.3 m    5.1 m  firma2.intr" in text
    assert "         2   mx.firma2.intr[195.113.107.10]:25: Connection refused" in text
    assert "neo.firma1.intr at t = 41 s:" in text


def test_pflogsumm_helpers_on_the_real_samples_texts() -> None:
    """The reason texts pflogsumm 1.1.5 printed for the real Postfix 3.7 sample log."""
    assert (
        deferral_reason(
            "host mx.firma4.intr[127.0.1.4] said: 450 4.2.1 Mailbox temporarily unavailable, try "
            "again later (in reply to RCPT TO command)"
        )
        == "4.2.1 Mailbox temporarily unavailable, try again later (in..."
    )
    assert (
        deferral_reason(
            "delivery temporarily suspended: connect to mail.firma3.intr[127.0.1.3]:25: Connection "
            "refused delays=0/0/0/0"
        )
        == "mail.firma3.intr[127.0.1.3]:25: Connection refused"
    )
    assert (
        bounce_reason(
            "cannot update mailbox /var/mail/erin for user erin. error writing message: "
            "File too large"
        )
        == "File too large"
    )
    assert (
        bounce_reason(
            "host mx.firma7.intr[127.0.1.7] said: 550 5.1.1 <old.hans@firma7.intr>: Recipient "
            "address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)"
        )
        == "User unknown in virtual mailbox table (in reply to RCPT TO comm..."
    )
    assert (
        reject_reason(
            "MAIL", "552 5.3.4 Message size exceeds fixed limit; from=<bob@firma1.intr> proto=ESMTP"
        )
        == "5.3.4 Message size exceeds fixed limit"
    )
    assert (
        reject_reason(
            "RCPT",
            "554 5.7.1 <jan@firma5.intr>: Relay access denied; from=<p@x.example> to=<jan@"
            "firma5.intr> proto=ESMTP helo=<[127.0.5.10]>",
        )
        == "Relay access denied"
    )
    assert (
        reject_reason(
            "RCPT",
            "450 4.7.1 <a@b.example>: Recipient address rejected: Greylisted, please try "
            "again later; from=<> to=<a@b.example> proto=ESMTP",
        )
        == "Recipient address rejected: Greylisted"
    )
    assert said_string_trimmer("short", 10) == "short"
    assert said_string_trimmer("x" * 20, 10) == "xxxxxxx..."
    assert gimme_domain("mail.example.com[192.0.2.1]") == "example.com"
    assert gimme_domain("mx.firma2.intr[192.0.2.25]") == "mx.firma2.intr"  # 4-letter TLD
    assert gimme_domain("unknown[203.0.113.66]") == "203.0.113.66"


def test_start_comes_from_the_caller_or_the_run(example: Run) -> None:
    assert run_start(example) == datetime(2026, 1, 5, tzinfo=UTC)
    assert run_start(example, "2025-11-28T08:00:00") == datetime(2025, 11, 28, 8, tzinfo=UTC)
    dated = Run(example.events, name="x", meta={"start": "2025-11-28T08:00:00+00:00"})
    report = dated.pflogsumm()
    assert report.per_hour["start"].tolist() == [pd.Timestamp("2025-11-28 08:00", tz="UTC")]
    assert "    0800-0900  " in report.to_text()
    with pytest.raises(ValueError, match="start"):
        run_start(example, 42)  # type: ignore[arg-type]
