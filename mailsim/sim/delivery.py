"""The delivery agents of a simulated host: local(8) with its MDA, and the smtp(8) client.

Both sit behind two gates, as in Postfix: a per-destination concurrency limit
(``local_destination_concurrency_limit`` per recipient, ``smtp_destination_concurrency_limit``
per nexthop domain; Postfix's adaptive window comes with issue 3) and the transport's process
limit (``local_process_limit``, ``smtp_process_limit``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from mailsim.policy import LocalTarget, SMTPReply
from mailsim.sim.records import DeliveryJob, QueueFile, SessionResult, SMTPTransaction
from mailsim.sim.stage import Gate, TimedStage

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["LocalDelivery", "SMTPDelivery"]

R250_DELIVERED = SMTPReply(250, "2.0.0", "delivered")


class _DestinationGates:
    """One concurrency gate per destination, created on first use."""

    def __init__(self, node: MTANode, transport: str, serve: Any) -> None:
        self.node = node
        self.transport = transport
        self.limit = node.policy.destination_concurrency_limit(transport)
        self.serve = serve
        self.gates: dict[str, Gate[DeliveryJob]] = {}

    def gate(self, nexthop: str) -> Gate[DeliveryJob]:
        found = self.gates.get(nexthop)
        if found is None:
            found = self.gates[nexthop] = Gate(
                f"{self.node.name}/{self.transport}:{nexthop}", self.limit, self.serve
            )
        return found


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
            started=None if self._mda.constant == 0.0 else self._mda_time,
        )
        self.destinations = _DestinationGates(node, "local", self.stage.arrive)
        # alias expansion depends only on the (static) tables: cache it per recipient
        self._targets: dict[str, tuple[LocalTarget, ...]] = {}
        self._mailbox_kind = (
            "delivered to maildir"
            if node.host.mailbox_format == "maildir"
            else "delivered to mailbox"
        )

    def submit(self, job: DeliveryJob) -> None:
        self.destinations.gate(job.nexthop).arrive(job)

    def _mda_time(self, job: DeliveryJob) -> float:
        return next(self._mda)

    def _delivered(self, job: DeliveryJob) -> None:
        node = self.node
        self.destinations.gate(job.nexthop).release()
        qf = job.queue_file
        for rcpt in job.recipients:
            self._deliver_one(qf, rcpt)
        node.job_done(job)

    def _deliver_one(self, qf: QueueFile, rcpt: str) -> None:
        node = self.node
        targets = self._targets.get(rcpt)
        if targets is None:
            targets = self._targets[rcpt] = node.policy.expand_local(rcpt)
        if not targets:
            user = rcpt.partition("@")[0]
            reply = SMTPReply(550, "5.1.1", f'unknown user: "{user}"')
            node.emit_outcome(qf, "local", "bounced", rcpt, reply, "local", str(reply.text))
            return
        for target in targets:
            if target.orig_to:
                qf.note_orig_to(target.value, target.orig_to)
            if target.kind == "mailbox":
                self._to_mailbox(qf, target.value)
            elif target.kind == "forward":
                copy = QueueFile(qf.msg, 0, qf.sender, qf.size, [target.value], node.env._now)
                if target.orig_to:
                    copy.note_orig_to(target.value, target.orig_to)
                node.inject(copy)
                reply = SMTPReply(250, "2.0.0", f"forwarded as {copy.qid:010X}")
                node.emit_outcome(qf, "local", "sent", target.value, reply, "local", reply.text)
            elif target.kind == "bounce":
                reply = SMTPReply(550, target.dsn or "5.1.1", target.value)
                node.emit_outcome(qf, "local", "bounced", rcpt, reply, "local", target.value)
            else:
                reply = SMTPReply(250, "2.0.0", f"delivered to {target.kind}: {target.value}")
                node.emit_outcome(qf, "local", "delivered", rcpt, reply, "local", reply.text)

    def _to_mailbox(self, qf: QueueFile, address: str) -> None:
        node = self.node
        mailbox = node.sim.mailbox(address, node)
        reply = node.policy.check_quota(mailbox.size, qf.size, address.partition("@")[0])
        if not reply.ok:
            node.emit_outcome(qf, "local", "bounced", address, reply, "local", reply.text)
            return
        mailbox.add(qf.msg, qf.size, node.env._now)
        node.emit_outcome(
            qf, "local", "delivered", address, R250_DELIVERED, "local", self._mailbox_kind
        )


class SMTPDelivery:
    """smtp(8): MX lookup, then one session per attempt on the first MX host that answers."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self.env = node.env
        self._overhead = node.sampler("smtp")
        self._dns_time = node.sim.streams.sampler(
            f"sim/{node.name}/dns", node.sim.scenario.dns.lookup_time
        )
        self.processes: Gate[DeliveryJob] = Gate(
            f"{node.name}/smtp", node.policy.process_limit("smtp"), self._start
        )
        self.destinations = _DestinationGates(node, "smtp", self.processes.arrive)

    def submit(self, job: DeliveryJob) -> None:
        self.destinations.gate(job.nexthop).arrive(job)

    def _start(self, job: DeliveryJob) -> None:
        self.env.process(self._deliver(job))

    def _deliver(self, job: DeliveryJob) -> Generator[simpy.Event, Any, None]:
        node = self.node
        sim = node.sim
        qf = job.queue_file
        yield self.env.timeout(next(self._overhead))
        answer = sim.resolver.cached(job.nexthop, self.env._now)
        if answer is None:
            yield self.env.timeout(next(self._dns_time))
            answer = sim.resolver.resolve(job.nexthop, self.env._now)
            hosts = " ".join(f"{mx}[{addr}]" for mx, addr in answer.hosts)
            node.emit(
                "dns",
                "dns_fail" if answer.error else "dns_query",
                qf.msg,
                qf.qid,
                detail=f"MX {job.nexthop}: {answer.error or hosts}",
            )
        result: SessionResult | None = None
        relay = "none"
        failure = ""
        for mx, address in answer.hosts:
            latency = sim.network.latency(node.name, mx)
            target = sim.mta_at(address)
            if target is None:
                yield self.env.timeout(2 * latency)
                failure = f"connect to {mx}[{address}]:25: Connection refused"
                continue
            yield self.env.timeout(latency)
            replied = self.env.event()
            target.receive(
                SMTPTransaction(
                    qf.msg,
                    qf.sender,
                    tuple(job.recipients),
                    qf.size,
                    node.name,
                    node.address,
                    on_reply=replied.succeed,
                )
            )
            result = yield replied
            yield self.env.timeout(latency)
            relay = f"{mx}[{address}]:25"
            break
        self._outcomes(job, result, relay, answer.error, failure)
        self.processes.release()
        self.destinations.gate(job.nexthop).release()
        node.job_done(job)

    def _outcomes(
        self,
        job: DeliveryJob,
        result: SessionResult | None,
        relay: str,
        dns_error: str,
        failure: str,
    ) -> None:
        node = self.node
        qf = job.queue_file
        if result is None:
            if dns_error:
                reply = SMTPReply(
                    550,
                    "5.4.4",
                    f"Host or domain name not found. Name service "
                    f"error for name={job.nexthop} type=MX: Host not found",
                )
                for rcpt in job.recipients:
                    node.emit_outcome(qf, "smtp", "bounced", rcpt, reply, relay, reply.text)
            else:
                reply = SMTPReply(450, "4.4.1", failure or "no MX host answered")
                for rcpt in job.recipients:
                    node.emit_outcome(qf, "smtp", "deferred", rcpt, reply, relay, reply.text)
                    qf.defer(rcpt)
            return
        host = relay.rpartition(":")[0]
        for rcpt in job.recipients:
            reply = result.replies[rcpt]
            if reply.ok:
                node.emit_outcome(qf, "smtp", "sent", rcpt, reply, relay, str(reply))
                continue
            said = f"host {host} said: {reply} (in reply to RCPT TO command)"
            if reply.temporary:
                node.emit_outcome(qf, "smtp", "deferred", rcpt, reply, relay, said)
                qf.defer(rcpt)
            else:
                node.emit_outcome(qf, "smtp", "bounced", rcpt, reply, relay, said)
