"""local(8) and the MDA: alias expansion, quota, MDA recipes and delivery into the mailbox.

qmgr hands local(8) one recipient per job (local_destination_recipient_limit = 1); the job waits
for a free local process (local_process_limit), whose service time is local's plus the MDA's
(procmail, maildrop: mailbox_command). Alias expansion follows aliases(5) through the policy;
an address forwarded elsewhere becomes a new queue file ("forwarded as ...").

The MDA applies the host's and the user's recipes (:mod:`mailsim.policy.mda`), each outcome a
``delivered`` event as Postfix logs a hand-over to mailbox_command, with the detail saying what
the recipe did: ``delivered to maildir folder .Spam (rule spam)``, ``discarded (rule junk)``;
a forwarding recipe re-injects the message (procmail's ``! address``) as a new queue file,
logged like an alias forward (``sent``, ``forwarded as <queue id>``, orig_to the user). The
envelope sender stays the original one, as in Postfix's own forwarding (RFC 5321 section 3.9.1:
forwarding keeps the return path; procmail reaches that with ``! -f "$SENDER"``): a forward
that fails is returned to whoever wrote the message, and a forwarded bounce that fails goes
nowhere, so recipes cannot start a bounce loop. local(8) adds ``Delivered-To: <user>`` to what
it hands on and bounces a message that already carries it (5.4.6 ``mail forwarding loop``),
which ends forwarding loops between recipes. A vacation recipe delivers to the inbox and
queues vacation(1)'s reply from the user to the envelope sender, at most once per sender and
reply interval.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mailsim.policy import LocalTarget, SMTPReply
from mailsim.policy.mda import (
    VACATION_HEADERS,
    MDADecision,
    MDAFilter,
    vacation_due,
    vacation_exempt,
)
from mailsim.sim.records import DeliveryJob, QueueFile
from mailsim.sim.stage import TimedStage
from mailsim.units import format_duration

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["LocalDelivery"]

R250_DELIVERED = SMTPReply(250, "2.0.0", "delivered")
#: Bytes of a vacation reply besides its text: From, To, Date, Message-ID and VACATION_HEADERS.
VACATION_HEADER_BYTES = 300


class LocalDelivery:
    """local(8): alias expansion, quota check and the MDA writing into the mailbox."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self._mda = node.sampler("mda")
        self.stage: TimedStage[DeliveryJob] = TimedStage(
            node.env,
            f"{node.name}/local",
            node.policy.process_limit("local"),
            node.sampler("local"),
            done=self._delivered,
            started=self._started if self._mda.constant == 0.0 else self._mda_time,
        )
        # alias expansion depends only on the (static) tables: cache it per recipient
        self._targets: dict[str, tuple[LocalTarget, ...]] = {}
        self._mailbox_kind = (
            "delivered to maildir"
            if node.host.mailbox_format == "maildir"
            else "delivered to mailbox"
        )
        # MDA recipes per login name; empty on a host without any, which then pays nothing
        self._filters: dict[str, MDAFilter] = node.policy.mda_filters
        # vacation(1)'s database: when each (user address, sender) was last answered
        self._vacation: dict[tuple[str, str], float] = {}

    def deliver(self, job: DeliveryJob) -> None:
        """Take a job qmgr assigned (it waits for a free local process)."""
        self.stage.arrive(job)

    def _mda_time(self, job: DeliveryJob) -> float:
        job.started_at = job.connected_at = self.node.env._now
        return next(self._mda)

    def _started(self, job: DeliveryJob) -> float:
        job.started_at = job.connected_at = self.node.env._now
        return 0.0

    def _delivered(self, job: DeliveryJob) -> None:
        for rcpt in job.recipients:
            self._deliver_one(job, rcpt)
        self.node.qmgr.delivered(job)

    def _deliver_one(self, job: DeliveryJob, rcpt: str) -> None:
        node = self.node
        qf = job.queue_file
        targets = self._targets.get(rcpt)
        if targets is None:
            targets = self._targets[rcpt] = node.policy.expand_local(rcpt)
        if not targets:
            user = rcpt.partition("@")[0]
            reply = SMTPReply(550, "5.1.1", f'unknown user: "{user}"')
            node.emit_outcome(job, "local", "bounced", rcpt, reply, "local", str(reply.text))
            return
        for target in targets:
            if target.orig_to:
                qf.note_orig_to(target.value, target.orig_to)
            if target.kind == "mailbox":
                self._to_mailbox(job, target.value)
            elif target.kind == "forward":
                copy = QueueFile(
                    qf.msg,
                    0,
                    qf.sender,
                    qf.size,
                    [target.value],
                    node.env._now,
                    headers=qf.headers,
                )
                if target.orig_to:
                    copy.note_orig_to(target.value, target.orig_to)
                node.inject(copy)
                reply = SMTPReply(250, "2.0.0", f"forwarded as {copy.qid:010X}")
                node.emit_outcome(job, "local", "sent", target.value, reply, "local", reply.text)
            elif target.kind == "bounce":
                reply = SMTPReply(550, target.dsn or "5.1.1", target.value)
                node.emit_outcome(job, "local", "bounced", rcpt, reply, "local", target.value)
            else:
                reply = SMTPReply(250, "2.0.0", f"delivered to {target.kind}: {target.value}")
                node.emit_outcome(job, "local", "delivered", rcpt, reply, "local", reply.text)

    def _to_mailbox(self, job: DeliveryJob, address: str) -> None:
        if self._filters:
            mda = self._filters.get(address.partition("@")[0])
            if mda is not None:
                self._filter(job, address, mda)
                return
        self._store(job, address, "", self._mailbox_kind)

    def _store(self, job: DeliveryJob, address: str, folder: str, text: str) -> bool:
        """Write the message into the inbox (or an MDA folder, a mailbox of its own) of
        ``address`` under mailbox_size_limit; log it and return whether it was written."""
        node = self.node
        qf = job.queue_file
        mailbox = node.sim.mailbox(f"{address}/{folder}" if folder else address, node)
        reply = node.policy.check_quota(mailbox.size, qf.size, address.partition("@")[0], folder)
        if not reply.ok:
            node.emit_outcome(job, "local", "bounced", address, reply, "local", reply.text)
            return False
        mailbox.add(qf.msg, qf.size, node.env._now)
        node.emit_outcome(job, "local", "delivered", address, R250_DELIVERED, "local", text)
        return True

    # -- the MDA's recipes ----------------------------------------------------------------------
    def _filter(self, job: DeliveryJob, address: str, mda: MDAFilter) -> None:
        """Deliver through the site's and the user's recipes (the first that matches decides)."""
        node = self.node
        qf = job.queue_file
        if qf.headers and ("Delivered-To", address) in qf.headers:
            reply = SMTPReply(550, "5.4.6", f"mail forwarding loop for {address}")
            node.emit_outcome(job, "local", "bounced", address, reply, "local", reply.text)
            return
        decision = mda.decide(qf.sender, qf.size, qf.headers)
        action = decision.action
        rule = f" (rule {decision.rule})"
        if action == "inbox":
            self._store(job, address, "", self._mailbox_kind)
        elif action == "folder":
            kind = "maildir folder" if node.host.mailbox_format == "maildir" else "mailbox folder"
            text = f"delivered to {kind} {decision.folder}{rule}"
            self._store(job, address, decision.folder, text)
        elif action == "discard":
            node.emit_outcome(
                job, "local", "delivered", address, R250_DELIVERED, "local", "discarded" + rule
            )
        elif action == "forward":
            self._forward(job, address, decision.forward_to, rule)
        else:
            self._vacation_reply(job, address, decision, rule)

    def _forward(self, job: DeliveryJob, address: str, forward_to: str, rule: str) -> None:
        """procmail's ``! -f "$SENDER" forward_to``: re-inject the message to ``forward_to``."""
        node = self.node
        qf = job.queue_file
        origin = qf.orig_to.get(address, address) if qf.orig_to else address
        headers = (*qf.headers, ("Delivered-To", address))
        copy = QueueFile(
            qf.msg, 0, qf.sender, qf.size, [forward_to], node.env._now, headers=headers
        )
        copy.note_orig_to(forward_to, origin)
        qf.note_orig_to(forward_to, origin)
        node.inject(copy)
        reply = SMTPReply(250, "2.0.0", f"forwarded as {copy.qid:010X}")
        node.emit_outcome(job, "local", "sent", forward_to, reply, "local", reply.text + rule)

    def _vacation_reply(
        self, job: DeliveryJob, address: str, decision: MDADecision, rule: str
    ) -> None:
        """Deliver to the inbox, then answer the sender as vacation(1) does (when due)."""
        node = self.node
        qf = job.queue_file
        now = node.env._now
        reason = vacation_exempt(qf.sender, qf.headers)
        key = (address, qf.sender.lower())
        period = decision.vacation_period
        if not reason and not vacation_due(self._vacation.get(key), now, period):
            since = "before" if math.isinf(period) else f"within {format_duration(period)}"
            reason = f"answered <{qf.sender}> {since}"
        if reason:
            self._store(
                job, address, "", f"{self._mailbox_kind}, no vacation reply: {reason}{rule}"
            )
            return
        mailbox = node.sim.mailbox(address, node)
        refusal = node.policy.check_quota(mailbox.size, qf.size, address.partition("@")[0])
        if not refusal.ok:  # not delivered, so vacation never sees it
            node.emit_outcome(job, "local", "bounced", address, refusal, "local", refusal.text)
            return
        size = len(decision.vacation_text.encode()) + VACATION_HEADER_BYTES
        answer = QueueFile(
            node.sim.new_msg_id(), 0, address, size, [qf.sender], now, headers=VACATION_HEADERS
        )
        node.inject(answer)
        self._vacation[key] = now
        text = f"{self._mailbox_kind}, vacation reply {answer.qid:010X} to <{qf.sender}>{rule}"
        self._store(job, address, "", text)
