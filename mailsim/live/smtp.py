"""smtpd(8) on aiosmtpd: the SMTP commands of a live node, decided by the shared policy.

A live host's SMTP service is :class:`MailsimSMTP`, one per connection: aiosmtpd's protocol
with the session engine of :mod:`mailsim.live.smtp_session` and the commands below, all of
whose decisions come from :class:`~mailsim.live.smtp_handler.PolicyHandler` (re-exported here),
which asks :class:`~mailsim.policy.HostPolicy`. :class:`~mailsim.live.smtp_server.SMTPServer`
opens the listeners. Kept from aiosmtpd: HELO, EHLO, NOOP and RSET (their answers come from
the handler's hooks), the STARTTLS handshake and its address parser. Overridden here, with
Postfix's replies and order of checks (smtpd.c, smtpd_sasl_proto.c):

* MAIL: no HELO needed (unless smtpd_helo_required), the null sender ``<>``, ``BODY=``
  (RFC 6152), ``SIZE=`` (RFC 1870), ``SMTPUTF8`` (RFC 6531), ``AUTH=`` (RFC 4954 section 5)
  and ``555 5.5.4 Unsupported option`` for the rest; submission wants AUTH first (RFC 4954
  section 6, ``530 5.7.0``);
* RCPT: smtpd_recipient_limit (``452 4.5.3``, counted as an error only past
  smtpd_recipient_overshoot_limit), then the restrictions;
* DATA (RFC 5321 4.1.1.4): read through :class:`~mailsim.live.smtp_data.DataReader`, which
  ends the data on CRLF.CRLF only (no SMTP smuggling) and keeps nothing of an oversized or
  malformed message; the deadline stops while the message is written to disk;
* AUTH (RFC 4954), STARTTLS (RFC 3207), VRFY (disable_vrfy_command), ETRN (RFC 1985), QUIT.
"""

from __future__ import annotations

import asyncio
from typing import cast

from aiosmtpd.smtp import Envelope

from mailsim.live.smtp_data import DataReader
from mailsim.live.smtp_handler import PolicyHandler
from mailsim.live.smtp_reply import (
    R500_ETRN_SYNTAX,
    R501_AUTH_SYNTAX,
    R501_BAD_SIZE,
    R501_DATA_SYNTAX,
    R501_ETRN_PARAMETER,
    R501_MAIL_SYNTAX,
    R501_RCPT_SYNTAX,
    R501_STARTTLS_SYNTAX,
    R501_VRFY_SYNTAX,
    R502_NOT_IMPLEMENTED,
    R502_VRFY_DISABLED,
    R503_ALREADY_AUTHENTICATED,
    R503_AUTH_NOT_ENABLED,
    R503_ETRN_IN_TRANSACTION,
    R503_IN_TRANSACTION,
    R503_SEND_HELO,
    R504_ENCRYPTION_REQUIRED,
    R530_AUTH_REQUIRED,
    R554_TLS_ACTIVE,
    unsupported_option,
)
from mailsim.live.smtp_session import SMTPSession
from mailsim.policy.address import valid_domain
from mailsim.policy.reply import (
    R354_START_DATA,
    R501_BAD_RECIPIENT_SYNTAX,
    R501_BAD_SENDER_SYNTAX,
    R503_NEED_MAIL,
    R503_NEED_RCPT,
    R503_NESTED_MAIL,
    R554_NO_VALID_RECIPIENTS,
    SMTPReply,
)

__all__ = ["MailEnvelope", "MailsimSMTP", "PolicyHandler"]


class MailEnvelope(Envelope):
    """aiosmtpd's envelope and what smtpd keeps with it: the queue id (given at the first
    accepted recipient, when cleanup(8) opens the queue file), MAIL's SIZE=, what DATA found
    and the RCPTs past smtpd_recipient_limit. ``mail_from`` is None outside a transaction and
    "" for the null sender."""

    def __init__(self) -> None:
        super().__init__()
        self.queue_id = ""
        self.declared_size: int | None = None
        self.size = 0
        self.too_big = False
        self.line_too_long = False
        self.overshoot = 0
        self.data = b""


class MailsimSMTP(SMTPSession):
    """One smtpd connection of a live node (see the module docstring)."""

    @property
    def mail_envelope(self) -> MailEnvelope:
        """The current transaction's envelope."""
        return cast(MailEnvelope, self.envelope)

    @property
    def in_transaction(self) -> bool:
        """Whether MAIL was accepted (the sender may be the null sender "")."""
        return self.envelope is not None and self.envelope.mail_from is not None

    def _create_envelope(self) -> MailEnvelope:
        return MailEnvelope()

    def _helo_missing(self) -> bool:
        return self.settings.helo_required and not self.mail_session.host_name

    async def smtp_QUIT(self, arg: str) -> None:
        """QUIT, whatever follows it ("Don't bother checking the syntax", smtpd.c)."""
        await super().smtp_QUIT("")

    async def smtp_STARTTLS(self, arg: str) -> None:
        """RFC 3207; aiosmtpd does the handshake and drops plaintext sent after STARTTLS."""
        if arg:
            await self.reply(R501_STARTTLS_SYNTAX)
        elif self.tls_active:
            await self.reply(R554_TLS_ACTIVE)
        elif self.tls_context is None:
            await self.reply(R502_NOT_IMPLEMENTED)
        else:
            await super().smtp_STARTTLS("")

    async def smtp_AUTH(self, arg: str) -> None:
        """RFC 4954 with smtpd_sasl_auth_cmd()'s order of checks; the exchange is the
        handler's (:mod:`mailsim.live.smtp_auth`)."""
        args = arg.split()
        if self._helo_missing():
            await self.reply(R503_SEND_HELO)
        elif not self.settings.sasl:
            await self.reply(R503_AUTH_NOT_ENABLED)
        elif self.in_transaction:
            await self.reply(R503_IN_TRANSACTION)
        elif self.settings.tls_auth_only and not self.tls_active:
            await self.reply(R504_ENCRYPTION_REQUIRED)
        elif self.mail_session.sasl_username:
            await self.reply(R503_ALREADY_AUTHENTICATED)
        elif not 1 <= len(args) <= 2:
            await self.reply(R501_AUTH_SYNTAX)
        else:
            await self.push(await self.hook("AUTH", args))

    async def smtp_MAIL(self, arg: str) -> None:
        """MAIL FROM:<sender> [BODY=7BIT|8BITMIME] [SIZE=n] [SMTPUTF8] [AUTH=...]."""
        path = arg[5:].strip() if arg[:5].upper() == "FROM:" else ""
        if self._helo_missing():
            await self.reply(R503_SEND_HELO)
        elif self.settings.service.auth_required and not self.mail_session.sasl_username:
            await self.reply(R530_AUTH_REQUIRED)
        elif self.in_transaction:
            await self.reply(R503_NESTED_MAIL)
        elif not path:
            await self.reply(R501_MAIL_SYNTAX)
        else:
            address, params = self._getaddr(path)
            problem, size = self._mail_parameters(params.split() if params else [])
            if address is None:
                await self.reply(R501_BAD_SENDER_SYNTAX)
            elif problem is not None:
                await self.reply(problem)
            else:
                sender = "" if address == "<>" else address
                options = params.upper().split() if params else []
                await self.push(await self.hook("MAIL", sender, size, options))

    def _mail_parameters(self, params: list[str]) -> tuple[SMTPReply | None, int | None]:
        """Check MAIL's ESMTP parameters; return (the problem or None, the SIZE= value)."""
        size = None
        for param in params:
            name, _, value = param.partition("=")
            name = name.upper()
            if name == "SIZE":
                if not value.isdigit():
                    return R501_BAD_SIZE, None
                size = int(value)
            elif not (
                (name == "BODY" and value.upper() in ("7BIT", "8BITMIME"))
                or (name == "SMTPUTF8" and not value and self.settings.smtputf8)
                or (name == "AUTH" and self.settings.sasl)
            ):
                return unsupported_option(param), None
        return None, size

    async def smtp_RCPT(self, arg: str) -> None:
        """RCPT TO:<recipient> (no parameters: DSN is not offered)."""
        path = arg[3:].strip() if arg[:3].upper() == "TO:" else ""
        envelope = self.mail_envelope
        if not self.in_transaction:
            await self.reply(R503_NEED_MAIL)
        elif not path:
            await self.reply(R501_RCPT_SYNTAX)
        else:
            address, params = self._getaddr(path)
            if not address or address == "<>":
                await self.reply(R501_BAD_RECIPIENT_SYNTAX)
            elif params and params.split():
                await self.reply(unsupported_option(params.split()[0]))
            else:
                before = envelope.overshoot
                await self.push(await self.hook("RCPT", address))
                # smtpd_recipient_overshoot_limit: only RCPTs past it count as errors
                if before < envelope.overshoot <= self.settings.recipient_overshoot_limit:
                    self.error_count -= 1

    async def smtp_DATA(self, arg: str) -> None:
        """RFC 5321 4.1.1.4, with the reading rules of :mod:`mailsim.live.smtp_data`."""
        envelope = self.mail_envelope
        if not envelope.rcpt_tos:
            await self.reply(R554_NO_VALID_RECIPIENTS if self.in_transaction else R503_NEED_RCPT)
            return
        if arg:
            await self.reply(R501_DATA_SYNTAX)
            return
        await self.reply(R354_START_DATA)
        reader = DataReader(self.settings.message_size_limit)
        readuntil, feed = self._reader.readuntil, reader.feed
        while True:  # read_chunk(), inlined: this loop runs once per line of every message
            try:
                chunk = await readuntil(b"\n")
            except asyncio.LimitOverrunError as error:
                chunk = await self._reader.readexactly(error.consumed)
            self.extend_deadline()
            if feed(chunk):
                break
        envelope.size, envelope.too_big = reader.size, reader.too_big
        envelope.line_too_long = reader.line_too_long
        envelope.data = reader.content
        self.stop_deadline()  # writing to disk is not waiting for the client
        try:
            status = await self.hook("DATA")
        finally:
            self._reset_timeout()
            self.envelope = self._create_envelope()
        await self.push(status)
        if status.startswith("250"):
            self.error_count = 0  # smtpd forgives earlier errors once a message got in

    async def smtp_VRFY(self, arg: str) -> None:
        """vrfy_cmd(): disable_vrfy_command, then the recipient checks, then ``252``."""
        address = self._getaddr(arg)[0] if arg else None
        if self.settings.disable_vrfy:
            await self.reply(R502_VRFY_DISABLED)
        elif not arg:
            await self.reply(R501_VRFY_SYNTAX)
        elif not address or address == "<>":
            await self.reply(R501_BAD_RECIPIENT_SYNTAX)
        else:
            await self.push(await self.hook("VRFY", address, arg))

    async def smtp_ETRN(self, arg: str) -> None:
        """etrn_cmd(): an RFC 1985 queue run for a domain (``@domain``, ``#queue`` accepted)."""
        words = arg.split()
        domain = words[0][1:] if words and words[0][:1] in ("@", "#") else "".join(words[:1])
        if self._helo_missing():
            await self.reply(R503_SEND_HELO)
        elif self.in_transaction:
            await self.reply(R503_ETRN_IN_TRANSACTION)
        elif len(words) != 1:
            await self.reply(R500_ETRN_SYNTAX)
        elif not valid_domain(domain.lower()):
            await self.reply(R501_ETRN_PARAMETER)
        else:
            await self.push(await self.hook("ETRN", domain))
