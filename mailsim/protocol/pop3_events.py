"""The vocabulary of the POP3 core: events out, answers in, errors that carry their reply.

Split from :mod:`mailsim.protocol.pop3` the way h11 keeps ``_events.py`` apart from
``_connection.py``; import everything from :mod:`mailsim.protocol.pop3`. Reply texts are
Dovecot's (pop3-login/client*.c, pop3/pop3-commands.c, pop3/pop3-client.c); response codes in
brackets are RFC 2449 section 8 (``IN-USE``) and RFC 3206 (``AUTH``, ``SYS/TEMP``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mailsim.errors import MailsimError

__all__ = [
    "ERR_AUTH_FAILED", "ERR_IN_USE", "ERR_SYS_TEMP", "ERR_UPDATE_FAILED", "NEED_DATA", "PAUSED",
    "R_IDLE_TIMEOUT", "Answer", "Answered", "AuthRequested", "Event", "Failure", "Greeting",
    "LocalProtocolError", "LoginAccepted", "MessageContent", "MessageInfo", "POP3Error", "Quit",
    "RemoteProtocolError", "Retrieve", "Retrieved", "StartTLS", "TLSReady", "Updated", "Wait",
]  # fmt: skip


class Wait(enum.Enum):
    """What :meth:`POP3Connection.next_event` returns when there is no event to act on."""

    NEED_DATA = "NEED_DATA"  # no complete line buffered: feed more bytes
    PAUSED = "PAUSED"  # waiting for the driver's answer (or greeting), or the session is CLOSED


NEED_DATA = Wait.NEED_DATA
PAUSED = Wait.PAUSED


class POP3Error(MailsimError):
    """A POP3 line that gets a ``-ERR``; ``reply`` is the exact line to send (with CRLF)."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply.decode("utf-8", "replace").rstrip())
        self.reply = reply


class RemoteProtocolError(POP3Error):
    """The client sent a line the core refuses; write ``reply`` and keep serving."""


class LocalProtocolError(POP3Error):
    """The driver misused the core (answered nothing pending, or with the wrong answer)."""


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One message of the maildrop as a session sees it: store key, size in octets with CRLF
    line endings (RFC 1939 section 5, STAT and LIST) and unique-id (section 7, UIDL)."""

    key: str
    size: int
    uidl: str


# Events: what the client asked for.


@dataclass(frozen=True, slots=True)
class Answered:
    """The core answered ``command`` from its own state; write ``reply``."""

    command: str
    reply: bytes


@dataclass(frozen=True, slots=True)
class AuthRequested:
    """USER/PASS (``mechanism`` "USER", RFC 1939 section 7) or AUTH PLAIN (RFC 5034, RFC 4616):
    answer :class:`LoginAccepted` once the password is right and the maildrop is locked."""

    user: str
    password: str = field(repr=False)
    mechanism: str


@dataclass(frozen=True, slots=True)
class StartTLS:
    """STLS (RFC 2595 section 4): answer :class:`TLSReady`, write it, then start the handshake."""


@dataclass(frozen=True, slots=True)
class Retrieve:
    """RETR ``msg`` (RFC 1939 section 5), or TOP ``msg`` ``lines`` (section 7): answer
    :class:`MessageContent` with the whole stored message; for TOP the core cuts it."""

    msg: int
    key: str
    lines: int | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    """QUIT in TRANSACTION, the session is in UPDATE (RFC 1939 section 6): remove ``deleted``,
    flag ``seen`` (retrieved and kept; Dovecot sets \\Seen), then answer :class:`Updated`."""

    deleted: tuple[str, ...]
    seen: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Retrieved:
    """Message ``msg`` went out whole in the reply to a RETR (RFC 1939 section 5), the first
    time in this session: nothing to answer, the driver's cue to log the fetch (the event log's
    ``fetched``). ``size`` is the message's size in the maildrop (octets with CRLF, as the
    ``+OK`` said); ``data`` is what the driver answered the :class:`Retrieve` with. A TOP, a
    failed RETR, or a second RETR of the message (RSET or not) gives none."""

    msg: int
    key: str
    size: int
    data: bytes = field(repr=False)


Event = Answered | AuthRequested | StartTLS | Retrieve | Quit | Retrieved


# Answers: what the driver replies (through POP3Connection.send).


@dataclass(frozen=True, slots=True)
class Greeting:
    """The first line of every session (Dovecot's ``login_greeting``)."""

    text: str = "mailsim ready."


@dataclass(frozen=True, slots=True)
class LoginAccepted:
    """Credentials right and maildrop locked: its messages as of now (RFC 1939 section 8)."""

    maildrop: tuple[MessageInfo, ...]


@dataclass(frozen=True, slots=True)
class TLSReady:
    """The driver will start TLS right after this reply (RFC 2595 section 4)."""


@dataclass(frozen=True, slots=True)
class MessageContent:
    """The message a :class:`Retrieve` asked for, as stored."""

    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Updated:
    """UPDATE done: the deletions are durable."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A negative answer, ``-ERR [code] text``."""

    text: str
    code: str = ""


Answer = Greeting | LoginAccepted | TLSReady | MessageContent | Updated | Failure

ERR_AUTH_FAILED = Failure("Authentication failed.", "AUTH")
ERR_IN_USE = Failure("Mailbox is locked by another POP3 session.", "IN-USE")
ERR_SYS_TEMP = Failure(
    "Internal error occurred. Refer to server log for more information.", "SYS/TEMP"
)
#: RFC 1939 section 6, QUIT in UPDATE: "-ERR some deleted messages not removed".
ERR_UPDATE_FAILED = Failure("Some deleted messages not removed.", "SYS/TEMP")
#: RFC 1939 section 3: the autologout timer ended the session (no UPDATE).
R_IDLE_TIMEOUT = b"-ERR Disconnected for inactivity.\r\n"
