"""A sans-IO POP3 server core: bytes in, events out, replies out (RFC 1939, 2449, 2595, 5034).

Theory of operation. A :class:`POP3Connection` is the server side of one POP3 session and never
touches a socket or a clock. The driver sends the greeting (``send(Greeting(...))``), feeds what
the client sent to :meth:`~POP3Connection.receive_data` and asks :meth:`~POP3Connection.next_event`
what to do, until it says ``NEED_DATA`` (feed more) or ``PAUSED`` (answer first, or closed).

- A command the core answers from its own state (CAPA, USER, STAT, LIST, UIDL, DELE, RSET, NOOP,
  QUIT before login, the ``+`` of an AUTH exchange) comes out as :class:`Answered`: write its reply.
- A command that needs the outside world comes out as :class:`AuthRequested`, :class:`StartTLS`,
  :class:`Retrieve` (RETR, TOP) or :class:`Quit`; the core pauses until the driver answers with
  :meth:`~POP3Connection.send` (:class:`LoginAccepted`, :class:`TLSReady`, :class:`MessageContent`,
  :class:`Updated`, or a :class:`Failure`), which returns the reply bytes to write.
- The reply to a RETR, the first of that message in the session, is followed by a
  :class:`Retrieved` from the next ``next_event()`` (nothing to answer): the driver, having
  written the reply, logs the fetch.
- A line the core refuses (unknown command, wrong state, bad argument, overlong line, bad base64)
  raises :class:`RemoteProtocolError` carrying the ``-ERR`` reply; the session goes on as if the
  line had never been sent. Misuse by the driver raises :class:`LocalProtocolError`.

Commands are processed strictly in order, one at a time, so pipelined input (RFC 2449 section 6.6)
is answered in order. Deletions are only marks until QUIT: :class:`Quit` carries the keys to
remove in the UPDATE state (RFC 1939 section 6); a session that ends any other way removes
nothing. Texts are Dovecot's, as the lecture's telnet session shows them.
"""

from __future__ import annotations

import base64
import binascii
import enum

from mailsim.protocol.pop3_events import (
    ERR_AUTH_FAILED,
    ERR_IN_USE,
    ERR_SYS_TEMP,
    ERR_UPDATE_FAILED,
    NEED_DATA,
    PAUSED,
    R_IDLE_TIMEOUT,
    Answer,
    Answered,
    AuthRequested,
    Event,
    Failure,
    Greeting,
    LocalProtocolError,
    LoginAccepted,
    MessageContent,
    MessageInfo,
    POP3Error,
    Quit,
    RemoteProtocolError,
    Retrieve,
    Retrieved,
    StartTLS,
    TLSReady,
    Updated,
    Wait,
)

__all__ = [
    "ANSWERS", "ERR_AUTH_FAILED", "ERR_IN_USE", "ERR_SYS_TEMP", "ERR_UPDATE_FAILED",
    "MAX_COMMAND_LINE", "MAX_SASL_LINE", "NEED_DATA", "PAUSED", "R_IDLE_TIMEOUT", "TRANSITIONS",
    "Answer", "Answered", "AuthRequested", "Event", "Failure", "Greeting", "LocalProtocolError",
    "LoginAccepted", "MessageContent", "MessageInfo", "POP3Connection", "POP3Error", "POP3State",
    "Quit", "RemoteProtocolError", "Retrieve", "Retrieved", "StartTLS", "TLSReady", "Updated",
    "Wait",
]  # fmt: skip


class POP3State(enum.Enum):
    """RFC 1939 section 3: the states of a session, plus CLOSED once the last reply is out."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"


_A, _T, _U, _C = POP3State.AUTHORIZATION, POP3State.TRANSACTION, POP3State.UPDATE, POP3State.CLOSED

#: (state, client command or driver answer) -> next state. A command absent from its state is
#: refused there; an answer absent is a driver bug. RFC 1939 sections 4-7 (USER, PASS, QUIT, STAT,
#: LIST, RETR, DELE, NOOP, RSET, TOP, UIDL), RFC 2449 section 5 (CAPA), RFC 2595 section 4 (STLS,
#: AUTHORIZATION only), RFC 5034 section 4 (AUTH, AUTHORIZATION only).
TRANSITIONS: dict[tuple[POP3State, str], POP3State] = {
    (_A, "CAPA"): _A, (_A, "USER"): _A, (_A, "PASS"): _A, (_A, "AUTH"): _A, (_A, "STLS"): _A,
    (_A, "QUIT"): _C,
    (_A, "LoginAccepted"): _T, (_A, "TLSReady"): _A, (_A, "Failure"): _A,
    (_T, "CAPA"): _T, (_T, "STAT"): _T, (_T, "LIST"): _T, (_T, "UIDL"): _T, (_T, "NOOP"): _T,
    (_T, "RETR"): _T, (_T, "TOP"): _T, (_T, "DELE"): _T, (_T, "RSET"): _T,
    (_T, "QUIT"): _U,
    (_T, "MessageContent"): _T, (_T, "Failure"): _T,
    (_U, "Updated"): _C, (_U, "Failure"): _C,
}  # fmt: skip

#: RFC 2449 section 4: a command line is at most 255 octets including the CRLF.
MAX_COMMAND_LINE = 255
#: An AUTH client response (RFC 5034 section 4) is a line of base64, not a command: the 255-octet
#: bound does not fit it; this one holds any sane PLAIN message.
MAX_SASL_LINE = 4096


#: The answers :meth:`POP3Connection.send` takes for each pending event.
ANSWERS: dict[type, tuple[type, ...]] = {
    AuthRequested: (LoginAccepted, Failure),
    StartTLS: (TLSReady, Failure),
    Retrieve: (MessageContent, Failure),
    Quit: (Updated, Failure),
}
_PLAINTEXT_REFUSED = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."


def _ok(text: str = "") -> bytes:
    return (f"+OK {text}" if text else "+OK").encode() + b"\r\n"


def _err(text: str, code: str = "") -> bytes:
    return (f"-ERR [{code}] {text}" if code else f"-ERR {text}").encode() + b"\r\n"


def _refuse(text: str, code: str = "") -> RemoteProtocolError:
    return RemoteProtocolError(_err(text, code))


def _printable(text: str) -> str:
    """Client text echoed in a reply, with control characters made harmless."""
    return "".join(c if c.isprintable() else "?" for c in text[:64])


def _lines(data: bytes) -> list[bytes]:
    """Split a message into lines without terminators (CRLF or bare LF)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line.removesuffix(b"\r") for line in lines]


def _multiline(lines: list[bytes]) -> bytes:
    """RFC 1939 section 3: CRLF line ends, a '.' doubled at the start of a line, end '.' CRLF."""
    out = bytearray()
    for line in lines:
        out += (b"." + line if line.startswith(b".") else line) + b"\r\n"
    return bytes(out + b".\r\n")


def _top(lines: list[bytes], count: int) -> list[bytes]:
    """RFC 1939 section 7 TOP: the header, the blank line after it, then ``count`` body lines."""
    if b"" not in lines:
        return lines
    return lines[: lines.index(b"") + 1 + count]


def _number(args: str, what: str, then_space: bool) -> tuple[int, str]:
    """Parse a leading number the way Dovecot does (pop3-commands.c get_msgnum / get_size)."""
    digits = len(args) - len(args.lstrip("0123456789"))
    if digits == 0:
        raise _refuse(f"Invalid {what}: {_printable(args)}")
    if digits > 10 or int(args[:digits]) > 0xFFFFFFFF:
        raise _refuse(f"{what.capitalize()} too large: {_printable(args)}")
    rest = args[digits:]
    if rest[:1] != (" " if then_space else ""):
        raise _refuse(f"Noise after {what}: {_printable(rest)}")
    return int(args[:digits]), rest.lstrip(" ")


class POP3Connection:
    """The server side of one POP3 session (see the module docstring).

    ``secure``: TLS is on (POP3S, or after STLS). ``tls_available``: STLS may be offered.
    ``plaintext_allowed``: USER/PASS and AUTH PLAIN may run without TLS (the driver decides:
    loopback peers only, and only when the scenario allows it); CAPA lists USER and SASL only
    where they would be accepted (RFC 2595 section 4: capabilities may differ after STLS).
    """

    def __init__(
        self, *, secure: bool = False, tls_available: bool = False, plaintext_allowed: bool = True
    ) -> None:
        self.state = POP3State.AUTHORIZATION
        self.secure = secure
        self.tls_available = tls_available
        self.plaintext_allowed = plaintext_allowed
        self._buffer = bytearray()
        self._discarding = False  # skipping the rest of an overlong line
        self._greeted = False
        self._pending: Event | None = None
        self._user: str | None = None  # USER given, PASS awaited
        self._sasl = False  # "+ " sent, an AUTH PLAIN client response awaited
        self._maildrop: tuple[MessageInfo, ...] = ()
        self._deleted: set[int] = set()
        self._seen: set[int] = set()
        self._fetched: set[int] = set()  # RETRs reported as Retrieved; RSET does not forget them
        self._retrieved: Retrieved | None = None  # reported by the next next_event()

    @property
    def auth_allowed(self) -> bool:
        """May the client send credentials now (TLS on, or plaintext allowed)?"""
        return self.secure or self.plaintext_allowed

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the client (ignored once the session is CLOSED)."""
        if self.state is not _C:
            self._buffer += data

    def next_event(self) -> Event | Wait:
        """Process the next buffered line; raise :class:`RemoteProtocolError` if it is refused."""
        if self._retrieved is not None:
            retrieved, self._retrieved = self._retrieved, None
            return retrieved
        if not self._greeted or self._pending is not None or self.state is _C:
            return PAUSED
        line = self._next_line()
        if line is None:
            return NEED_DATA
        if self._sasl:
            self._sasl = False
            if line == b"*":  # RFC 5034 section 4: the client cancels the exchange
                raise _refuse("Authentication aborted by client.")
            self._pending = self._plain(line.decode("ascii", "replace"), "continued")
            return self._pending
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise _refuse("Invalid UTF-8 in command line.") from None
        name, _, args = text.partition(" ")
        name, args = name.upper(), args.lstrip(" ")
        if (self.state, name) not in TRANSITIONS:
            # Dovecot's texts: the login process does not echo the command, the mail process does
            unknown = "Unknown command." if self.state is _A else f"Unknown command: {name}"
            raise _refuse(_printable(unknown))
        event = self._command(name, args)
        self.state = TRANSITIONS[(self.state, name)]
        if not isinstance(event, Answered):
            self._pending = event
        return event

    def send(self, answer: Answer) -> bytes:
        """Turn the driver's answer to the pending event (or the greeting) into reply bytes."""
        if isinstance(answer, Greeting):
            if self._greeted:
                raise LocalProtocolError(_err(ERR_SYS_TEMP.text, ERR_SYS_TEMP.code))
            self._greeted = True
            return _ok(answer.text)
        pending = self._pending
        if pending is None or not isinstance(answer, ANSWERS[type(pending)]):
            raise LocalProtocolError(_err(ERR_SYS_TEMP.text, ERR_SYS_TEMP.code))
        self._pending = None
        self.state = TRANSITIONS[(self.state, type(answer).__name__)]
        if isinstance(answer, Failure):
            return _err(answer.text, answer.code)
        if isinstance(answer, LoginAccepted):
            self._maildrop = answer.maildrop
            return _ok("Logged in.")
        if isinstance(answer, TLSReady):
            # RFC 2595 section 4 (and the STARTTLS injection attacks): nothing the client sent
            # before the handshake may be read as if it had come over TLS; USER is forgotten too.
            self._buffer.clear()
            self._discarding = False
            self._user = None
            self.secure = True
            return _ok("Begin TLS negotiation now.")
        if isinstance(answer, MessageContent):
            assert isinstance(pending, Retrieve)
            return self._content(pending, answer.data)
        assert isinstance(pending, Quit)
        return _ok("Logging out, messages deleted." if pending.deleted else "Logging out.")

    # --- input -------------------------------------------------------------------------------

    def _next_line(self) -> bytes | None:
        """Cut the next line off the buffer (CRLF or bare LF), enforcing the line limit."""
        limit = MAX_SASL_LINE if self._sasl else MAX_COMMAND_LINE
        while True:
            end = self._buffer.find(b"\n")
            if self._discarding:
                if end < 0:
                    self._buffer.clear()
                    return None
                del self._buffer[: end + 1]
                self._discarding = False
                continue
            if end < 0 and len(self._buffer) < limit:
                return None
            if end < 0 or end + 1 > limit:  # the line cannot fit: refuse it once, skip the rest
                self._discarding = end < 0
                del self._buffer[: len(self._buffer) if end < 0 else end + 1]
                self._sasl = False
                raise _refuse("Input line too long.")
            line = bytes(self._buffer[:end]).removesuffix(b"\r")
            del self._buffer[: end + 1]
            return line

    # --- commands ----------------------------------------------------------------------------

    def _command(self, name: str, args: str) -> Event:
        if name == "CAPA":
            return Answered(name, _ok() + _multiline([cap.encode() for cap in self._capa()]))
        if name == "QUIT":
            if self.state is _A:  # RFC 1939 section 4: QUIT before login skips UPDATE
                return Answered(name, _ok("Logging out"))
            live = [i for i in range(len(self._maildrop)) if i not in self._deleted]
            return Quit(
                tuple(self._maildrop[i].key for i in sorted(self._deleted)),
                tuple(self._maildrop[i].key for i in live if i in self._seen),
            )
        if self.state is _A:
            return self._authorization(name, args)
        return self._transaction(name, args)

    def _capa(self) -> list[str]:
        """RFC 2449 section 5; Dovecot's list, with STLS, USER and SASL only before login."""
        caps = ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
        if self.state is _A:
            if self.tls_available and not self.secure:
                caps.append("STLS")
            if self.auth_allowed:
                caps += ["USER", "SASL PLAIN"]
        return caps

    def _authorization(self, name: str, args: str) -> Event:
        if name == "STLS":
            if self.secure:
                raise _refuse("TLS is already active.")
            if not self.tls_available:
                raise _refuse("TLS support isn't enabled.")
            return StartTLS()
        if name == "AUTH" and not args:  # RFC 1734 style mechanism listing (Outlook)
            return Answered(name, _ok() + (b"PLAIN\r\n" if self.auth_allowed else b"") + b".\r\n")
        if name == "AUTH" and args.partition(" ")[0].upper() != "PLAIN":
            raise _refuse("Unsupported authentication mechanism.")
        if not self.auth_allowed:  # RFC 2595 section 2.3: no clear-text passwords without TLS
            raise _refuse(_PLAINTEXT_REFUSED, "AUTH")
        if name == "USER":
            self._user = args
            return Answered(name, _ok())
        if name == "PASS":
            user, self._user = self._user, None
            if user is None:
                raise _refuse("No username given.")
            return AuthRequested(user, args, "USER")
        initial = args.partition(" ")[2].strip(" ")
        if not initial:  # RFC 5034 section 4: empty challenge, the response comes on its own line
            self._sasl = True
            return Answered(name, b"+ \r\n")
        return self._plain(initial, "initial")

    def _plain(self, text: str, which: str) -> AuthRequested:
        """Decode a PLAIN client response (RFC 4616 section 2): authzid NUL authcid NUL passwd."""
        try:  # RFC 5034 section 4: "=" is an empty initial response
            empty = text == "=" and which == "initial"
            raw = b"" if empty else base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _refuse(f"Invalid base64 data in {which} response.") from None
        parts = raw.split(b"\0")
        try:
            authzid, user, password = (part.decode("utf-8") for part in parts)
        except (ValueError, UnicodeDecodeError):
            raise _refuse(ERR_AUTH_FAILED.text, ERR_AUTH_FAILED.code) from None
        if not user or authzid not in ("", user):  # no proxy authorization here
            raise _refuse(ERR_AUTH_FAILED.text, ERR_AUTH_FAILED.code)
        return AuthRequested(user, password, "PLAIN")

    def _transaction(self, name: str, args: str) -> Event:
        """The TRANSACTION state's commands (RFC 1939 section 5). RETR, TOP and DELE name one
        message and cost O(1): a session that fetches and deletes n messages stays O(n)."""
        if name in ("RETR", "TOP"):
            i, rest = self._message(args, then_space=name == "TOP")
            lines = _number(rest, "size", then_space=False)[0] if name == "TOP" else None
            return Retrieve(i + 1, self._maildrop[i].key, lines)
        if name == "DELE":
            self._deleted.add(self._message(args, then_space=False)[0])
            return Answered(name, _ok("Marked to be deleted."))
        if name in ("STAT", "LIST", "UIDL"):
            return self._listing(name, args)
        if name == "RSET":
            self._deleted.clear()
            self._seen.clear()
        return Answered(name, _ok())  # RSET, NOOP

    def _listing(self, name: str, args: str) -> Answered:
        """STAT, and LIST or UIDL of one message or of all not marked deleted."""
        live = [i for i in range(len(self._maildrop)) if i not in self._deleted]
        if name == "STAT":
            return Answered(name, _ok(f"{len(live)} {sum(self._maildrop[i].size for i in live)}"))
        column = "size" if name == "LIST" else "uidl"
        if args:
            i = self._message(args, then_space=False)[0]
            return Answered(name, _ok(f"{i + 1} {getattr(self._maildrop[i], column)}"))
        head = _ok(f"{len(live)} messages:" if name == "LIST" else "")
        rows = [f"{i + 1} {getattr(self._maildrop[i], column)}".encode() for i in live]
        return Answered(name, head + _multiline(rows))

    def _message(self, args: str, *, then_space: bool) -> tuple[int, str]:
        """The 0-based index of a live message named by ``args``, and what follows it."""
        number, rest = _number(args, "message number", then_space)
        if not 1 <= number <= len(self._maildrop):
            raise _refuse(f"There's no message {number}.")
        if number - 1 in self._deleted:
            raise _refuse("Message is deleted.")
        return number - 1, rest

    def _content(self, pending: Retrieve, data: bytes) -> bytes:
        if pending.lines is not None:
            return _ok() + _multiline(_top(_lines(data), pending.lines))
        index = pending.msg - 1
        self._seen.add(index)
        size = self._maildrop[index].size
        if index not in self._fetched:
            self._fetched.add(index)
            self._retrieved = Retrieved(pending.msg, pending.key, size, data)
        return _ok(f"{size} octets") + _multiline(_lines(data))
