"""The live smtpd's decisions: aiosmtpd handler hooks that ask :class:`HostPolicy`.

:class:`~mailsim.live.smtp.MailsimSMTP` parses and sequences the protocol; every question
whose answer Postfix takes from main.cf goes through a ``handle_*`` hook here, which turns the
session into a :class:`~mailsim.policy.ClientSession` and asks the policy, so a live node
accepts, rejects and words its replies exactly as a simulated one. Accepted mail goes to the
:class:`~mailsim.live.spool.Spool` and the 250 is sent only after it is on disk.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailsim.live.events import LiveEventLog
from mailsim.live.passdb import PassDB
from mailsim.live.smtp_auth import SASLFailure, authenticate, mechanisms
from mailsim.live.smtp_data import ReceivedInfo, mail_date, received_header, separate_body
from mailsim.live.smtp_reply import (
    R250_QUEUING_STARTED,
    R500_LINE_TOO_LONG,
    etrn_denied,
    relay_unavailable,
    too_many_connections,
    vrfy_result,
)
from mailsim.live.smtp_session import hook_names
from mailsim.live.smtp_trace import TransactionTrace
from mailsim.live.spool import Spool, new_queue_id
from mailsim.policy.host import HostPolicy
from mailsim.policy.reply import (
    R221_BYE,
    R235_AUTH_OK,
    R250_OK,
    R451_QUEUE_WRITE_ERROR,
    R452_TOO_MANY_RECIPIENTS,
    SMTPReply,
    queued,
)
from mailsim.policy.session import ClientSession

if TYPE_CHECKING:
    from mailsim.live.smtp import MailEnvelope, MailsimSMTP
    from mailsim.live.smtp_session import MailSession as Session
    from mailsim.live.smtp_session import SMTPSession

__all__ = ["PolicyHandler"]

log = logging.getLogger(__name__)


class PolicyHandler:
    """The aiosmtpd handler of one live host: policy decisions and durable acceptance.

    The node cannot pass mail on yet (the queue and smtp client come with a later issue): a
    recipient the restrictions would relay is deferred at RCPT with
    :func:`~mailsim.live.smtp_reply.relay_unavailable` rather than accepted and lost.
    """

    def __init__(
        self,
        policy: HostPolicy,
        spool: Spool,
        passdb: PassDB,
        events: LiveEventLog | None = None,
    ) -> None:
        self.policy = policy
        self.spool = spool
        self.passdb = passdb
        #: where sessions report what they did (mailsim.live.smtp_trace); None: nowhere
        self.events = events
        self.mechanisms = mechanisms(passdb)
        self.mail_name = policy.settings.value("mail_name")

    def __dir__(self) -> list[str]:
        """Only the hooks (aiosmtpd lists a handler's members per connection)."""
        return hook_names(type(self), ("handle_", "auth_"))

    def client(self, server: SMTPSession) -> ClientSession:
        """Return what the restrictions know about the session's client."""
        session = server.mail_session
        return ClientSession(
            address=server.client_address,
            helo=session.host_name or "",
            sasl_username=session.sasl_username,
            tls=server.tls_active,
        )

    # -- connection ----------------------------------------------------------------------------
    def greeting(self, server: SMTPSession) -> SMTPReply:
        """Return the ``220`` banner (smtpd_banner); the session's first transaction is
        logged as connected from now."""
        if self.events is not None:
            server.trace_since = self.events.now()
        return self.policy.check_connect(self.client(server))

    def session_closed(self, server: SMTPSession) -> None:
        """The connection is gone: log what its unfinished transaction was refused."""
        self._end_trace(server)

    def _begin_trace(self, server: SMTPSession, sender: str, size: int | None) -> None:
        """A MAIL command starts a transaction (its trace ends the previous one's)."""
        self._end_trace(server)
        if self.events is None:
            return
        since = server.trace_since
        server.trace_since = None
        server.trace = TransactionTrace(
            self.events,
            self.policy.hostname,
            server.client_address,
            self.events.now() if since is None else since,
            sender=sender,
            size=size or 0,
            announced=self.events.announced((server.client_address, server.client_port)),
        )

    def _end_trace(self, server: SMTPSession, refusal: SMTPReply | None = None) -> None:
        trace, server.trace = server.trace, None
        if trace is not None:
            if refusal is None:
                trace.abandon()
            else:
                trace.refused(refusal)

    def refuse_connection(self, server: SMTPSession) -> SMTPReply:
        """Return the greeting past smtpd_client_connection_count_limit."""
        return too_many_connections(self.policy.hostname, server.client_address)

    async def handle_HELO(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope, hostname: str
    ) -> str:
        session.host_name = hostname
        return f"250 {self.policy.hostname}"

    async def handle_EHLO(
        self,
        server: MailsimSMTP,
        session: Session,
        envelope: MailEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Return Postfix's EHLO keywords (RFC 5321 4.1.1.1) for this session."""
        session.host_name = hostname
        settings = server.settings
        size = settings.message_size_limit
        keywords = [self.policy.hostname, "PIPELINING", f"SIZE {size}" if size else "SIZE"]
        if not settings.disable_vrfy:
            keywords.append("VRFY")
        keywords.append("ETRN")
        if server.tls_context is not None and not server.tls_active:
            keywords.append("STARTTLS")
        if settings.sasl and self.mechanisms and (server.tls_active or not settings.tls_auth_only):
            keywords.append("AUTH " + " ".join(self.mechanisms))
            if settings.broken_sasl_auth_clients:
                keywords.append("AUTH=" + " ".join(self.mechanisms))
        keywords += ["ENHANCEDSTATUSCODES", "8BITMIME"]
        if settings.smtputf8:
            keywords.append("SMTPUTF8")
        return [f"250-{word}" for word in keywords[:-1]] + [f"250 {keywords[-1]}"]

    async def handle_NOOP(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope, arg: str | None
    ) -> str:
        return str(R250_OK)

    async def handle_RSET(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope
    ) -> str:
        self._end_trace(server)  # logged before the reply, so a client that saw it can look
        return str(R250_OK)

    async def handle_QUIT(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope
    ) -> str:
        self._end_trace(server)
        return str(R221_BYE)

    # -- AUTH (RFC 4954) -------------------------------------------------------------------------
    async def handle_AUTH(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope, args: list[str]
    ) -> str:
        """Run the SASL exchange against the host's passdb."""
        try:
            user = await authenticate(
                server,
                args[0],
                args[1] if len(args) > 1 else None,
                self.passdb,
                hostname=self.policy.hostname,
                cleartext_allowed=self.passdb.cleartext_allowed(
                    server.client_address, server.tls_active
                ),
            )
        except SASLFailure as failure:
            log.info("%s: SASL %s authentication failed", server.client_address, args[0])
            return str(failure.reply)
        session.authenticated = True
        session.sasl_username = user
        return str(R235_AUTH_OK)

    # -- the mail transaction ----------------------------------------------------------------
    async def handle_MAIL(
        self,
        server: MailsimSMTP,
        session: Session,
        envelope: MailEnvelope,
        sender: str,
        size: int | None,
        options: list[str],
    ) -> str:
        """smtpd_check_size() and the sender checks (policy.check_mail)."""
        reply = self.policy.check_mail(self.client(server), sender, size)
        self._begin_trace(server, sender, size)
        if not reply.ok:
            self._end_trace(server, reply)
        else:
            envelope.mail_from = sender
            envelope.mail_options = options
            envelope.declared_size = size
            envelope.smtp_utf8 = "SMTPUTF8" in options
        return str(reply)

    async def handle_RCPT(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope, recipient: str
    ) -> str:
        """smtpd_recipient_limit, then smtpd_check_rcpt() (policy.check_rcpt)."""
        limit = server.settings.recipient_limit
        if limit and len(envelope.rcpt_tos) >= limit:
            envelope.overshoot += 1
            return self._rcpt_refused(server, recipient, R452_TOO_MANY_RECIPIENTS)
        sender = envelope.mail_from or ""
        reply = self.policy.check_rcpt(self.client(server), sender, recipient)
        if reply.ok and self.policy.resolve(recipient).transport != "local":
            reply = relay_unavailable(recipient)
        if not reply.ok:
            return self._rcpt_refused(server, recipient, reply)
        envelope.rcpt_tos.append(recipient)
        envelope.queue_id = envelope.queue_id or new_queue_id()
        return str(reply)

    def _rcpt_refused(self, server: MailsimSMTP, recipient: str, reply: SMTPReply) -> str:
        if server.trace is not None:
            server.trace.rcpt_refused(recipient, reply)
        return str(reply)

    async def handle_DATA(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope
    ) -> str:
        """Check the size (policy.check_data), prepend Received:, store, then answer 250."""
        reply = self.policy.check_data(self.client(server), envelope.size)
        if reply.ok and envelope.line_too_long:
            reply = R500_LINE_TOO_LONG
        if not reply.ok:
            self._end_trace(server, reply)
            return str(reply)
        trace, server.trace = server.trace, None
        msg, trace_header = trace.add_trace_header(envelope.data) if trace else (0, b"")
        message = (
            self._received(server, session, envelope) + trace_header + separate_body(envelope.data)
        )
        t_complete = trace.events.now() if trace else 0.0
        sender = envelope.mail_from or ""
        delivery = asyncio.ensure_future(
            self.spool.deliver(envelope.queue_id, sender, list(envelope.rcpt_tos), message)
        )
        delivery.add_done_callback(_retrieve)
        try:
            # once the message is complete it is delivered even if the client goes away now
            report = await asyncio.shield(delivery)
        except OSError:
            log.exception("%s: cannot store %s", server.client_address, envelope.queue_id)
            if trace is not None:
                trace.refused(R451_QUEUE_WRITE_ERROR)
            return str(R451_QUEUE_WRITE_ERROR)
        for outcome in report.outcomes:
            log.info(
                "%s: to=<%s>, status=%s (%s)",
                report.queue_id,
                outcome.recipient,
                outcome.status,
                outcome.detail,
            )
        if trace is not None:
            trace.accepted(msg, report.queue_id, len(envelope.rcpt_tos), len(message), t_complete)
            trace.delivered(msg, report, len(message), t_complete)
        return str(queued(envelope.queue_id))

    def _received(self, server: MailsimSMTP, session: Session, envelope: MailEnvelope) -> bytes:
        now = datetime.now().astimezone()
        info = ReceivedInfo(
            helo=session.host_name or "",
            client_name="unknown",
            client_address=server.client_address,
            hostname=self.policy.hostname,
            mail_name=self.mail_name,
            protocol="ESMTP" if session.extended_smtp else "SMTP",
            queue_id=envelope.queue_id,
            recipients=tuple(envelope.rcpt_tos),
            date=mail_date(now),
            tls=server.tls_info,
            tls_details=server.settings.tls_received_header,
            authenticated=bool(session.sasl_username),
        )
        return received_header(info)

    # -- VRFY and ETRN ---------------------------------------------------------------------------
    async def handle_VRFY(
        self,
        server: MailsimSMTP,
        session: Session,
        envelope: MailEnvelope,
        address: str,
        as_written: str,
    ) -> str:
        """vrfy_cmd(): the recipient checks decide; an accepted address gets ``252``."""
        reply = self.policy.check_rcpt(self.client(server), "", address)
        return str(reply if not reply.ok else vrfy_result(as_written))

    async def handle_ETRN(
        self, server: MailsimSMTP, session: Session, envelope: MailEnvelope, domain: str
    ) -> str:
        """fast_flush_domains (= $relay_domains): a queue run for a domain listed there."""
        if self.policy.rewrite.is_relay_domain(domain.strip("[]")):
            return str(R250_QUEUING_STARTED)
        return str(etrn_denied(domain))


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Fetch a shielded delivery's exception, so one whose client left is not reported as
    never retrieved (the session that awaited it logged it, if it was still there)."""
    if not task.cancelled():
        task.exception()
