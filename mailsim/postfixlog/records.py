"""What the parser reconstructs from a Postfix log: messages, smtpd sessions, refusals, notices.

The parser (:mod:`mailsim.postfixlog.parse`) yields four kinds of items:

- :class:`Message`: one queue file, from its first line to qmgr's ``removed`` (or to the end of
  the log, still queued): how it arrived (smtpd ``client=``, pickup ``uid= from=``, a local(8)
  ``forwarded as`` copy, a bounce(8) notification), cleanup's ``message-id=``, qmgr's ``from=,
  size=, nrcpt= (queue active)`` at every pass through the active queue, every recipient's
  status line (:class:`Delivery`), refusals that carry its queue id, bounce notifications it
  caused, ``expired`` and ``removed``;
- :class:`Session`: one smtpd connection, ``connect from`` to ``disconnect from``, with the
  queue files it created and the ``NOQUEUE`` refusals it logged;
- :class:`Reject`: an smtpd/postscreen/cleanup access or content decision (``reject``,
  ``reject_warning``, ``hold``, ``discard``, ...). Those with a queue id live in their
  :class:`Message`, smtpd's ``NOQUEUE`` ones in their :class:`Session`, postscreen's are
  yielded on their own;
- :class:`Notice`: any other Postfix line worth keeping (warnings, master and postfix-script
  lines, postscreen and dnsblog verdicts, anvil/scache statistics, ...).

:class:`ParseStats` counts every line by daemon and kind, and what was skipped.

Every fact carries its ``line`` (1-based line number in the input) and ``time`` (POSIX
seconds), so the order of the log can be rebuilt exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "Delivery",
    "Link",
    "Message",
    "Note",
    "Notice",
    "ParseStats",
    "Reject",
    "Session",
]


class Delivery(NamedTuple):
    """One recipient status line of a delivery agent (smtp, lmtp, local, virtual, pipe,
    error, discard, or qmgr itself)::

        QID: to=<r>, orig_to=<a>, relay=R, conn_use=N, delay=X, delays=a/b/c/d, dsn=D,
        status=sent (reason)

    Fields hold the text as logged, ``""`` where the line has none (``delays`` without
    ``delays=``); ``reason`` is the parenthesised text (for ``status=expired, returned to
    sender``: ``returned to sender``).
    """

    line: int
    time: float
    daemon: str
    recipient: str
    orig_to: str
    relay: str
    conn_use: str
    delay: str
    delays: str
    dsn: str
    status: str
    reason: str

    @property
    def forwarded_as(self) -> str:
        """The queue id of local(8)'s copy (``status=sent (forwarded as QID)``), else ``""``."""
        if self.reason.startswith("forwarded as "):
            return self.reason[13:].split(None, 1)[0] if len(self.reason) > 13 else ""
        return ""

    @property
    def delay_split(self) -> tuple[float, float, float, float] | None:
        """``delays=a/b/c/d`` as four floats (None if the line had none or it is unreadable)."""
        parts = self.delays.split("/")
        if len(parts) != 4:
            return None
        try:
            a, b, c, d = (float(part) for part in parts)
        except ValueError:
            return None
        return a, b, c, d


class Reject(NamedTuple):
    """An access or content decision of smtpd, postscreen or cleanup::

        NOQUEUE: reject: RCPT from C[1.2.3.4]: 554 5.7.1 <r>: Relay access denied;
        from=<s> to=<r> proto=ESMTP helo=<h>
        QID: reject: header Subject: xyz from C[1.2.3.4]; from=<s> to=<r> proto=ESMTP
        helo=<h>: 5.7.1 message content rejected

    ``action`` is Postfix's word (``reject``, ``reject_warning``, ``hold``, ``discard``,
    ``filter``, ``redirect``, ``warning``, ``milter-reject``, ...); ``stage`` the SMTP command
    (``RCPT``, ``MAIL``, ``DATA``, ``END-OF-MESSAGE``, ``CONNECT``, ...) or, for cleanup, the
    part checked (``header``, ``body``, ...); ``code``/``dsn``/``reply`` the SMTP reply split
    (``554``, ``5.7.1``, ``<r>: Relay access denied``); ``queue_id`` is ``""`` for NOQUEUE.
    ``msg`` is the run-wide message number the parser gave the transaction; ``host`` and
    ``instance`` say whose log line it is.
    """

    line: int
    time: float
    daemon: str
    queue_id: str
    action: str
    stage: str
    client: str
    code: str
    dsn: str
    reply: str
    sender: str
    recipient: str
    proto: str
    helo: str
    msg: int
    host: str = ""
    instance: str = "postfix"

    @property
    def text(self) -> str:
        """The reply as logged: ``554 5.7.1 <r>: Relay access denied``."""
        return " ".join(part for part in (self.code, self.dsn, self.reply) if part)


class Note(NamedTuple):
    """An informational line about a delivery attempt or a queue file: smtp's ``connect to
    H[A]:25: Connection refused`` (kind ``connect``, relay ``H[A]:25``), ``QID: host H[A] said:
    ...`` (kind ``said``) and other ``QID: ...`` lines of the delivery agents (``info``);
    postsuper's and cleanup's queue moves (``hold``, ``released``, ``requeued``)."""

    line: int
    time: float
    daemon: str
    kind: str
    relay: str
    text: str


class Link(NamedTuple):
    """A queue file this message caused: local(8)'s ``forwarded as QID`` copy (kind
    ``forward``) or a bounce(8) notification (kind ``non-delivery``, ``delay``, ``delivery
    status``, ``success``; ``postmaster`` is true for the postmaster's copy). ``msg`` is the
    copy's run-wide message number."""

    line: int
    time: float
    kind: str
    queue_id: str
    postmaster: bool
    msg: int


class Notice(NamedTuple):
    """Any other Postfix line: ``kind`` says which (see :data:`mailsim.postfixlog.parse.KINDS`),
    ``text`` is the line's text after the syslog tag."""

    line: int
    time: float
    host: str
    program: str
    daemon: str
    pid: int | None
    kind: str
    text: str


#: how a queue file came to be
ORIGINS: tuple[str, ...] = ("smtpd", "pickup", "forward", "notification", "unknown")


class Message:
    """Everything the log says about one queue file (see the module docstring).

    ``msg`` is the run-wide message number: queue files of the same original message (local
    forwarding and alias-expansion copies) share it; bounce notifications get their own from
    2**30 up; ``parent`` is the queue id of the file that caused a copy or notification, and
    ``parent_msg`` its number.
    ``origin`` is one of :data:`ORIGINS`; ``notification`` is the notification's kind
    (``non-delivery``, ``delay``, ...) for origin ``notification``.
    ``arrival`` is the time of smtpd's ``client=`` or pickup's line, else of the first line
    naming the file; ``actives`` the (line, time) of every ``(queue active)``; ``expired`` and
    ``removed`` the (line, time) of those lines, None if not seen.

    ``gone`` says how the file ended: ``removed`` (qmgr's or postsuper's line), ``rejected`` or
    ``discarded`` (a content check or milter refused the message at end of DATA: Postfix
    deletes the file and logs no ``removed``), ``abandoned`` (no line took it to the active
    queue for the parser's ``stale`` time, e.g. the client left during DATA), or ``""``: still
    in the queue when the log ended.
    """

    __slots__ = (
        "actives",
        "arrival",
        "arrival_line",
        "children",
        "client",
        "deliveries",
        "expired",
        "first_line",
        "gone",
        "host",
        "instance",
        "lines",
        "message_id",
        "msg",
        "notes",
        "notification",
        "nrcpt",
        "origin",
        "parent",
        "parent_msg",
        "queue_id",
        "queued",
        "rejects",
        "removed",
        "resent_message_id",
        "sender",
        "size",
        "uid",
    )

    def __init__(self, queue_id: str, host: str, instance: str, line: int, time: float) -> None:
        self.queue_id = queue_id
        self.host = host
        self.instance = instance
        self.msg = 0
        self.origin = "unknown"
        self.parent = ""
        self.parent_msg = 0
        self.notification = ""
        self.first_line = line
        self.arrival = time
        self.arrival_line = line
        self.client = ""
        self.uid: int | None = None
        self.message_id = ""
        self.resent_message_id = ""
        self.sender: str | None = None
        self.size: int | None = None
        self.nrcpt: int | None = None
        self.queued: tuple[int, float] | None = None
        self.actives: list[tuple[int, float]] = []
        self.deliveries: list[Delivery] = []
        self.rejects: list[Reject] = []
        self.notes: list[Note] = []
        self.children: list[Link] = []
        self.expired: tuple[int, float] | None = None
        self.removed: tuple[int, float] | None = None
        self.gone = ""
        self.lines = 0

    def __repr__(self) -> str:
        state = self.gone or "queued"
        return (
            f"Message({self.queue_id} m{self.msg} {self.origin} from=<{self.sender}> "
            f"size={self.size} deliveries={len(self.deliveries)} {state})"
        )

    @property
    def still_queued(self) -> bool:
        """Whether the file was still in the queue when the log ended."""
        return not self.gone

    def recipients(self) -> list[str]:
        """The recipients with status lines, in order of their first line."""
        return list(dict.fromkeys(delivery.recipient for delivery in self.deliveries))

    def outcomes(self) -> dict[str, Delivery]:
        """The last status line of every recipient (its final outcome if the file is gone)."""
        return {delivery.recipient: delivery for delivery in self.deliveries}


class Session:
    """One smtpd (or qmqpd) connection: ``connect from`` ... ``disconnect from``.

    ``commands`` is the disconnect line's tally (``ehlo=1 mail=1 rcpt=1/2 data=1 quit=1
    commands=5/6``); ``messages`` the (queue id, msg) of every file it created; ``rejects`` its
    ``NOQUEUE`` refusals, each with the msg of its transaction (the file created next in the
    session when the tally shows they were one transaction, else a number of its own);
    ``notes`` the other lines of the session (``lost connection after DATA``, TLS, ...).
    ``disconnect`` is None when the log ended (or the process was reused) without one.
    """

    __slots__ = (
        "client",
        "commands",
        "connect",
        "daemon",
        "disconnect",
        "host",
        "instance",
        "messages",
        "notes",
        "pid",
        "positions",
        "rejects",
    )

    def __init__(
        self,
        host: str,
        instance: str,
        daemon: str,
        pid: int | None,
        client: str,
        connect: tuple[int, float] | None,
    ) -> None:
        self.host = host
        self.instance = instance
        self.daemon = daemon
        self.pid = pid
        self.client = client
        self.connect = connect
        self.disconnect: tuple[int, float] | None = None
        self.commands = ""
        self.messages: list[tuple[str, int]] = []
        self.rejects: list[Reject] = []
        #: for each of ``rejects``: how many files the session had created before it
        self.positions: list[int] = []
        self.notes: list[Note] = []

    def __repr__(self) -> str:
        return (
            f"Session({self.daemon}[{self.pid}] {self.client} messages={len(self.messages)} "
            f"rejects={len(self.rejects)})"
        )

    def tally(self, command: str) -> tuple[int, int] | None:
        """(accepted, issued) of one command in the disconnect tally (``rcpt=1/2`` -> (1, 2),
        ``mail=3`` -> (3, 3)); None if the tally does not name it."""
        for word in self.commands.split():
            name, _, value = word.partition("=")
            if name == command:
                good, _, total = value.partition("/")
                if good.isdigit() and (not total or total.isdigit()):
                    return int(good), int(total or good)
                return None
        return None


@dataclass
class ParseStats:
    """Counts of one parse: every input line is counted exactly once, as

    ``lines == sum(by_kind.values()) + unrelated + malformed``

    - ``unrelated``: not a Postfix line (another program, or no syslog line at all);
    - ``malformed``: a Postfix line the parser cannot read (cut short, broken prefix, a
      message line in no known format);
    - ``by_kind``: the Postfix lines read, by kind (:data:`mailsim.postfixlog.parse.KINDS`;
      kind ``other`` is a well-formed line the parser keeps only as a :class:`Notice`);
    - ``by_daemon``: every Postfix line (read or malformed) by daemon;
    - ``statuses``: the status lines by status word (sent, deferred, bounced, ...);
    - ``examples``: a few (line number, text) of ``unrelated``, ``malformed`` and ``other``;
    - ``first_time``/``last_time``: POSIX time of the first and last Postfix line;
    - ``peak_live``: most queue files and sessions held at once (the parser's memory).
    """

    lines: int = 0
    unrelated: int = 0
    malformed: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_daemon: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    first_time: float | None = None
    last_time: float | None = None
    peak_live: int = 0
    examples_kept: int = 5

    @property
    def parsed(self) -> int:
        """Postfix lines read (every kind, ``other`` included)."""
        return sum(self.by_kind.values())

    @property
    def skipped(self) -> int:
        """Lines that gave no fact: unrelated, malformed and kind ``other``."""
        return self.unrelated + self.malformed + self.by_kind.get("other", 0)

    def example(self, category: str, number: int, line: str) -> None:
        """Keep ``line`` as an example of ``category`` if fewer than ``examples_kept`` are."""
        kept = self.examples.setdefault(category, [])
        if len(kept) < self.examples_kept:
            kept.append((number, line.rstrip("\r\n")[:300]))

    def report(self) -> str:
        """A short human-readable account of the parse."""
        lines = [
            f"{self.lines} lines: {self.parsed} Postfix lines read, {self.malformed} malformed, "
            f"{self.unrelated} unrelated"
        ]
        if self.by_kind:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
            lines.append(f"by kind: {kinds}")
        for category in ("malformed", "unrelated", "other"):
            for number, text in self.examples.get(category, []):
                lines.append(f"  {category} line {number}: {text}")
        return "\n".join(lines)
