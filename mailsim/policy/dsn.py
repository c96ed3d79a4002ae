"""bounce(8) notifications to the sender: non-delivery reports and delay warnings (RFC 3464).

When recipients bounce, or a message expires (maximal_queue_lifetime), Postfix's bounce daemon
returns a *non-delivery notification* to the envelope sender; when a message has waited
delay_warning_time it sends one *delay notification* (bounce(5) templates). Each is a new message
from the null sender ``<>`` (so it can never cause another notification: a failed bounce is
discarded, notify_classes without ``bounce``/``2bounce`` being Postfix's default) with a
``multipart/report; report-type=delivery-status`` body (RFC 3462): a text part, the
message/delivery-status part (RFC 3464 per-message and per-recipient fields) and the returned
message: all of it, up to bounce_size_limit bytes, for a non-delivery report, its headers only
for a delay warning.

This module builds the report (fields, text, headers, size); engines turn it into a queue file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailsim.policy.address import is_null_sender

__all__ = ["DeliveryReport", "RecipientStatus", "notify_sender"]

ReportKind = Literal["failure", "delay"]

#: Bytes of the returned message's headers in a delay warning (mailsim does not model header
#: sizes; a typical header block).
HEADER_BYTES = 800

_SUBJECT = {
    "failure": "Undelivered Mail Returned to Sender",
    "delay": "Delayed Mail (still being retried)",
}
_INTRO = {
    "failure": (
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
    ),
    "delay": (
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n\n"
        "Your message could not be delivered for {delayed}.\n"
        "It will be retried until it is {lifetime} old.\n"
    ),
}


def notify_sender(sender: str) -> bool:
    """Return whether bounce(8) writes to ``sender``: never to the null sender (a bounce)."""
    return not is_null_sender(sender)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's fields of the message/delivery-status part (RFC 3464 section 2.3)."""

    recipient: str
    #: ``failed`` (non-delivery) or ``delayed`` (warning)
    action: Literal["failed", "delayed"]
    #: enhanced status code (RFC 3463), e.g. ``5.1.1``
    status: str
    #: why: the remote reply or the local reason, as logged
    diagnostic: str
    original_recipient: str = ""
    #: ``mx.firma2.intr`` when a remote MTA answered
    remote_mta: str = ""

    def fields(self) -> list[str]:
        """Return the per-recipient block, one field a line."""
        lines = [f"Final-Recipient: rfc822; {self.recipient}"]
        if self.original_recipient:
            lines.append(f"Original-Recipient: rfc822;{self.original_recipient}")
        lines += [f"Action: {self.action}", f"Status: {self.status}"]
        if self.remote_mta:
            lines.append(f"Remote-MTA: dns; {self.remote_mta}")
        kind = "smtp" if self.remote_mta else "x-unix"
        lines.append(f"Diagnostic-Code: {kind}; {self.diagnostic}")
        return lines


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A non-delivery report (``failure``) or delay warning (``delay``) about one message."""

    kind: ReportKind
    #: $myhostname of the reporting MTA
    reporting_mta: str
    #: the original message's queue id and envelope sender
    queue_id: str
    sender: str
    recipients: tuple[RecipientStatus, ...]
    #: for a delay warning: how long it waited and how long it will be retried, in seconds
    delayed_s: int = 0
    lifetime_s: int = 0

    @property
    def subject(self) -> str:
        return _SUBJECT[self.kind]

    def headers(self) -> tuple[tuple[str, str], ...]:
        """Return the notification's header fields (RFC 5322; RFC 3834 Auto-Submitted)."""
        return (
            ("From", f"MAILER-DAEMON@{self.reporting_mta} (Mail Delivery System)"),
            ("To", self.sender),
            ("Subject", self.subject),
            ("Auto-Submitted", "auto-replied"),
            ("Content-Type", "multipart/report; report-type=delivery-status"),
        )

    def text(self) -> str:
        """Return the human-readable part and the message/delivery-status part."""
        intro = _INTRO[self.kind].format(
            delayed=_hours(self.delayed_s), lifetime=_hours(self.lifetime_s)
        )
        reasons = "\n".join(f"<{r.recipient}>: {r.diagnostic}" for r in self.recipients)
        status = [
            f"Reporting-MTA: dns; {self.reporting_mta}",
            f"X-Postfix-Queue-ID: {self.queue_id}",
            f"X-Postfix-Sender: rfc822; {self.sender}",
        ]
        for recipient in self.recipients:
            status += ["", *recipient.fields()]
        return (
            f"This is the mail system at host {self.reporting_mta}.\n\n{intro}\n"
            "For further assistance, please send mail to postmaster.\n\n"
            f"                   The mail system\n\n{reasons}\n\n" + "\n".join(status) + "\n"
        )

    def size(self, original_size: int, bounce_size_limit: int) -> int:
        """Return the notification's size in bytes: headers, text, and the returned message
        (whole up to bounce_size_limit for a non-delivery report; headers for a warning)."""
        if self.kind == "failure":
            returned = min(original_size, bounce_size_limit)
        else:
            returned = min(original_size, HEADER_BYTES)
        head = sum(len(name) + len(value) + 4 for name, value in self.headers())
        return head + len(self.text()) + returned


def _hours(seconds: int) -> str:
    """Format a duration as bounce(5) templates do ($delay_warning_time_hours etc.)."""
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / 3600:.1f} hours"
