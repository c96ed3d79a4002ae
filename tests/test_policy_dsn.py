"""bounce(8) reports: RFC 3464 fields, headers and size of a notification."""

from __future__ import annotations

from mailsim.policy.dsn import DeliveryReport, RecipientStatus, notify_sender

FAILED = RecipientStatus(
    "nobody@firma5.intr",
    "failed",
    "5.1.1",
    "host mx.firma5.intr[127.0.1.5] said: 550 5.1.1 User unknown (in reply to RCPT TO command)",
    remote_mta="mx.firma5.intr",
)


def report(kind: str = "failure") -> DeliveryReport:
    return DeliveryReport(
        "failure" if kind == "failure" else "delay",
        "neo.firma1.intr",
        "A470C1603FB",
        "carol@firma1.intr",
        (FAILED,),
        delayed_s=3600,
        lifetime_s=5 * 86400,
    )


def test_per_recipient_fields() -> None:
    """RFC 3464 2.3: Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code."""
    assert FAILED.fields() == [
        "Final-Recipient: rfc822; nobody@firma5.intr",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.firma5.intr",
        "Diagnostic-Code: smtp; host mx.firma5.intr[127.0.1.5] said: 550 5.1.1 User unknown "
        "(in reply to RCPT TO command)",
    ]


def test_original_recipient_is_reported_for_an_alias() -> None:
    status = RecipientStatus(
        "bob@firma1.intr", "failed", "5.2.2", "mailbox full", "info@firma1.intr"
    )
    assert "Original-Recipient: rfc822;info@firma1.intr" in status.fields()
    assert status.fields()[-1] == "Diagnostic-Code: x-unix; mailbox full"


def test_report_text_and_headers() -> None:
    text = report().text()
    assert text.startswith("This is the mail system at host neo.firma1.intr.")
    assert "<nobody@firma5.intr>: host mx.firma5.intr[127.0.1.5] said: 550" in text
    assert "Reporting-MTA: dns; neo.firma1.intr" in text
    assert "X-Postfix-Queue-ID: A470C1603FB" in text
    headers = dict(report().headers())
    assert headers["Subject"] == "Undelivered Mail Returned to Sender"
    assert headers["Content-Type"] == "multipart/report; report-type=delivery-status"
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["To"] == "carol@firma1.intr"


def test_delay_warning_says_how_long() -> None:
    warning = report("delay")
    assert warning.subject == "Delayed Mail (still being retried)"
    assert "could not be delivered for 1.0 hours" in warning.text()
    assert "retried until it is 5.0 days old" in warning.text()


def test_size_returns_the_message_up_to_the_limit() -> None:
    """bounce_size_limit caps the returned copy; a delay warning returns headers only."""
    failure = report()
    overhead = failure.size(0, 50000)
    assert failure.size(10_000, 50_000) == overhead + 10_000
    assert failure.size(1_000_000, 50_000) == overhead + 50_000
    warning = report("delay")
    assert warning.size(1_000_000, 50_000) - warning.size(0, 50_000) < 2000


def test_no_notification_to_the_null_sender() -> None:
    assert not notify_sender("")
    assert not notify_sender("<>")
    assert not notify_sender("MAILER-DAEMON")
    assert notify_sender("carol@firma1.intr")
