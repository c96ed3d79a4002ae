"""smtp(8): the SMTP client delivering to the next MTA.

A job (one destination, up to smtp_destination_recipient_limit recipients) waits for a free smtp
process (smtp_process_limit), resolves the destination's MX hosts (RFC 5321 section 5.1), tries
them in preference order and holds a session on the first one that answers; the next MTA's smtpd
replies per recipient. The outcome per recipient is sent, deferred (4xx, or no host answered) or
bounced (5xx, or the domain does not exist), each logged with Postfix's delays=a/b/c/d.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from mailsim.policy import SMTPReply
from mailsim.sim.records import DeliveryJob, SessionResult, SMTPTransaction
from mailsim.sim.stage import Gate

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["SMTPDelivery"]


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

    def deliver(self, job: DeliveryJob) -> None:
        """Take a job qmgr assigned (it waits for a free smtp process)."""
        self.processes.arrive(job)

    def _start(self, job: DeliveryJob) -> None:
        job.started_at = self.env._now
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
            job.connected_at = self.env._now
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
                    headers=qf.headers,
                )
            )
            result = yield replied
            yield self.env.timeout(latency)
            relay = f"{mx}[{address}]:25"
            break
        if result is None:
            job.connected_at = self.env._now
        self._outcomes(job, result, relay, answer.error, failure)
        self.processes.release()
        # a site failure (no MX host answered) is negative feedback for the destination
        node.qmgr.delivered(job, failure if result is None and not answer.error else "")

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
                    node.emit_outcome(job, "smtp", "bounced", rcpt, reply, relay, reply.text)
            else:
                reply = SMTPReply(450, "4.4.1", failure or "no MX host answered")
                for rcpt in job.recipients:
                    node.emit_outcome(job, "smtp", "deferred", rcpt, reply, relay, reply.text)
                    qf.defer(rcpt)
            return
        host = relay.rpartition(":")[0]
        for rcpt in job.recipients:
            reply = result.replies[rcpt]
            if reply.ok:
                node.emit_outcome(job, "smtp", "sent", rcpt, reply, relay, str(reply))
                continue
            said = f"host {host} said: {reply} (in reply to RCPT TO command)"
            if reply.temporary:
                node.emit_outcome(job, "smtp", "deferred", rcpt, reply, relay, said)
                qf.defer(rcpt)
            else:
                node.emit_outcome(job, "smtp", "bounced", rcpt, reply, relay, said)
