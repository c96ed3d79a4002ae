"""local(8) and the MDA: alias expansion, quota, and delivery into the recipient's mailbox.

qmgr hands local(8) one recipient per job (local_destination_recipient_limit = 1); the job waits
for a free local process (local_process_limit), whose service time is local's plus the MDA's
(procmail, maildrop: mailbox_command). Alias expansion follows aliases(5) through the policy;
an address forwarded elsewhere becomes a new queue file ("forwarded as ...").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailsim.policy import LocalTarget, SMTPReply
from mailsim.sim.records import DeliveryJob, QueueFile
from mailsim.sim.stage import TimedStage

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["LocalDelivery"]

R250_DELIVERED = SMTPReply(250, "2.0.0", "delivered")


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
        node = self.node
        qf = job.queue_file
        mailbox = node.sim.mailbox(address, node)
        reply = node.policy.check_quota(mailbox.size, qf.size, address.partition("@")[0])
        if not reply.ok:
            node.emit_outcome(job, "local", "bounced", address, reply, "local", reply.text)
            return
        mailbox.add(qf.msg, qf.size, node.env._now)
        node.emit_outcome(
            job, "local", "delivered", address, R250_DELIVERED, "local", self._mailbox_kind
        )
