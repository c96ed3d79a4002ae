"""smtp(8): the SMTP client delivering to the next MTA, as Postfix's smtp_connect.c does it.

A job (one destination, up to smtp_destination_recipient_limit recipients) waits for a free smtp
process (smtp_process_limit), looks up the destination's MX hosts (:mod:`mailsim.sim.dns`: cached
for the TTL, equal preferences shuffled, at most smtp_mx_address_limit addresses) and tries them
in order (RFC 5321 5.1):

* a host that is down costs smtp_connect_timeout, then ``connect to host[addr]:25: Connection
  timed out``; an address where nothing listens answers at once, ``Connection refused`` (4.4.1);
* a host that refuses to talk (a 4xx greeting or HELO reply; a 5xx greeting counts as 4xx with
  smtp_skip_5xx_greeting = yes) is skipped: ``host X refused to talk to me: <reply>``; a host
  that closes without a greeting: ``lost connection with X while receiving the initial server
  greeting`` (4.4.2). Neither counts against smtp_mx_session_limit;
* a session that got past EHLO counts; after smtp_mx_session_limit of them, or at the last
  address, the host is the *final* one. Its replies decide: 2xx sent, 5xx bounced, 4xx deferred
  (``host X said: <reply> (in reply to RCPT TO command)``, MAIL FROM, end of DATA). At a host that
  is not final a 4xx only skips the recipients, which go on to the next host (smtp_trouble.c).

Recipients still left when the hosts run out are deferred with the last reason and relay=none
(smtp_sess_fail()). Such a failure of the destination itself (no usable host, a refusal at
connect or HELO, a temporary DNS failure) is reported to qmgr as ``site_failure``, negative
feedback for its concurrency window; a reply to MAIL, RCPT or DATA is not (smtp_site_fail()
throttles the destination, smtp_mesg_fail() and smtp_rcpt_fail() do not).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from mailsim.policy import SMTPReply
from mailsim.sim.dns import RESOLVER_TIMEOUT_S, MXAnswer, MXHost, MXResolver
from mailsim.sim.faults import SessionRefusal
from mailsim.sim.records import DeliveryJob, SessionResult, SMTPTransaction
from mailsim.sim.stage import Gate

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["KERNEL_CONNECT_TIMEOUT_S", "SMTPDelivery"]

#: how long connect() waits when smtp_connect_timeout = 0 (no timeout of Postfix's own): Linux
#: gives up after tcp_syn_retries = 6 retransmissions, 127 s
KERNEL_CONNECT_TIMEOUT_S = 127.0
_IN_REPLY_TO = {
    "mail": "MAIL FROM command",
    "rcpt": "RCPT TO command",
    "data": "end of DATA command",
}


class SMTPDelivery:
    """smtp(8): MX lookup, then sessions on the MX hosts in order until every recipient is done."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self.env = node.env
        sim = node.sim
        settings = node.host.postfix
        self._overhead = node.sampler("smtp")
        self._dns_time = sim.streams.sampler(f"sim/{node.name}/dns", sim.scenario.dns.lookup_time)
        self.connect_timeout = settings.seconds("smtp_connect_timeout") or KERNEL_CONNECT_TIMEOUT_S
        self.session_limit = settings.integer("smtp_mx_session_limit")
        self.skip_5xx_greeting = settings.boolean("smtp_skip_5xx_greeting")
        self.resolver = MXResolver(
            sim.resolver,
            sim.streams.generator(f"dns/{node.name}"),
            node.address,
            address_limit=settings.integer("smtp_mx_address_limit"),
            randomize=settings.boolean("smtp_randomize_addresses"),
            defer_no_address=settings.boolean("smtp_defer_if_no_mx_address_found"),
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

    def _lookup(self, job: DeliveryJob) -> Generator[simpy.Event, Any, MXAnswer]:
        """Return the MX answer for the job's nexthop: cached, or a query that costs time."""
        env = self.env
        answer = self.resolver.cached(job.nexthop, env._now)
        if answer is not None:
            return answer
        answer = self.resolver.resolve(job.nexthop, env._now)
        yield env.timeout(RESOLVER_TIMEOUT_S if answer.timed_out else next(self._dns_time))
        qf = job.queue_file
        hosts = " ".join(host.label for host in answer.hosts)
        event = "dns_fail" if answer.error else "dns_query"
        detail = f"MX {job.nexthop}: {answer.error or hosts}"
        self.node.emit("dns", event, qf.msg, qf.qid, dsn=answer.dsn, detail=detail)
        return answer

    def _deliver(self, job: DeliveryJob) -> Generator[simpy.Event, Any, None]:
        env = self.env
        yield env.timeout(next(self._overhead))
        answer = yield from self._lookup(job)
        hosts, error, dsn = self.resolver.route(answer)
        if error:
            reply = SMTPReply(450 if dsn.startswith("4") else 550, dsn, error)
            self._fail_all(job, job.recipients, reply, "none")
            self._done(job, reply if reply.temporary else None)
            return
        pending = list(job.recipients)
        sessions = 0
        site_failure: SMTPReply | None = None
        last = SMTPReply(450, "4.3.0", "server unavailable or unable to receive mail")
        for index, host in enumerate(hosts):
            final = index == len(hosts) - 1
            established, why = yield from self._session(job, host, pending, final, sessions)
            sessions += established
            if why is not None:
                last = why
                if not established and not pending and why.temporary:
                    site_failure = why  # the final host refused to talk
            if not pending:
                break
        if pending:  # left over after the last host: smtp_sess_fail(), relay=none
            self._fail_all(job, pending, last, "none")
            site_failure = last if last.temporary else None
        self._done(job, site_failure)

    def _session(
        self, job: DeliveryJob, host: MXHost, pending: list[str], final: bool, sessions: int
    ) -> Generator[simpy.Event, Any, tuple[bool, SMTPReply | None]]:
        """Try one host; return (whether a session got past EHLO, the reason to remember).

        Without a session the reason is the failure (and a final host fails ``pending``);
        with one it is the last 4xx that left recipients in ``pending`` for the next host.
        """
        node = self.node
        env = self.env
        sim = node.sim
        latency = sim.network.latency(node.name, host.exchange)
        target = sim.mta_at(host.address)
        if target is None:
            yield env.timeout(2 * latency)
            return False, self._connect_failed(job, host, "Connection refused")
        if target.faults is not None and target.faults.down(env._now):
            yield env.timeout(self.connect_timeout)
            return False, self._connect_failed(job, host, "Connection timed out")
        yield env.timeout(latency)
        job.connected_at = env._now
        replied = env.event()
        qf = job.queue_file
        target.receive(
            SMTPTransaction(
                qf.msg,
                qf.sender,
                tuple(pending),
                qf.size,
                node.name,
                node.address,
                on_reply=replied.succeed,
                headers=qf.headers,
            )
        )
        result: SessionResult = yield replied
        yield env.timeout(latency)
        relay = f"{host.label}:25"
        if isinstance(result, SessionRefusal) and result.stage in ("connect", "helo"):
            reply = self._handshake_reply(host, result)
            if reply.temporary and not final:
                self._skip(job, reply, relay, "connect_fail")
            else:
                self._fail_all(job, pending, reply, relay)
                pending.clear()
            return False, reply
        final = final or sessions + 1 == self.session_limit
        return True, self._outcomes(job, host, result, pending, final, relay)

    def _outcomes(
        self,
        job: DeliveryJob,
        host: MXHost,
        result: SessionResult,
        pending: list[str],
        final: bool,
        relay: str,
    ) -> SMTPReply | None:
        """Log each recipient's outcome of a session; keep in ``pending`` those a 4xx at a host
        that is not final leaves for the next one. Return the last such 4xx, or None."""
        node = self.node
        stage = result.stage if isinstance(result, SessionRefusal) else "rcpt"
        refusal = result.reply if isinstance(result, SessionRefusal) else None
        if stage == "mail" and refusal is not None:
            replies = dict.fromkeys(pending, refusal)
        else:
            replies = result.replies
        kept: list[str] = []
        skipped_message = False
        last: SMTPReply | None = None
        for rcpt in pending:
            reply = replies[rcpt]
            if reply.ok:
                node.emit_outcome(job, "smtp", "sent", rcpt, reply, relay, str(reply))
                continue
            whole = refusal is not None and reply is refusal  # MAIL or DATA: the message
            said = _said(host, reply, stage if whole else "rcpt")
            if reply.temporary and not final:
                kept.append(rcpt)
                last = SMTPReply(reply.code, reply.dsn, said)
                if not whole:
                    self._skip(job, last, relay, "skipped", rcpt)
                elif not skipped_message:  # one informational line for the whole message
                    self._skip(job, last, relay, "skipped")
                    skipped_message = True
            else:
                event = "deferred" if reply.temporary else "bounced"
                node.emit_outcome(job, "smtp", event, rcpt, reply, relay, said)
                if reply.temporary:
                    job.queue_file.defer(rcpt)
        pending[:] = kept
        return last

    def _handshake_reply(self, host: MXHost, refusal: SessionRefusal) -> SMTPReply:
        """Return how smtp_helo() reports a refused greeting or HELO (smtp_proto.c)."""
        reply = refusal.reply
        if reply is None:
            text = f"lost connection with {host.label} while receiving the initial server greeting"
            return SMTPReply(450, "4.4.2", text)
        dsn = reply.dsn
        if refusal.stage == "connect" and reply.permanent and self.skip_5xx_greeting:
            dsn = "4" + dsn[1:]
        text = f"host {host.label} refused to talk to me: {reply}"
        return SMTPReply(550 if dsn[0] == "5" else 450, dsn, text)

    def _connect_failed(self, job: DeliveryJob, host: MXHost, why: str) -> SMTPReply:
        reply = SMTPReply(450, "4.4.1", f"connect to {host.label}:25: {why}")
        self._skip(job, reply, f"{host.label}:25", "connect_fail")
        return reply

    def _skip(
        self, job: DeliveryJob, reply: SMTPReply, relay: str, event: str, rcpt: str = ""
    ) -> None:
        """Log Postfix's informational line for a host it leaves behind."""
        qf = job.queue_file
        self.node.emit(
            "smtp", event, qf.msg, qf.qid, qf.sender, rcpt, qf.size, reply.dsn, relay, reply.text
        )

    def _fail_all(
        self, job: DeliveryJob, recipients: list[str], reply: SMTPReply, relay: str
    ) -> None:
        """Defer or bounce every recipient with one reason (smtp_bulk_fail())."""
        node = self.node
        job.connected_at = self.env._now
        event = "deferred" if reply.temporary else "bounced"
        for rcpt in recipients:
            node.emit_outcome(job, "smtp", event, rcpt, reply, relay, reply.text)
            if reply.temporary:
                job.queue_file.defer(rcpt)

    def _done(self, job: DeliveryJob, site_failure: SMTPReply | None) -> None:
        """Free the process and report to qmgr; a site failure carries its reason and DSN."""
        self.processes.release()
        if site_failure is None:
            self.node.qmgr.delivered(job)
        else:
            self.node.qmgr.delivered(job, site_failure.text, site_failure.dsn)


def _said(host: MXHost, reply: SMTPReply, stage: str) -> str:
    """Postfix's text for a server's negative reply to a command (smtp_proto.c)."""
    return f"host {host.label} said: {reply} (in reply to {_IN_REPLY_TO[stage]})"
