"""A streaming parser of Postfix mail logs: lines in, per-message facts out, in constant memory.

Theory of operation. Postfix logs one line per event, from many processes at once, so the lines
of one message are interleaved with everybody else's. They are joined by the *queue id* (the
queue file's name, unique on a host while the file exists): smtpd's ``QID: client=``, cleanup's
``QID: message-id=``, qmgr's ``QID: from=<s>, size=N, nrcpt=N (queue active)``, the delivery
agents' ``QID: to=<r>, ... status=...`` and finally qmgr's ``QID: removed``. The parser keeps
one :class:`~mailsim.postfixlog.records.Message` per queue file still in the queue and yields it
at ``removed``, so memory is proportional to the queue, not to the log; the rest are yielded,
still queued, at the end (:meth:`PostfixLogParser.flush`).

Lines without a queue id are joined by process: an smtpd process serves one connection at a
time, so ``connect from``, ``NOQUEUE: reject`` and ``disconnect from`` of one pid make one
:class:`~mailsim.postfixlog.records.Session` (yielded at ``disconnect``); an smtp process logs
``connect to H[A]:25: Connection refused`` just before the status line of the message it was
trying, which gets it as a note.

Run-wide message numbers (``msg``). A message gets a number when the parser learns where it came
from: smtpd's ``client=`` or pickup's ``uid=``. A queue file that local(8) makes
(``QID: to=<a>, ... status=sent (forwarded as QID2)``: alias expansion to a remote address, or a
``.forward``) shares its parent's number; a bounce(8) notification (``QID: sender non-delivery
notification: QID2``, also ``delay``) gets a number of its own from 2**30 up, as the simulator
gives them. The copy's first lines come before the line that names it, so a queue file removed
before anything says where it came from waits ``grace`` seconds of log time for its link
before it is yielded with origin ``unknown`` (as are files already queued when the log began).
``NOQUEUE`` refusals of a session belong to the queue file the session creates next when the
disconnect tally (``mail=N``) shows they were one transaction; otherwise they are a refused
transaction with a number of its own.

Nothing in a line can make the parser raise: a line it cannot read is counted (malformed or
unrelated, :class:`~mailsim.postfixlog.records.ParseStats`) and skipped.

The fast path (:meth:`PostfixLogParser.feed`). A log has millions of lines and each costs a
few Python operations, so the loop does as few as it can per line; everything it skips is
done in full by the slow path, and both give the same answer:

- one ``line.split(None, 5)``; a line whose timestamp words equal the previous line's and
  whose tag is known (``SyslogReader.tags``) has the previous line's time, otherwise
  :meth:`SyslogReader.fields_of <mailsim.postfixlog.syslog.SyslogReader.fields_of>` reads it;
- a ``QID: `` line is recognised by ``partition(": ")`` and a lookup of the queue id among
  the queued files (a known id needs no check of its characters), then dispatched on the first
  four characters of its text (``to=<``, ``from``, ``remo``, ...) to a small method per
  format; the common formats try a stricter regex first (``STATUS_LINE_FAST``,
  ``ACTIVE_LINE_FAST``: same groups where they match, no backtracking);
- counts go to plain dicts, added to :attr:`PostfixLogParser.stats` when the lines are done
  (``stats.lines`` also whenever items are yielded); the release of files waiting for a link
  and the sweep of stale ones are one comparison with the time they are next due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Final

from mailsim.postfixlog.files import open_log
from mailsim.postfixlog.formats import (
    ACTIVE_LINE,
    ACTIVE_LINE_FAST,
    STATUS_LINE,
    STATUS_LINE_FAST,
    STATUS_LINE_LENIENT,
    STATUSES,
    is_client,
    read_check,
    read_client,
    read_connect_to,
    read_disconnect,
    read_expired,
    read_notification,
    read_pickup,
)
from mailsim.postfixlog.records import (
    Delivery,
    Link,
    Message,
    Note,
    Notice,
    ParseStats,
    Reject,
    Session,
)
from mailsim.postfixlog.syslog import NOT_POSTFIX, SyslogReader, Tag

__all__ = ["KINDS", "NOTIFICATION_BASE", "Item", "PostfixLogParser", "parse_log"]

#: Numbers of bounce and delay notifications start here (as the simulator's do).
NOTIFICATION_BASE: Final = 2**30

Item = Message | Session | Reject | Notice

#: The kinds of Postfix line the parser reads (:attr:`ParseStats.by_kind`).
KINDS: Final[dict[str, str]] = {
    "connect": "smtpd: connect from C",
    "disconnect": "smtpd: disconnect from C [tally]",
    "session": "smtpd: another line of an open connection (lost connection, timeout, TLS, ...)",
    "client": "smtpd: QID: client=C (a queue file from an SMTP client)",
    "pickup": "pickup: QID: uid=N from=<s> (a queue file from sendmail/postdrop)",
    "reject": "smtpd/postscreen: NOQUEUE or QID: reject|reject_warning|hold|discard|...: ...",
    "message-id": "cleanup: QID: message-id=<id>",
    "resent-message-id": "cleanup: QID: resent-message-id=<id>",
    "header-check": "cleanup: QID: reject|warning|hold|discard|...: header|body ... (content "
    "checks and milters)",
    "active": "qmgr: QID: from=<s>, size=N, nrcpt=N (queue active)",
    "expired": "qmgr: QID: from=<s>, status=expired, returned to sender",
    "removed": "qmgr/postsuper: QID: removed",
    "status": "a delivery agent's (or qmgr's) QID: to=<r>, ..., status=S (reason)",
    "notification": "bounce: QID: sender non-delivery|delay|... notification: QID2",
    "delivery-info": "smtp/lmtp: connect to H[A]:P: reason, QID: host H[A] said: ..., other "
    "QID: lines about a delivery attempt",
    "queue-move": "postsuper: QID: placed on hold | released from hold | requeued",
    "postscreen": "postscreen: CONNECT, PASS NEW/OLD, DNSBL rank, PREGREET, HANGUP, ...",
    "dnsblog": "dnsblog: addr A listed by domain D as R",
    "warning": "any daemon: warning:, error:, fatal:, panic:",
    "master": "master: daemon started, reload, terminating",
    "postfix-script": "postfix-script: starting, stopping, refreshing, status",
    "statistics": "anvil/scache: statistics: ...",
    "other": "any other well-formed Postfix line (kept as a Notice)",
}

_SEVERITIES = ("warning: ", "error: ", "fatal: ", "panic: ")
_SESSION_DAEMONS = frozenset(("smtpd", "qmqpd"))
_QUEUE_MOVES = {"placed on hold": "hold", "released from hold": "released", "requeued": "requeued"}
_LIMBO_LIMIT = 100_000
_RELEASED_KEPT = 4096
#: refusals that end a queue file: Postfix deletes it and logs no ``removed``
_ENDINGS = {
    "reject": "rejected",
    "milter-reject": "rejected",
    "discard": "discarded",
    "milter-discard": "discarded",
}
#: the SMTP/LMTP clients (master.cf names: ``relay`` is smtp, ``retry`` is error)
_DELIVERY_AGENTS = frozenset(("smtp", "lmtp", "relay", "error", "retry"))
#: postsuper's summary lines
_POSTSUPER_TOTALS = ("Deleted: ", "Placed on hold: ", "Released from hold: ", "Requeued: ")
#: smtpd stages where a refusal is about the whole message (RCPT ones are per recipient)
_MESSAGE_STAGES = frozenset(("DATA", "END-OF-MESSAGE", "BDAT"))
_new_tuple = tuple.__new__
_HEX = "0123456789ABCDEF"
_BASE52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"


def _is_queue_id(word: str) -> bool:
    """Whether ``word`` is a short (6+ upper-case hex digits) or long (12+ base-52 characters
    and the ``z`` separator) queue id; as :data:`~mailsim.postfixlog.formats.QUEUE_ID`, faster."""
    return (len(word) >= 6 and not word.strip(_HEX)) or (
        len(word) >= 12 and not word.strip(_BASE52)
    )


#: reads a line without a queue id: (instance, line, time, tag, text) -> kind, None if malformed
Handler = Callable[["_Instance", int, float, Tag, str], "str | None"]
#: reads a ``QID: rest`` line: (instance, the file if queued, qid, line, time, tag, rest) -> kind
QueueHandler = Callable[["_Instance", "Message | None", str, int, float, Tag, str], "str | None"]


class _Instance:
    """One Postfix instance on one host: its queue, smtpd sessions and smtp attempts."""

    __slots__ = (
        "attempts",
        "host",
        "incoming",
        "instance",
        "limbo",
        "queue",
        "released",
        "sessions",
    )

    def __init__(self, host: str, instance: str) -> None:
        self.host = host
        self.instance = instance
        self.queue: dict[str, Message] = {}
        #: files not yet seen in the active queue, oldest first: queue id -> time first seen
        self.incoming: dict[str, float] = {}
        self.sessions: dict[int | None, Session] = {}
        self.attempts: dict[int | None, list[Note]] = {}
        self.limbo: dict[str, Message] = {}
        #: the last files yielded from limbo without a link: queue id -> msg
        self.released: dict[str, int] = {}


class PostfixLogParser:
    """Parse Postfix log lines into :data:`Item` s (see the module docstring).

    ``year``/``reference``/``tz`` say how to read classic syslog timestamps
    (:class:`~mailsim.postfixlog.syslog.SyslogReader`); ``grace`` is how long (log seconds) a
    removed queue file of unknown origin waits for the line that links it to its parent;
    ``stale`` how long a queue file that never reached the active queue (and is not on hold),
    an smtpd connection without ``disconnect`` or an smtp connection failure without a
    following queue-id line is kept before it is given up (yielded as ``abandoned``, closed):
    this bounds the memory of a log with lost connections. :attr:`stats` counts the lines as
    they go.

    Use :meth:`parse` (lines) or :meth:`parse_file` (a path, plain or compressed) for a whole
    log; :meth:`feed` and :meth:`flush` to parse a log that arrives in pieces.
    """

    def __init__(
        self,
        year: int | None = None,
        *,
        reference: date | datetime | None = None,
        tz: tzinfo = UTC,
        grace: float = 10.0,
        stale: float = 3600.0,
    ) -> None:
        self.stats = ParseStats()
        self.syslog = SyslogReader(year, reference=reference, tz=tz)
        self.grace = grace
        self.stale = stale
        self._sweep_at = float("-inf")
        #: the earliest log time at which :meth:`_housekeep` has something to do
        self._due = float("-inf")
        self._line = 0
        self._next_msg = 1
        self._next_notice = NOTIFICATION_BASE
        self._instances: dict[tuple[str, str], _Instance] = {}
        self._limbo: deque[tuple[float, _Instance, str]] = deque()
        self._out: list[Item] = []
        self._live = 0
        #: counts not yet added to :attr:`stats` (plain dicts: cheaper than a Counter per line)
        self._kinds: dict[str, int] = {}
        self._daemons: dict[str, int] = {}
        self._statuses: dict[str, int] = {}
        self._handlers: dict[str, Handler] = {
            "smtpd": self._smtpd,
            "qmqpd": self._smtpd,
            "postscreen": self._postscreen,
            "dnsblog": self._dnsblog,
            "master": self._master,
            "postfix-script": self._postfix_script,
            "anvil": self._statistics,
            "scache": self._statistics,
            "postsuper": self._postsuper,
        }
        #: ``QID: rest`` lines by the first four characters of ``rest``
        self._queue_handlers: dict[str, QueueHandler] = {
            "to=<": self._status,
            "from": self._from,
            "remo": self._removed_line,
            "mess": self._message_id,
            "clie": self._client,
            "uid=": self._pickup,
            "send": self._notification,
            "post": self._notification,
        }

    # -- public --------------------------------------------------------------------------------

    def parse(self, lines: Iterable[str]) -> Iterator[Item]:
        """Parse every line, then :meth:`flush`."""
        yield from self.feed(lines)
        yield from self.flush()

    def parse_file(self, path: str | Path) -> Iterator[Item]:
        """Parse a log file, plain or gzip/bzip2/xz compressed (recognised by magic bytes)."""
        with open_log(path) as stream:
            yield from self.feed(stream)  # as parse(), one generator fewer per item
            yield from self.flush()

    def feed(self, lines: Iterable[str]) -> Iterator[Item]:
        """Parse ``lines`` (continuing the stream), yielding what they complete.

        This is the fast path described in the module docstring. :attr:`stats` is brought up
        to date when the lines are done (or the iteration is closed).
        """
        stats = self.stats
        syslog = self.syslog
        tags = syslog.tags
        kinds = self._kinds
        daemons = self._daemons
        handlers = self._handlers
        other = self._other
        queue_handlers = self._queue_handlers
        queue_other = self._queue_other
        out = self._out
        month, day, clock, stamp = syslog.classic_stamp()
        host_name = instance_name = "\0"
        instance = _Instance("", "")
        queue, attempts = instance.queue, instance.attempts
        number = self._line
        time = stats.last_time
        try:
            for line in lines:
                number += 1
                parts = line.split(None, 5)
                if (
                    len(parts) == 6
                    and parts[2] == clock
                    and parts[1] == day
                    and parts[0] == month
                    and (tag := tags.get(parts[4])) is not None
                ):
                    time, host, text = stamp, parts[3], parts[5].rstrip("\r\n")
                else:
                    found = syslog.fields_of(line, parts)
                    if isinstance(found, int):
                        self._skip(found, number, line)
                        continue
                    time, host, tag, text = found
                    month, day, clock, stamp = syslog.classic_stamp()
                    if stats.first_time is None:
                        stats.first_time = time
                if host != host_name or tag.instance != instance_name:
                    instance = self._instance(host, tag.instance)
                    host_name, instance_name = host, tag.instance
                    queue, attempts = instance.queue, instance.attempts
                if time >= self._due:
                    self._housekeep(time)
                daemon = tag.daemon
                try:
                    daemons[daemon] += 1
                except KeyError:
                    daemons[daemon] = 1
                kind: str | None
                qid, colon, rest = text.partition(": ")  # a queue id: 6 to 24 characters
                if (
                    colon
                    and 6 <= len(qid) <= 24
                    and ((message := queue.get(qid)) is not None or _is_queue_id(qid))
                ):
                    if attempts and tag.pid in attempts:
                        message = self._claim_attempts(instance, tag.pid, qid)
                    try:
                        handler = queue_handlers[rest[:4]]
                    except KeyError:
                        handler = queue_other
                    kind = handler(instance, message, qid, number, time, tag, rest)
                else:
                    kind = handlers.get(daemon, other)(instance, number, time, tag, text)
                if kind is None:
                    stats.malformed += 1
                    stats.example("malformed", number, line)
                else:
                    try:
                        kinds[kind] += 1
                    except KeyError:
                        kinds[kind] = 1
                if out:
                    stats.lines = number  # so far (a consumer may look)
                    yield from out
                    out.clear()
        finally:
            self._line = stats.lines = number
            stats.last_time = time
            self._count()

    def _skip(self, code: int, number: int, line: str) -> None:
        """Count a line that is no readable Postfix line (:meth:`SyslogReader.fields_of`)."""
        stats = self.stats
        if code == NOT_POSTFIX:
            stats.unrelated += 1
            stats.example("unrelated", number, line)
        else:
            stats.malformed += 1
            stats.example("malformed", number, line)

    def _count(self) -> None:
        """Add the counts kept since the last call to :attr:`stats`."""
        for counts, total in (
            (self._kinds, self.stats.by_kind),
            (self._daemons, self.stats.by_daemon),
            (self._statuses, self.stats.statuses),
        ):
            for key, value in counts.items():
                total[key] += value
            counts.clear()

    def _housekeep(self, now: float) -> None:
        """Release the files whose wait for a link is over and, every ``stale / 4`` seconds of
        log time, give up what waited too long; then say when to come back (``_due``)."""
        limbo = self._limbo
        if limbo and now >= limbo[0][0]:
            self._release(now)
        if now >= self._sweep_at:
            self._sweep(now)
        self._due = min(self._sweep_at, limbo[0][0]) if limbo else self._sweep_at

    def _instance(self, host: str, name: str) -> _Instance:
        instance = self._instances.get((host, name))
        if instance is None:
            instance = self._instances[(host, name)] = _Instance(host, name)
        return instance

    def flush(self) -> Iterator[Item]:
        """Yield everything still open: sessions, files waiting for a link, queued files."""
        self._release(float("inf"))
        for instance in self._instances.values():
            for session in list(instance.sessions.values()):
                self._close(instance, session)
            for pid, notes in instance.attempts.items():
                self._attempt_notices(instance, pid, notes)
            instance.attempts.clear()
            instance.incoming.clear()
            for message in instance.queue.values():
                if not message.msg:
                    message.msg = self._number()
                self._out.append(message)
            self._live -= len(instance.queue)
            instance.queue.clear()
        out = list(self._out)
        self._out.clear()
        yield from out

    # -- queue files ---------------------------------------------------------------------------

    def _message(self, instance: _Instance, qid: str, line: int, time: float) -> Message:
        message = instance.queue.get(qid)
        if message is None:
            message = instance.queue[qid] = Message(
                qid, instance.host, instance.instance, line, time
            )
            instance.incoming[qid] = time
            self._live += 1
            if self._live > self.stats.peak_live:
                self.stats.peak_live = self._live
        message.lines += 1
        return message

    def _number(self) -> int:
        number = self._next_msg
        self._next_msg += 1
        return number

    def _claim_attempts(self, instance: _Instance, pid: int | None, qid: str) -> Message:
        """smtp's ``connect to`` failures logged by process ``pid`` just before its line about
        ``qid`` are that file's notes."""
        notes = instance.attempts.pop(pid)
        message = self._message(instance, qid, notes[0].line, notes[0].time)
        message.notes.extend(notes)
        return message

    def _status(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """A delivery agent's ``to=<r>, ..., status=S (reason)``: a recipient's status."""
        found = (
            STATUS_LINE_FAST.fullmatch(rest)
            or STATUS_LINE.fullmatch(rest)
            or STATUS_LINE_LENIENT.fullmatch(rest)
        )
        if found is None:
            return None
        fields = found.groups("")
        status = fields[7]
        if status not in STATUSES:
            return None
        if message is None:
            message = self._message(instance, qid, line, time)
        else:
            message.lines += 1
        message.deliveries.append(_new_tuple(Delivery, (line, time, tag.daemon, *fields)))
        statuses = self._statuses
        try:
            statuses[status] += 1
        except KeyError:
            statuses[status] = 1
        if status == "sent" and fields[8].startswith("forwarded as "):
            child = fields[8][13:]
            if _is_queue_id(child):
                self._link(instance, message, line, time, "forward", child, False)
        return "status"

    def _from(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """qmgr's ``from=<s>, size=N, nrcpt=N (queue active)`` or ``from=<s>,
        status=expired, returned to sender``."""
        found = ACTIVE_LINE_FAST.fullmatch(rest) or ACTIVE_LINE.fullmatch(rest)
        if found is not None:
            if message is None:
                message = self._message(instance, qid, line, time)
            else:
                message.lines += 1
            message.sender, size, nrcpt = found.groups()
            message.size, message.nrcpt = int(size), int(nrcpt)
            if not message.actives:
                instance.incoming.pop(qid, None)
            message.actives.append((line, time))
            return "active"
        sender = read_expired(rest)
        if sender is None:
            return None
        message = self._message(instance, qid, line, time)
        message.sender = sender
        message.expired = (line, time)
        return "expired"

    def _removed_line(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """qmgr's (or postsuper's) ``removed``: the file left the queue."""
        if rest != "removed":
            return self._queue_other(instance, message, qid, line, time, tag, rest)
        if message is None:
            message = self._message(instance, qid, line, time)
        else:
            message.lines += 1
        self._removed(instance, message, line, time)
        return "removed"

    def _message_id(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """cleanup's ``message-id=<id>``: the file is queued (incoming)."""
        if not rest.startswith("message-id="):
            return None
        if message is None:
            message = self._message(instance, qid, line, time)
        else:
            message.lines += 1
        message.message_id = rest[11:]
        message.queued = (line, time)
        return "message-id"

    def _client(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """smtpd's ``client=C``: the file came from an SMTP client (and the session)."""
        client = read_client(rest)
        if client is None:
            return None
        message = self._message(instance, qid, line, time)
        self._arrived(message, tag.daemon, line, time)
        message.client = client
        if tag.daemon in _SESSION_DAEMONS:
            session = instance.sessions.get(tag.pid)
            if session is not None:
                session.messages.append((qid, message.msg))
        return "client"

    def _pickup(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """pickup's ``uid=N from=<s>``: the file came from sendmail/postdrop."""
        pickup = read_pickup(rest)
        if pickup is None:
            return None
        message = self._message(instance, qid, line, time)
        self._arrived(message, "pickup", line, time)
        message.uid = pickup[0]
        if message.sender is None:
            message.sender = pickup[1]
        return "pickup"

    def _notification(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """bounce's ``sender non-delivery notification: QID2`` (and the like)."""
        notification = read_notification(rest)
        if notification is None:
            return None
        postmaster, kind, child = notification
        message = self._message(instance, qid, line, time)
        self._link(instance, message, line, time, kind, child, postmaster)
        return "notification"

    def _queue_other(
        self,
        instance: _Instance,
        message: Message | None,
        qid: str,
        line: int,
        time: float,
        tag: Tag,
        rest: str,
    ) -> str | None:
        """The rarer ``QID: rest`` lines: resent-message-id, queue moves, access and content
        checks, warnings and the delivery agents' other lines."""
        if rest.startswith("resent-message-id="):
            self._message(instance, qid, line, time).resent_message_id = rest[18:]
            return "resent-message-id"
        move = _QUEUE_MOVES.get(rest)
        if move is not None:
            message = self._message(instance, qid, line, time)
            message.notes.append(Note(line, time, tag.daemon, move, "", rest))
            return "queue-move"
        check = read_check(rest)
        if check is not None:
            message = self._message(instance, qid, line, time)
            reject = Reject(
                line, time, tag.daemon, qid, *check, message.msg, instance.host, instance.instance
            )
            message.rejects.append(reject)
            if message.sender is None and reject.proto:  # the attributes were logged
                message.sender = reject.sender
            ending = _ENDINGS.get(reject.action)
            if ending and (tag.daemon == "cleanup" or reject.stage in _MESSAGE_STAGES):
                self._finish(instance, message, ending)
            return "header-check" if tag.daemon == "cleanup" else "reject"
        if rest.startswith(_SEVERITIES):
            self._message(instance, qid, line, time)
            self._notice(instance, line, time, tag.daemon, tag.pid, "warning", tag, rest)
            return "warning"
        if tag.daemon in _DELIVERY_AGENTS or tag.daemon == "qmgr":
            message = self._message(instance, qid, line, time)
            relay = ""
            kind = "info"
            if rest.startswith("host "):
                relay = rest[5:].split(" ", 1)[0]
                kind = "said" if " said: " in rest else "info"
            message.notes.append(Note(line, time, tag.daemon, kind, relay, rest))
            return "delivery-info"
        return None

    def _arrived(self, message: Message, origin: str, line: int, time: float) -> None:
        """smtpd's ``client=`` or pickup's line: the message entered the queue here."""
        message.origin = origin
        message.arrival = time
        message.arrival_line = line
        if not message.msg:
            message.msg = self._number()

    def _link(
        self,
        instance: _Instance,
        parent: Message,
        line: int,
        time: float,
        kind: str,
        qid: str,
        postmaster: bool,
    ) -> None:
        """Record that ``parent`` caused queue file ``qid`` and tell the child where it came
        from (unless it already knows)."""
        if not parent.msg:
            parent.msg = self._number()
        child = instance.queue.get(qid)
        waiting = False
        if child is None:
            child = instance.limbo.pop(qid, None)
            waiting = child is not None
        if child is None and qid in instance.released:  # its wait for this link was over
            parent.children.append(Link(line, time, kind, qid, postmaster, instance.released[qid]))
            return
        if child is None:  # named before its first line
            child = self._message(instance, qid, line, time)
            child.lines -= 1
        if child.origin == "unknown" and not child.parent:
            child.parent = parent.queue_id
            child.parent_msg = parent.msg
            if kind == "forward":
                child.origin = "forward"
                child.msg = parent.msg
            else:
                child.origin = "notification"
                child.notification = kind
                child.msg = self._next_notice
                self._next_notice += 1
            if waiting:
                self._out.append(child)
        elif waiting:  # pragma: no cover - a file in limbo has origin unknown
            instance.limbo[qid] = child
        parent.children.append(Link(line, time, kind, qid, postmaster, child.msg))

    def _finish(self, instance: _Instance, message: Message, how: str) -> None:
        """The file is gone without qmgr's ``removed`` (``rejected``, ``discarded``,
        ``abandoned``): yield it now."""
        message.gone = how
        del instance.queue[message.queue_id]
        instance.incoming.pop(message.queue_id, None)
        self._live -= 1
        if not message.msg:
            message.msg = self._number()
        self._out.append(message)

    def _sweep(self, now: float) -> None:
        """Give up what waited longer than ``stale`` (see the class docstring)."""
        self._sweep_at = now + max(self.stale / 4, 1.0)
        horizon = now - self.stale
        for instance in self._instances.values():
            incoming = instance.incoming
            while incoming:
                qid, since = next(iter(incoming.items()))
                if since > horizon:
                    break
                message = instance.queue.get(qid)
                if message is None or message.actives:
                    del incoming[qid]
                elif any(note.kind == "hold" for note in message.notes) or any(
                    reject.action == "hold" for reject in message.rejects
                ):
                    del incoming[qid]  # on hold: it may stay for days, legitimately
                else:
                    self._finish(instance, message, "abandoned")
            for session in list(instance.sessions.values()):
                if session.connect is not None and session.connect[1] <= horizon:
                    self._close(instance, session)
            for pid in [p for p, notes in instance.attempts.items() if notes[-1].time <= horizon]:
                self._attempt_notices(instance, pid, instance.attempts.pop(pid))

    def _removed(self, instance: _Instance, message: Message, line: int, time: float) -> None:
        message.removed = (line, time)
        message.gone = "removed"
        del instance.queue[message.queue_id]
        instance.incoming.pop(message.queue_id, None)
        self._live -= 1
        if message.msg or self.grace <= 0:
            if not message.msg:
                message.msg = self._number()
            self._out.append(message)
            return
        instance.limbo[message.queue_id] = message
        self._limbo.append((time + self.grace, instance, message.queue_id))
        if time + self.grace < self._due:
            self._due = time + self.grace
        if len(self._limbo) > _LIMBO_LIMIT:
            self._release(self._limbo[0][0])

    def _release(self, now: float) -> None:
        """Yield the files of unknown origin whose wait for a link is over."""
        limbo = self._limbo
        while limbo and limbo[0][0] <= now:
            _, instance, qid = limbo.popleft()
            message = instance.limbo.pop(qid, None)
            if message is not None:
                message.msg = self._number()
                self._out.append(message)
                released = instance.released
                released[qid] = message.msg
                if len(released) > _RELEASED_KEPT:
                    del released[next(iter(released))]

    # -- lines without a queue id --------------------------------------------------------------

    def _notice(
        self,
        instance: _Instance,
        line: int,
        time: float,
        daemon: str,
        pid: int | None,
        kind: str,
        tag: Tag | None = None,
        text: str = "",
    ) -> str:
        program = tag.program if tag is not None else f"{instance.instance}/{daemon}"
        self._out.append(Notice(line, time, instance.host, program, daemon, pid, kind, text))
        return kind

    def _attempt_notices(self, instance: _Instance, pid: int | None, notes: list[Note]) -> None:
        """smtp connection failures no queue-id line claimed, as notices."""
        for note in notes:
            program = f"{instance.instance}/{note.daemon}"
            self._out.append(
                Notice(
                    note.line,
                    note.time,
                    instance.host,
                    program,
                    note.daemon,
                    pid,
                    "delivery-info",
                    note.text,
                )
            )

    def _severity(self, instance: _Instance, line: int, time: float, tag: Tag, text: str) -> bool:
        if text.startswith(_SEVERITIES):
            self._notice(instance, line, time, tag.daemon, tag.pid, "warning", tag, text)
            return True
        return False

    def _other(self, instance: _Instance, line: int, time: float, tag: Tag, text: str) -> str:
        """Lines without a queue id of the delivery agents and of any other daemon."""
        if self._severity(instance, line, time, tag, text):
            return "warning"
        attempt = read_connect_to(text)
        if attempt is not None:
            note = Note(line, time, tag.daemon, "connect", attempt[0], text)
            instance.attempts.setdefault(tag.pid, []).append(note)
            return "delivery-info"
        if tag.daemon in _DELIVERY_AGENTS:  # TLS, connection caching, ...
            return self._notice(
                instance, line, time, tag.daemon, tag.pid, "delivery-info", tag, text
            )
        self.stats.example("other", line, text)
        return self._notice(instance, line, time, tag.daemon, tag.pid, "other", tag, text)

    def _smtpd(
        self, instance: _Instance, line: int, time: float, tag: Tag, text: str
    ) -> str | None:
        sessions = instance.sessions
        if text.startswith("connect from "):
            client = text[13:]
            if not is_client(client):
                return None
            old = sessions.get(tag.pid)
            if old is not None:
                self._close(instance, old)
            sessions[tag.pid] = Session(
                instance.host, instance.instance, tag.daemon, tag.pid, client, (line, time)
            )
            self._live += 1
            if self._live > self.stats.peak_live:
                self.stats.peak_live = self._live
            return "connect"
        if text.startswith("disconnect from "):
            found = read_disconnect(text)
            if found is None:
                return None
            session = sessions.get(tag.pid)
            if session is None:  # the log began during the connection
                session = Session(
                    instance.host, instance.instance, tag.daemon, tag.pid, found[0], None
                )
                self._live += 1
            session.disconnect = (line, time)
            session.commands = found[1]
            self._close(instance, session)
            return "disconnect"
        if text.startswith("NOQUEUE: "):
            check = read_check(text[9:])
            if check is None:
                return None
            reject = Reject(line, time, tag.daemon, "", *check, 0, instance.host, instance.instance)
            session = sessions.get(tag.pid)
            if session is None:
                self._out.append(reject._replace(msg=self._number()))
            else:
                session.rejects.append(reject)
                session.positions.append(len(session.messages))
            return "reject"
        if self._severity(instance, line, time, tag, text):
            return "warning"
        session = sessions.get(tag.pid)
        if session is not None:
            session.notes.append(Note(line, time, tag.daemon, "session", "", text))
            return "session"
        self.stats.example("other", line, text)
        return self._notice(instance, line, time, tag.daemon, tag.pid, "other", tag, text)

    def _close(self, instance: _Instance, session: Session) -> None:
        """Number the session's NOQUEUE transactions and yield it."""
        if instance.sessions.get(session.pid) is session:
            del instance.sessions[session.pid]
        self._live -= 1
        if session.rejects:
            session.rejects = _number_transactions(session, self._number)
        self._out.append(session)

    def _postscreen(
        self, instance: _Instance, line: int, time: float, tag: Tag, text: str
    ) -> str | None:
        if text.startswith("NOQUEUE: "):
            check = read_check(text[9:])
            if check is None:
                return None
            self._out.append(
                Reject(
                    line,
                    time,
                    tag.daemon,
                    "",
                    *check,
                    self._number(),
                    instance.host,
                    instance.instance,
                )
            )
            return "reject"
        if self._severity(instance, line, time, tag, text):
            return "warning"
        word = text.split(" ", 1)[0]
        if word.isupper() and word.isalpha():
            return self._notice(instance, line, time, tag.daemon, tag.pid, "postscreen", tag, text)
        return self._other(instance, line, time, tag, text)

    def _dnsblog(self, instance: _Instance, line: int, time: float, tag: Tag, text: str) -> str:
        if text.startswith("addr ") and " listed by domain " in text:
            return self._notice(instance, line, time, tag.daemon, tag.pid, "dnsblog", tag, text)
        return self._other(instance, line, time, tag, text)

    def _master(self, instance: _Instance, line: int, time: float, tag: Tag, text: str) -> str:
        if text.startswith(("daemon started", "reload", "terminating")):
            return self._notice(instance, line, time, tag.daemon, tag.pid, "master", tag, text)
        return self._other(instance, line, time, tag, text)

    def _postfix_script(
        self, instance: _Instance, line: int, time: float, tag: Tag, text: str
    ) -> str:
        if self._severity(instance, line, time, tag, text):
            return "warning"
        return self._notice(instance, line, time, tag.daemon, tag.pid, "postfix-script", tag, text)

    def _postsuper(self, instance: _Instance, line: int, time: float, tag: Tag, text: str) -> str:
        if text.startswith(_POSTSUPER_TOTALS):
            return self._notice(instance, line, time, tag.daemon, tag.pid, "queue-move", tag, text)
        return self._other(instance, line, time, tag, text)

    def _statistics(self, instance: _Instance, line: int, time: float, tag: Tag, text: str) -> str:
        if text.startswith("statistics: "):
            return self._notice(instance, line, time, tag.daemon, tag.pid, "statistics", tag, text)
        return self._other(instance, line, time, tag, text)


def _number_transactions(session: Session, number: Callable[[], int]) -> list[Reject]:
    """Give every NOQUEUE refusal of ``session`` the msg of its transaction.

    Consecutive refusals with the same sender and no queue file between them are one
    transaction (a refusal at MAIL is one by itself). The transaction right before a queue
    file may be that file's (some recipients refused, then one accepted): it is when the
    disconnect tally's accepted ``mail=`` count equals the files plus the other transactions
    that passed MAIL; otherwise every transaction is a refused one with a number of its own.
    """
    rejects = session.rejects
    positions = session.positions
    groups: list[list[int]] = []
    for index, reject in enumerate(rejects):
        if (
            groups
            and reject.stage != "MAIL"
            and rejects[groups[-1][-1]].stage != "MAIL"
            and positions[groups[-1][-1]] == positions[index]
            and rejects[groups[-1][-1]].sender == reject.sender
        ):
            groups[-1].append(index)
        else:
            groups.append([index])
    files = session.messages
    candidates: dict[int, int] = {}  # group -> msg of the file created right after it
    for at, group in enumerate(groups):
        position = positions[group[-1]]
        last_before_file = at + 1 == len(groups) or positions[groups[at + 1][-1]] != position
        if position < len(files) and last_before_file and rejects[group[0]].stage != "MAIL":
            candidates[at] = files[position][1]
    passed_mail = sum(1 for group in groups if rejects[group[0]].stage != "MAIL")
    tally = session.tally("mail")
    if tally is not None and tally[0] != len(files) + passed_mail - len(candidates):
        candidates = {}
    out = list(rejects)
    for at, group in enumerate(groups):
        msg = candidates.get(at) or number()
        for index in group:
            out[index] = rejects[index]._replace(msg=msg)
    return out


def parse_log(
    source: str | Path | Iterable[str],
    year: int | None = None,
    *,
    reference: date | datetime | None = None,
    tz: tzinfo = UTC,
    grace: float = 10.0,
) -> tuple[list[Item], ParseStats]:
    """Parse a whole log (a path, plain or compressed, or an iterable of lines) into a list.

    For a path without ``year`` or ``reference``, the file's modification time is the
    reference (the log is not later than its last write). Holds every item in memory; iterate
    :meth:`PostfixLogParser.parse` instead for a big log.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if year is None and reference is None:
            reference = datetime.fromtimestamp(path.stat().st_mtime, tz)
        parser = PostfixLogParser(year, reference=reference, tz=tz, grace=grace)
        return list(parser.parse_file(path)), parser.stats
    parser = PostfixLogParser(year, reference=reference, tz=tz, grace=grace)
    return list(parser.parse(source)), parser.stats
