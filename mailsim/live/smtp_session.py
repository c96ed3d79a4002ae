"""The smtpd session engine on aiosmtpd: command loop, line limits, deadlines, error counting.

:class:`SMTPSession` is aiosmtpd's ``SMTP`` protocol with its command loop replaced; the
commands themselves are in :class:`~mailsim.live.smtp.MailsimSMTP`. The loop differs from
aiosmtpd's where Postfix's smtpd_proto() does:

* the greeting is the policy's smtpd_banner; sessions first pass the listener's
  :class:`~mailsim.live.smtp_settings.ConnectionGate` (smtpd_process_limit: wait, not greeted;
  smtpd_client_connection_count_limit: ``421 4.7.0 ... too many connections``);
* commands are taken one line at a time from whatever the client sent, so a PIPELINING
  group (RFC 2920) is answered reply by reply, in order;
* a command line may end in a bare LF (smtpd_forbid_bare_newline = normalize) and holds at
  most 512 octets, more for MAIL with parameters (RFC 5321 4.5.3.1.4); longer lines are
  skipped whole and answered ``500 5.5.2``;
* every complete line restarts the smtpd_timeout deadline, so a client that trickles bytes is
  cut off like an idle one (smtpd_per_record_deadline); the deadline sends ``421 4.4.2 ...
  timeout exceeded`` before closing (aiosmtpd closes silently);
* every 4xx/5xx reply counts towards smtpd_hard_error_limit (``421 4.7.0 ... too many
  errors``); an unknown command is ``502 5.5.2``; a mail header or an HTTP verb sent as a
  command ends the session (smtpd_forbidden_commands); where TLS is required only EHLO, HELO,
  STARTTLS, NOOP and QUIT are allowed before it (``530 5.7.0``);
* an unexpected error is logged and answered ``451 4.3.0``; the session goes on.

STARTTLS stays aiosmtpd's: after the handshake it discards whatever plaintext the client sent
behind the STARTTLS command (RFC 3207 section 4.2; STARTTLS changes the session's state, so
like the commands of RFC 2920 section 3.1 it must end a pipelined group). That is aiosmtpd
1.4.6's fix for STARTTLS command injection, which ``tests/test_smtp_security.py`` holds it to.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from base64 import b64encode
from typing import TYPE_CHECKING, Any, cast

from aiosmtpd.smtp import SMTP, Session, TLSSetupException

from mailsim.live.smtp_auth import SASLFailure
from mailsim.live.smtp_reply import (
    R220_READY_FOR_TLS,
    R221_GOODBYE_FORBIDDEN,
    R451_INTERNAL_ERROR,
    R500_BAD_SYNTAX,
    R500_LINE_TOO_LONG,
)
from mailsim.live.smtp_settings import ConnectionGate, SMTPDSettings
from mailsim.policy.reply import (
    R502_UNKNOWN_COMMAND,
    R530_STARTTLS_FIRST,
    SMTPReply,
    timeout,
    too_many_errors,
)

if TYPE_CHECKING:
    from mailsim.live.smtp_handler import PolicyHandler
    from mailsim.live.smtp_trace import TransactionTrace

__all__ = ["COMMANDS", "COMMAND_LINE_LIMIT", "MAIL_LINE_LIMIT", "MailSession", "SMTPSession"]

log = logging.getLogger(__name__)

#: The commands smtpd knows (smtpd.c smtpd_cmd_table; no XCLIENT/XFORWARD, no HELP).
COMMANDS = frozenset(
    {"HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "VRFY"}
    | {"ETRN", "QUIT"}
)
#: SMTPD_CMD_FLAG_PRE_TLS: allowed before STARTTLS where TLS is required.
PRE_TLS = frozenset({"HELO", "EHLO", "STARTTLS", "NOOP", "QUIT"})
#: smtpd_forbidden_commands: CONNECT GET POST regexp:{{/^[^A-Z]/ Thrash}}, and mail headers.
FORBIDDEN = frozenset({"CONNECT", "GET", "POST"})
_HEADER_NAME = re.compile(r"[!-9;-~]+:\Z")
#: ``<dot-atom@dot-atom>`` and what follows: the path almost every client sends (RFC 5321
#: 4.1.2 Mailbox without quoting, source routes, literals or comments)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*([^ \t(].*)?\Z", re.S
)

#: RFC 5321 4.5.3.1.4: a command line holds 512 octets including CRLF ...
COMMAND_LINE_LIMIT = 512
#: ... plus what the MAIL parameters we offer may add: SIZE= (RFC 1870 section 6), BODY=
#: (RFC 6152), SMTPUTF8 (RFC 6531 section 3.4) and AUTH= (RFC 4954 section 5).
MAIL_LINE_LIMIT = COMMAND_LINE_LIMIT + 26 + 14 + 10 + 500
#: RFC 4954 section 4: a SASL response line may be 12288 octets long.
SASL_LINE_LIMIT = 12288

#: Texts aiosmtpd hard-codes in the methods we reuse, mapped to Postfix's.
_AIOSMTPD_TEXTS: dict[str, SMTPReply] = {
    "220 Ready to start TLS": R220_READY_FOR_TLS,
    "501 Syntax: RSET": SMTPReply(501, "5.5.4", "Syntax: RSET"),
}


def hook_names(cls: type, prefixes: tuple[str, ...]) -> list[str]:
    """The names on ``cls`` starting with one of ``prefixes`` (cached per class)."""
    key = (cls, prefixes)
    names = _HOOK_NAMES.get(key)
    if names is None:
        names = _HOOK_NAMES[key] = sorted(name for name in dir(cls) if name.startswith(prefixes))
    return list(names)


_HOOK_NAMES: dict[tuple[type, tuple[str, ...]], list[str]] = {}


class MailSession(Session):
    """aiosmtpd's session plus the SASL user name once AUTH succeeded (permit_sasl_authenticated).

    STARTTLS starts a new session object, so HELO and AUTH are forgotten, as RFC 3207 4.2
    requires and smtpd does."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.sasl_username = ""


class SMTPSession(SMTP):
    """One smtpd connection: the loop and its limits (see the module docstring)."""

    #: The StreamReader's buffer: the longest line read in one piece (SASL responses).
    line_length_limit = SASL_LINE_LIMIT + 2

    def __dir__(self) -> list[str]:
        """Only the command and AUTH methods: aiosmtpd builds its dispatch tables per
        connection from ``dir()`` and ``inspect.getmembers()``, which evaluate every attribute
        (properties included); listing what it looks for keeps a connection's set-up cheap."""
        return hook_names(type(self), ("smtp_", "auth_"))

    def __init__(
        self,
        handler: PolicyHandler,
        settings: SMTPDSettings,
        gate: ConnectionGate,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            handler,
            data_size_limit=None,
            enable_SMTPUTF8=settings.smtputf8,
            hostname=settings.hostname,
            tls_context=None if settings.service.wrapper_mode else tls_context,
            timeout=settings.timeout_s,
            auth_require_tls=False,
        )
        self.handler = handler
        self.settings = settings
        self.gate = gate
        self.error_count = 0
        self.client_address = ""
        self.client_port = 0
        #: the event log's view (mailsim.live.smtp_trace): when the next transaction's
        #: connection began (None: at its MAIL), and the open transaction's rows
        self.trace_since: float | None = None
        self.trace: TransactionTrace | None = None
        #: when smtpd_timeout runs out (loop time), see _reset_timeout
        self._deadline = 0.0

    # -- state the handler reads ------------------------------------------------------------
    @property
    def mail_session(self) -> MailSession:
        """The current session (a new one after STARTTLS)."""
        # no assert: aiosmtpd's __init__ reads every attribute (inspect.getmembers)
        return cast(MailSession, self.session)

    @property
    def tls_info(self) -> tuple[str, str, int] | None:
        """(TLS version, cipher, secret bits) of the connection, None before TLS."""
        if self.transport is None:
            return None
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        name, version, bits = ssl_object.cipher()
        return (str(ssl_object.version() or version), str(name), int(bits))

    @property
    def tls_active(self) -> bool:
        """Whether the connection is encrypted (after STARTTLS, or on the smtps port)."""
        return self.tls_info is not None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's path parser (email's RFC 5322 header parser: quoting, source routes,
        comments), with a fast path for the plain ``<local@domain> PARAMS`` clients send: the
        same answer in a tenth of the time (a property test compares the two)."""
        plain = _PLAIN_PATH.match(arg)
        if plain is not None and not self.local_part_limit:
            return plain.group(1), plain.group(2) or ""
        address, rest = super()._getaddr(arg)
        return address, rest

    def _create_session(self) -> MailSession:
        return MailSession(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register with the listener (again after STARTTLS, which a set ignores)."""
        super().connection_made(transport)
        self.gate.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.gate.sessions.discard(self)
        self.handler.session_closed(self)
        super().connection_lost(error)

    # -- replies and deadlines ------------------------------------------------------------------
    async def push(self, status: Any) -> None:
        """Send one reply line; every 4xx/5xx reply but 421 counts towards
        smtpd_hard_error_limit, as smtpd counts failed commands."""
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        known = _AIOSMTPD_TEXTS.get(text)
        if known is not None:
            status = text = str(known)
        if text[:1] in ("4", "5") and not text.startswith("421"):
            self.error_count += 1
        await super().push(status)

    async def reply(self, reply: SMTPReply) -> None:
        """Send ``reply``."""
        await self.push(str(reply))

    def close(self) -> None:
        """Close the connection; the session task ends with it."""
        if self.transport is not None:
            self.transport.close()

    def _timeout_cb(self) -> None:
        """smtpd_timeout passed without a complete line: say so, as smtpd does, and close."""
        if self.transport is not None and not self.transport.is_closing():
            self._writer.write(f"{timeout(self.hostname)}\r\n".encode())
        log.info("%s: timeout after smtpd_timeout", self.client_address)
        self.close()

    def stop_deadline(self) -> None:
        """Suspend smtpd_timeout (while the server, not the client, is busy)."""
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Restart the smtpd_timeout deadline (for every line read). Only the deadline moves:
        a timer already armed to fire before it stays, and re-arms itself for the rest when
        it fires (aiosmtpd's cancel and call_later cost a timer object per line)."""
        now = self.loop.time()
        self._deadline = now + (duration or self._timeout_duration)
        handle = self._timeout_handle
        if handle is not None and not handle.cancelled() and now < handle.when() <= self._deadline:
            return
        if handle is not None:
            handle.cancel()
        self._timeout_handle = self.loop.call_at(self._deadline, self._check_deadline)

    def extend_deadline(self) -> None:
        """Move the smtpd_timeout deadline after a line was read, the cheap way when a timer is
        armed (it re-arms itself for the rest when it fires)."""
        handle = self._timeout_handle
        if handle is None or handle.cancelled():
            self._reset_timeout()
        else:
            self._deadline = self.loop.time() + self._timeout_duration

    def _check_deadline(self) -> None:
        """The timer fired: time out if the deadline has come, else wait for the rest of it."""
        if self.loop.time() < self._deadline:
            self._timeout_handle = self.loop.call_at(self._deadline, self._check_deadline)
        else:
            self._timeout_cb()

    # -- reading ---------------------------------------------------------------------------------
    async def read_chunk(self) -> bytes:
        """Return the next line up to and including LF, or a piece of a line too long for
        the buffer; every complete read restarts the smtpd_timeout deadline."""
        try:
            chunk: bytes = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as error:
            chunk = await self._reader.readexactly(error.consumed)
        self._reset_timeout()
        return chunk

    async def read_line(self) -> bytes | None:
        """Return one line without its line end, or None (having skipped the rest of it)
        when it does not fit the buffer."""
        chunk = await self.read_chunk()
        if chunk.endswith(b"\n"):
            return chunk[:-2] if chunk.endswith(b"\r\n") else chunk[:-1]
        while not chunk.endswith(b"\n"):
            chunk = await self.read_chunk()
        return None

    async def challenge(self, data: bytes) -> str:
        """Send a ``334`` SASL challenge and return the answer (smtp_auth.SASLChannel)."""
        await self.push(b"334 " + b64encode(data))
        line = await self.read_line()
        if line is None:
            raise SASLFailure(R500_LINE_TOO_LONG)
        return line.decode("ascii", "replace").strip()

    # -- the loop ------------------------------------------------------------------------------
    async def _handle_client(self) -> None:
        assert self.session is not None and self.transport is not None
        peer = self.transport.get_extra_info("peername")
        self.client_address, self.client_port = str(peer[0]), int(peer[1])
        self.stop_deadline()  # no smtpd process has the connection yet
        async with self.gate.slot():
            self._reset_timeout()
            try:
                if self.gate.connect(self.client_address):
                    await self._converse()
                else:
                    await self.reply(self.handler.refuse_connection(self))
                    self.close()
            finally:
                self.gate.disconnect(self.client_address)

    async def _converse(self) -> None:
        await self.reply(self.handler.greeting(self))
        while self.transport is not None:
            if self.error_count >= self.settings.hard_error_limit:
                await self.reply(too_many_errors(self.hostname))
                self.close()
                return
            try:
                line = await self.read_line()
                if line is None:
                    await self.reply(R500_LINE_TOO_LONG)
                    continue
                await self._dispatch(line)
            except TLSSetupException as error:
                log.info("%s: TLS handshake failed: %r", self.client_address, error.__cause__)
                self.close()
                self.connection_lost(error)
                return
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                return
            except Exception:
                log.exception("%s: smtpd session error", self.client_address)
                await self.reply(R451_INTERNAL_ERROR)

    async def _dispatch(self, line: bytes) -> None:
        verb_bytes, _, arg_bytes = line.partition(b" ")
        verb = verb_bytes.decode("ascii", "replace").upper()
        if not verb:
            await self.reply(R500_BAD_SYNTAX)
            return
        if verb in FORBIDDEN or not ("A" <= verb[0] <= "Z") or _HEADER_NAME.match(verb):
            log.warning("%s: non-SMTP command: %.100r", self.client_address, line)
            await self.reply(R221_GOODBYE_FORBIDDEN)
            self.close()
            return
        if len(line) + 2 > (MAIL_LINE_LIMIT if verb == "MAIL" else COMMAND_LINE_LIMIT):
            await self.reply(R500_LINE_TOO_LONG)
        elif verb not in COMMANDS:
            await self.reply(R502_UNKNOWN_COMMAND)
        elif self.settings.service.tls_required and not self.tls_active and verb not in PRE_TLS:
            await self.reply(R530_STARTTLS_FIRST)
        else:
            arg = arg_bytes.strip().decode("utf-8", "surrogateescape")
            await getattr(self, f"smtp_{verb}")(arg)

    async def hook(self, command: str, *args: Any) -> str:
        """Ask the handler (the policy) and return its reply line."""
        status: str = await self._call_handler_hook(command, *args)
        return status
