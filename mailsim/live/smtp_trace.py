"""What a live smtpd writes to the event log, in the simulation's words (docs/design.md section 3).

A simulated message has its own connection and its ``msg`` from the start; a live one gets its
run-wide id only once its content is known (a message that already passed a lab MTA names
itself in the :data:`~mailsim.live.events.TRACE_HEADER`). So the rows of one mail transaction
are held by a :class:`TransactionTrace` until the transaction ends — end of DATA, RSET, a new
MAIL, HELO/EHLO, STARTTLS, QUIT or a lost connection — and then written with the times they
happened at (the log is ordered by ``t`` when read):

* ``connect`` (smtpd; ``relay`` = ``unknown[address]``, as Postfix names a client without
  reverse DNS) at the moment the session started, or at MAIL for a later transaction of the
  same session;
* ``reject`` (smtpd) per refused RCPT, or for the refused MAIL or DATA, with the reply in
  ``detail``;
* for an accepted message: ``received`` (smtpd, ``nrcpt=``), ``queued`` (cleanup), ``active``
  (qmgr), one outcome per delivery target from local(8) (``delivered``, ``bounced`` or
  ``deferred``, with ``delays=a/b/c/d``) and ``removed`` (qmgr). The lab has no queue yet (the
  live queue manager is a later issue), so the queue file lives only while the spool delivers
  it: queued and active are the moment DATA ended, ``d`` the time the copies took to reach
  the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailsim.eventlog import format_delays
from mailsim.live.events import TRACE_HEADER, LiveEventLog, trace_id

if TYPE_CHECKING:
    from mailsim.live.spool import DeliveryReport
    from mailsim.policy.reply import SMTPReply

__all__ = ["TransactionTrace"]


@dataclass(slots=True)
class _Reject:
    t: float
    recipient: str
    reply: SMTPReply
    detail: str


@dataclass(slots=True)
class TransactionTrace:
    """The rows of one mail transaction of one smtpd session, written when it ends."""

    events: LiveEventLog
    node: str
    client: str
    t_connect: float
    sender: str = ""
    size: int = 0
    rejects: list[_Reject] = field(default_factory=list)
    #: the message a lab client announced for this connection (0: none)
    announced: int = 0

    @property
    def client_label(self) -> str:
        """The client as Postfix logs it without a reverse DNS name."""
        return f"unknown[{self.client}]"

    def rcpt_refused(self, recipient: str, reply: SMTPReply) -> None:
        """A RCPT got a 4xx/5xx reply (policy or smtpd_recipient_limit)."""
        detail = f"RCPT from {self.client_label}: {reply}"
        self.rejects.append(_Reject(self.events.now(), recipient, reply, detail))

    def refused(self, reply: SMTPReply) -> None:
        """MAIL or end of DATA got a 4xx/5xx reply: the message is refused as a whole."""
        self.rejects.append(_Reject(self.events.now(), "", reply, str(reply)))
        self.abandon()

    def abandon(self) -> None:
        """The transaction ended without a message: write its rejects, if any, under a new id
        (a transaction that was only reset leaves no row, as it left no trace in Postfix's
        queue)."""
        if self.rejects:
            self._write_session(self.announced or self.events.new_msg())

    def add_trace_header(self, content: bytes) -> tuple[int, bytes]:
        """Return the message's id and the header line to prepend: the id it carries, or a
        new one and a :data:`TRACE_HEADER` naming it."""
        msg = trace_id(content)
        if msg:
            self.events.seen_msg(msg)
            return msg, b""
        msg = self.announced or self.events.new_msg()
        return msg, f"{TRACE_HEADER}: m{msg}\r\n".encode("ascii")

    def accepted(self, msg: int, queue_id: str, recipients: int, size: int, t: float) -> None:
        """The message (complete at ``t``) is stored: write the session's rows, then
        ``received``, ``queued`` and ``active`` at ``t``."""
        self._write_session(msg)
        for daemon, event, relay, detail in (
            ("smtpd", "received", self.client_label, f"nrcpt={recipients}"),
            ("cleanup", "queued", "", "queue incoming"),
            ("qmgr", "active", "", f"nrcpt={recipients}"),
        ):
            self.events.emit(
                self.node,
                daemon,
                event,
                t=t,
                msg=msg,
                queue_id=queue_id,
                sender=self.sender,
                size=size,
                relay=relay,
                detail=detail,
            )

    def delivered(self, msg: int, report: DeliveryReport, size: int, since: float) -> None:
        """Write local(8)'s outcome per delivery target and the queue file's removal."""
        now = self.events.now()
        delays = format_delays(0.0, 0.0, 0.0, now - since)
        for outcome in report.outcomes:
            text = outcome.detail or outcome.status
            if outcome.orig_to:
                text = f"{text} (orig_to=<{outcome.orig_to}>)"
            self.events.emit(
                self.node,
                "local",
                outcome.status,
                t=now,
                msg=msg,
                queue_id=report.queue_id,
                sender=self.sender,
                recipient=outcome.recipient,
                size=size,
                dsn=outcome.dsn,
                relay=outcome.relay,
                detail=f"{text} delays={delays}",
            )
        self.events.emit(
            self.node,
            "qmgr",
            "removed",
            t=now,
            msg=msg,
            queue_id=report.queue_id,
            sender=self.sender,
            size=size,
        )

    def _write_session(self, msg: int) -> None:
        self.events.emit(
            self.node, "smtpd", "connect", t=self.t_connect, msg=msg, relay=self.client_label
        )
        for reject in self.rejects:
            self.events.emit(
                self.node,
                "smtpd",
                "reject",
                t=reject.t,
                msg=msg,
                sender=self.sender,
                recipient=reject.recipient,
                size=self.size,
                dsn=reject.reply.dsn,
                relay=self.client_label,
                detail=reject.detail,
            )
        self.rejects.clear()
