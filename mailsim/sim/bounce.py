"""bounce(8) in the simulation: notifications to the sender are new messages through the model.

The queue manager asks for a *non-delivery notification* when recipients bounced during a
delivery round or the message expired, and for a *delay notification* when delay_warning_time
has passed (:mod:`mailsim.policy.retry`). Each becomes a queue file from the null sender ``<>`` to
the original envelope sender, with a new run-wide message id (``Simulation.new_msg_id``), the
report's headers (Subject, Auto-Submitted, Content-Type multipart/report) and size
(:mod:`mailsim.policy.dsn`), handed to cleanup like a forwarded copy; it is then queued, routed
and delivered (or deferred, bounced, expired under bounce_queue_lifetime) like any message. The
original message's log gets Postfix's ``sender non-delivery notification: <queue id>`` line as a
``bounce_notice`` event (``delay_warning`` for ``sender delay notification``).

To know what to report, the notifier watches the node's per-recipient outcomes: it remembers the
recipients that bounced in the current round and the last reason each deferred recipient got,
per queue file, until the queue manager settles the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailsim.policy import SMTPReply
from mailsim.policy.dsn import DeliveryReport, RecipientStatus, notify_sender
from mailsim.sim.records import DeliveryJob, QueueFile

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["Notifier"]

#: per recipient: (enhanced status, reason, remote MTA)
_Reason = tuple[str, str, str]


class Notifier:
    """Create the sender notifications of one MTA node (its bounce(8) service)."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self.hostname = node.policy.hostname
        self.bounce_size_limit = node.policy.bounce_size_limit
        self.retry = node.policy.retry
        self._emit_outcome = node.emit_outcome
        # bounce(8) hears of every failed recipient: the delivery agents' reports
        node.observe_failures(self._note)
        #: queue id -> recipients that bounced since the message last became active
        self.bounces: dict[int, dict[str, _Reason]] = {}
        #: queue id -> the last deferral of each recipient
        self._deferred: dict[int, dict[str, _Reason]] = {}

    def _note(
        self,
        job: DeliveryJob,
        event: str,
        recipient: str,
        reply: SMTPReply,
        relay: str,
        detail: str,
    ) -> None:
        """Remember a bounced or deferred recipient for the notification (bounce(8) logs)."""
        if event == "bounced":
            table = self.bounces
        elif event == "deferred":
            table = self._deferred
        else:
            return
        qid = job.queue_file.qid
        found = table.get(qid)
        if found is None:
            found = table[qid] = {}
        mta = relay.partition("[")[0] if "[" in relay else ""
        found[recipient] = (reply.dsn, detail or str(reply.text), mta)

    def record_expiry(self, job: DeliveryJob, recipient: str, reply: SMTPReply) -> None:
        """Log an expired recipient as bounced without treating it as a new bounce."""
        self._emit_outcome(
            job,
            "qmgr",
            "bounced",
            recipient,
            reply,
            "none",
            "status=expired, returned to sender",
            notify=False,
        )

    # -- notifications ---------------------------------------------------------------------------
    def bounced(self, qf: QueueFile) -> None:
        """Return the recipients that bounced in this round, if any (qmgr_active_done())."""
        found = self.bounces.pop(qf.qid, None)
        if found:
            statuses = tuple(
                _status(qf, rcpt, "failed", dsn, reason, mta)
                for rcpt, (dsn, reason, mta) in found.items()
            )
            self._send(qf, DeliveryReport("failure", self.hostname, _qid(qf), qf.sender, statuses))

    def expired(self, qf: QueueFile, recipients: list[str]) -> None:
        """Return the recipients still deferred when the message expired."""
        reasons = self._deferred.pop(qf.qid, None) or {}
        statuses = tuple(
            _status(qf, rcpt, "failed", "5.4.7", reasons.get(rcpt, ("", "", ""))[1], "")
            for rcpt in recipients
        )
        self._send(qf, DeliveryReport("failure", self.hostname, _qid(qf), qf.sender, statuses))

    def delayed(self, qf: QueueFile, recipients: list[str]) -> None:
        """Warn the sender that ``recipients`` are still being retried."""
        reasons = self._deferred.get(qf.qid) or {}
        unknown = ("4.0.0", "", "")
        statuses = tuple(
            _status(qf, rcpt, "delayed", *reasons.get(rcpt, unknown)) for rcpt in recipients
        )
        node = self.node
        report = DeliveryReport(
            "delay",
            self.hostname,
            _qid(qf),
            qf.sender,
            statuses,
            delayed_s=int(node.env.now - qf.queued_at),
            lifetime_s=self.retry.lifetime(qf.sender),
        )
        self._send(qf, report)

    @property
    def remembers(self) -> bool:
        """Whether anything about some message is remembered."""
        return bool(self.bounces or self._deferred)

    def forget(self, qf: QueueFile) -> None:
        """Drop what is remembered about a message that left the queue."""
        if self._deferred:
            self._deferred.pop(qf.qid, None)
        if self.bounces:
            self.bounces.pop(qf.qid, None)

    def _send(self, qf: QueueFile, report: DeliveryReport) -> None:
        if not notify_sender(qf.sender) or not report.recipients:
            return  # a bounce of a bounce is discarded
        node = self.node
        notice = QueueFile(
            node.sim.new_msg_id(),
            0,
            "",
            report.size(qf.size, self.bounce_size_limit),
            [qf.sender],
            node.env.now,
            headers=report.headers(),
        )
        node.inject(notice)
        if report.kind == "failure":
            event, text = "bounce_notice", "sender non-delivery notification"
        else:
            event, text = "delay_warning", "sender delay notification"
        node.emit(
            "bounce",
            event,
            qf.msg,
            qf.qid,
            qf.sender,
            size=qf.size,
            detail=f"{text}: {notice.qid:010X}",
        )


def _status(
    qf: QueueFile, rcpt: str, action: str, dsn: str, reason: str, mta: str
) -> RecipientStatus:
    orig = qf.orig_to.get(rcpt, "") if qf.orig_to else ""
    return RecipientStatus(
        rcpt,
        "failed" if action == "failed" else "delayed",
        dsn or ("5.0.0" if action == "failed" else "4.0.0"),
        reason.split(" delays=")[0] if reason else "",
        orig,
        mta,
    )


def _qid(qf: QueueFile) -> str:
    return f"{qf.qid:010X}"
