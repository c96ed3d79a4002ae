"""One simulated Postfix host: smtpd, cleanup, qmgr, trivial-rewrite, local (+ MDA) and smtp.

The lecture's chapter 6 as processes. A client's transaction waits for a free smtpd process
(smtpd_process_limit), which spends its service time plus the wire time of the session, asks the
shared policy about MAIL, every RCPT and DATA, and hands an accepted message to cleanup; the smtpd
process stays busy until cleanup has written the queue file, because Postfix only answers
``250 Ok: queued as ...`` then. qmgr (:mod:`mailsim.sim.qmgr`) moves the message to the active
queue and this node dispatches one delivery job per recipient to local(8) (whose
``local_destination_concurrency_limit`` applies per recipient) or one per destination and
``smtp_destination_recipient_limit`` recipients to smtp(8), whose client resolves the MX hosts,
tries them in preference order and holds a session on the next MTA's smtpd.

A host whose scenario gives it faults (``Host.behaviour``: outages, refusals, greylisting, a
session limit) runs its smtpd's connect, EHLO, envelope and end-of-data steps through
:class:`~mailsim.sim.smtpd_faults.FaultySMTPD`. The choice is made once, when the node is built:
a healthy host's smtpd runs the plain code, with no fault check per message.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from mailsim.policy import ClientSession, HostPolicy, SMTPReply
from mailsim.scenario.model import Host
from mailsim.sim.faults import ServerFaults, SessionRefusal
from mailsim.sim.local import LocalDelivery
from mailsim.sim.qmgr import PostfixQueueManager, QueueManager
from mailsim.sim.records import DeliveryJob, QueueFile, SessionResult, SMTPTransaction
from mailsim.sim.smtp import SMTPDelivery
from mailsim.sim.smtpd_faults import FaultySMTPD
from mailsim.sim.stage import Gate, TimedStage
from mailsim.streams import BatchSampler

if TYPE_CHECKING:
    from mailsim.sim.engine import Simulation

__all__ = ["MTANode"]

#: MAIL reply, RCPT replies, accepted recipients (canonical), canonical sender
Decision = tuple[SMTPReply, dict[str, SMTPReply], list[str], str]
_DECISION_CACHE = 1 << 16
#: (job, event, recipient, reply, relay, detail) of a bounced or deferred recipient
FailureObserver = Callable[[DeliveryJob, str, str, SMTPReply, str, str], None]


class MTANode:
    """A mail host of the scenario, driven by its :class:`~mailsim.policy.HostPolicy`."""

    def __init__(self, sim: Simulation, host: Host) -> None:
        self.sim = sim
        self.env: simpy.Environment = sim.env
        self.host = host
        self.name = host.name
        self.address = host.address
        self.policy = HostPolicy(host, sim.scenario)
        self._append = sim.log.append
        self._next_qid = (zlib.crc32(host.name.encode()) & 0xFFFFFF) << 16
        self._decisions: dict[tuple[str, str, str, tuple[str, ...]], Decision] = {}
        self._sessions: dict[tuple[str, str], ClientSession] = {}
        self._canonical: dict[str, str] = {}
        self._session_time = sim.network.session_time
        self._fetch_stages: dict[str, TimedStage[Any]] = {}
        self._failure_observers: list[FailureObserver] = []
        self.smtpd_sampler = self.sampler("smtpd")
        #: what the scenario makes this host's smtpd do wrong; None for a healthy host, whose
        #: smtpd then runs exactly the code it would without faults
        self.faults: ServerFaults | None = None
        faulty: FaultySMTPD | None = None
        if not host.behaviour.healthy:
            self.faults = ServerFaults(host.behaviour, sim.streams.generator(f"faults/{self.name}"))
            faulty = FaultySMTPD(self, self.faults)
        self.smtpd: Gate[SMTPTransaction] = Gate(
            f"{self.name}/smtpd",
            self.policy.process_limit("smtpd"),
            self.smtpd_serve if faulty is None else faulty.serve,
        )
        #: a client connects to this host's smtpd (it may wait for a free process)
        self.receive: Callable[[SMTPTransaction], None] = (
            self.smtpd.arrive if faulty is None else faulty.connect
        )
        self._envelope: Callable[[SMTPTransaction], Decision] = (
            self.decide_envelope if faulty is None else faulty.decide_envelope
        )
        self._end_of_data: Callable[[int], SMTPReply] = (
            self.policy.limits.check_message_size if faulty is None else faulty.end_of_data
        )
        self.cleanup: TimedStage[tuple[QueueFile, SMTPTransaction | None]] = TimedStage(
            self.env,
            f"{self.name}/cleanup",
            self.policy.process_limit("cleanup"),
            self.sampler("cleanup"),
            done=self._cleanup_done,
        )
        self.local = LocalDelivery(self)
        self.smtp = SMTPDelivery(self)
        self.qmgr: QueueManager = (sim.queue_manager or PostfixQueueManager)(self)

    def fetch_stage(self, daemon: str) -> TimedStage[Any]:
        """Return this host's POP3 or IMAP server stage (built on first use)."""
        stage = self._fetch_stages.get(daemon)
        if stage is None:
            from mailsim.sim.client import fetch_stage

            stage = self._fetch_stages[daemon] = fetch_stage(self, daemon)
        return stage

    def sampler(self, daemon: str) -> BatchSampler:
        """Return this host's service-time sampler for ``daemon`` (its own random stream)."""
        return self.sim.streams.sampler(f"sim/{self.name}/{daemon}", self.host.capacity.of(daemon))

    # -- event helpers ------------------------------------------------------------------------
    def emit(
        self,
        daemon: str,
        event: str,
        msg: int,
        qid: int = 0,
        sender: str = "",
        recipient: str = "",
        size: int = 0,
        dsn: str = "",
        relay: str = "",
        detail: str = "",
    ) -> None:
        self._append(
            (
                self.env._now,
                self.name,
                daemon,
                event,
                msg,
                qid,
                sender,
                recipient,
                size,
                dsn,
                relay,
                detail,
            )
        )

    def emit_message(self, qf: QueueFile, daemon: str, event: str, detail: str = "") -> None:
        """Record a message-level queue transition (empty recipient)."""
        self._append(
            (
                self.env._now,
                self.name,
                daemon,
                event,
                qf.msg,
                qf.qid,
                qf.sender,
                "",
                qf.size,
                "",
                "",
                detail,
            )
        )

    def observe_failures(self, observer: FailureObserver) -> None:
        """Have ``observer`` told of every bounced or deferred recipient (bounce(8) uses it)."""
        self._failure_observers.append(observer)

    def emit_outcome(
        self,
        job: DeliveryJob,
        daemon: str,
        event: str,
        recipient: str,
        reply: SMTPReply,
        relay: str,
        detail: str = "",
        notify: bool = True,
    ) -> None:
        """Record one recipient's delivery outcome (sent, delivered, deferred, bounced).

        The detail is the reply or reason, then ``(orig_to=<alias>)`` for an alias-expanded
        recipient, then Postfix's ``delays=a/b/c/d`` (docs/design.md section 3). Failures are
        also reported to the observers (bounce(8)) unless ``notify`` is false.
        """
        if notify and self._failure_observers and event in ("bounced", "deferred"):
            for observer in self._failure_observers:
                observer(job, event, recipient, reply, relay, detail or str(reply.text))
        qf = job.queue_file
        orig = qf.orig_to.get(recipient, "") if qf.orig_to else ""
        text = detail or str(reply)
        if orig:
            text = f"{text} (orig_to=<{orig}>)"
        text = f"{text} delays={job.delays(self.env._now)}"
        self._append(
            (
                self.env._now,
                self.name,
                daemon,
                event,
                qf.msg,
                qf.qid,
                qf.sender,
                recipient,
                qf.size,
                reply.dsn,
                relay,
                text,
            )
        )

    # -- smtpd ----------------------------------------------------------------------------------
    def receive_event(self, event: Any) -> None:
        """Callback form of :attr:`receive` for a Timeout carrying the transaction."""
        self.receive(event._value)

    def smtpd_serve(self, tx: SMTPTransaction) -> None:
        """An smtpd process takes the connection: service time plus the session's wire time."""
        tx.connected_at = self.env._now
        self._append(
            (
                self.env._now,
                self.name,
                "smtpd",
                "connect",
                tx.msg,
                0,
                "",
                "",
                0,
                "",
                tx.client_label or tx.label(),
                "",
            )
        )
        delay = next(self.smtpd_sampler) + self._session_time(tx.client_address, self.name, tx.size)
        simpy.events.Timeout(self.env, delay, tx).callbacks.append(self._smtpd_decide)

    def canonicalize(self, address: str) -> str:
        """Return the policy's canonical form of ``address`` (cached: called per recipient)."""
        found = self._canonical.get(address)
        if found is None:
            found = self._canonical[address] = self.policy.canonicalize(address)
        return found

    def _client_session(self, tx: SMTPTransaction) -> ClientSession:
        key = (tx.client_address, tx.sasl_username)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = ClientSession(
                address=tx.client_address, helo=tx.client_name, sasl_username=tx.sasl_username
            )
        return session

    def decide_envelope(self, tx: SMTPTransaction) -> Decision:
        """Ask the policy about MAIL FROM (without SIZE) and each RCPT TO of ``tx``.

        The answers depend only on client, SASL identity, sender and recipients, so they are
        cached per combination (bounded); size checks are made per message by the caller.
        """
        key = (tx.client_address, tx.sasl_username, tx.sender, tx.recipients)
        found = self._decisions.get(key)
        if found is not None:
            return found
        session = self._client_session(tx)
        mail = self.policy.check_mail(session, tx.sender, None)
        replies: dict[str, SMTPReply] = {}
        accepted: list[str] = []
        if mail.ok:
            for rcpt in tx.recipients:
                reply = replies[rcpt] = self.policy.check_rcpt(session, tx.sender, rcpt)
                if reply.ok:
                    accepted.append(self.canonicalize(rcpt))
        sender = self.canonicalize(tx.sender) if tx.sender else ""
        found = (mail, replies, accepted, sender)
        if len(self._decisions) >= _DECISION_CACHE:
            self._decisions.clear()
        self._decisions[key] = found
        return found

    def _smtpd_decide(self, event: Any) -> None:
        tx: SMTPTransaction = event._value
        mail, replies, accepted, sender = self._envelope(tx)
        refusal = mail if not mail.ok else self.policy.limits.check_declared_size(tx.size)
        stage = "mail"
        if refusal.ok:
            for rcpt, reply in replies.items():
                if not reply.ok:
                    self.emit(
                        "smtpd",
                        "reject",
                        tx.msg,
                        sender=tx.sender,
                        recipient=rcpt,
                        size=tx.size,
                        dsn=reply.dsn,
                        relay=tx.client_label,
                        detail=f"RCPT from {tx.client_label}: {reply}",
                    )
            if accepted:
                stage = "data"
                refusal = self._end_of_data(tx.size)
        if not refusal.ok:
            self.emit(
                "smtpd",
                "reject",
                tx.msg,
                sender=tx.sender,
                size=tx.size,
                dsn=refusal.dsn,
                relay=tx.client_label,
                detail=str(refusal),
            )
            if stage == "mail":
                replies = dict.fromkeys(tx.recipients, refusal)
            else:  # recipients refused at RCPT keep their reply
                replies = {r: refusal if reply.ok else reply for r, reply in replies.items()}
            self.smtpd.release()
            if tx.on_reply is not None:
                tx.on_reply(SessionRefusal(replies, stage=stage, reply=refusal))
            return
        if not accepted:
            self.smtpd.release()
            if tx.on_reply is not None:
                tx.on_reply(SessionResult(replies))
            return
        self._next_qid += 1
        qf = QueueFile(
            tx.msg,
            self._next_qid,
            sender,
            tx.size,
            accepted.copy(),
            self.env._now,
            tx.connected_at,
            headers=tx.headers,
        )
        self._append(
            (
                self.env._now,
                self.name,
                "smtpd",
                "received",
                tx.msg,
                qf.qid,
                sender,
                "",
                tx.size,
                "",
                tx.client_label,
                f"nrcpt={len(accepted)}",
            )
        )
        tx.replies = replies
        self.cleanup.arrive((qf, tx))

    # -- cleanup --------------------------------------------------------------------------------
    def inject(self, qf: QueueFile) -> None:
        """Hand a locally created queue file (forwarded copy) to cleanup."""
        self._next_qid += 1
        qf.qid = self._next_qid
        self.cleanup.arrive((qf, None))

    def _cleanup_done(self, job: tuple[QueueFile, SMTPTransaction | None]) -> None:
        qf, tx = job
        if tx is None:  # a copy made here (forwarding, notification): it arrives now
            qf.queued_at = qf.arrived_at = self.env._now
        self.emit_message(qf, "cleanup", "queued", detail="queue incoming")
        self.qmgr.enqueue(qf)
        if tx is not None:
            self.smtpd.release()
            if tx.on_reply is not None:
                queue_id = f"{qf.qid:010X}"
                queued = SMTPReply(250, "2.0.0", f"Ok: queued as {queue_id}")
                replies = {
                    r: queued if reply.ok else reply for r, reply in (tx.replies or {}).items()
                }
                tx.on_reply(SessionResult(replies, queue_id))
