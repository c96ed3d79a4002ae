"""Turn a parsed Postfix log into mailsim's event log (DESIGN.md section 3) and fact tables.

The point: ``mailsim.analysis.Run(read_log(path).events)`` analyses a real Postfix log exactly as
it analyses a simulated run, because the rows follow the schema and the conventions of its text
columns (docs/design.md section 3):

================================  =============  ==========================================
Postfix line                      event          columns
================================  =============  ==========================================
smtpd ``connect from C``          ``connect``    relay ``C``; msg: the session's first
                                                 transaction
smtpd ``[NOQUEUE|QID]: reject:``  ``reject``     dsn, relay ``C``, detail ``RCPT from C:
                                                 554 5.7.1 <r>: ...``; recipient for RCPT
smtpd ``QID: client=C``           ``received``   relay ``C``, detail ``client=C``
pickup ``QID: uid=N from=<s>``    ``received``   daemon pickup, detail ``uid=N``
cleanup ``QID: message-id=<i>``   ``queued``     detail ``message-id=<i>``
qmgr ``(queue active)``           ``active``     detail ``nrcpt=N`` (every pass)
(after a pass with deferrals)     ``deferred``   message-level, detail ``queue deferred``:
                                                 Postfix logs no line for the move to the
                                                 deferred queue; the row has the time of
                                                 the pass's last status line
smtp/lmtp ``status=sent``         ``sent``       relay, dsn, detail ``<reason>[ (orig_to=<a>)]
                                                 delays=a/b/c/d``
local/virtual/pipe/discard sent   ``delivered``  (lmtp too, unless the reply says ``queued
                                                 as``); local's ``forwarded as QID`` is a
                                                 ``sent`` with relay ``local``, as the
                                                 simulator logs it
``status=deferred|bounced``       same name      per recipient, any daemon (error too)
``status=expired`` (recipient)    ``expired``    with the recipient
qmgr ``status=expired, ...``      ``expired``    message-level, detail ``returned to sender``
qmgr/postsuper ``removed``        ``removed``
bounce ``sender non-delivery      ``bounce_      on the parent, detail as logged
notification: QID``               notice``
bounce ``... delay notification`` ``delay_       on the parent
                                  warning``
smtp ``connect to H[A]:25: why``  ``connect_     relay ``H[A]:25``, detail as logged, with the
                                  fail``         msg of the attempt's message
smtp ``QID: host H[A] said: ..``  ``skipped``    relay ``H[A]``
postsuper/cleanup hold            ``hold``,      ``released``, ``requeued`` likewise
================================  =============  ==========================================

A message refused at the end of DATA (a header/body check, a milter) or abandoned by its client
was never accepted: as in a simulated run, it has no ``received`` or ``queued`` row and its rows
carry no queue id (Postfix deleted the file; :attr:`PostfixLog.messages` keeps the id).

``size``, ``sender``, ``recipient``, ``dsn`` and ``relay`` are as Postfix logged them; every row
of a queue file carries the file's sender and size (qmgr's ``from=`` and ``size=``). ``node`` is
the log's host field (``neo``; ``neo/postfix-out`` for a second instance), or what ``nodes`` maps
it to. ``t`` is seconds since the first Postfix line (:attr:`PostfixLog.start` is that moment).
``msg`` is the parser's run-wide number (``m42``): forwarded and alias copies share their
parent's, notifications have their own from 2**30 up; :attr:`PostfixLog.links` joins them.
Rows are in log order (a row's place is its line's).

Known difference from a simulated run: Postfix logs a user who keeps a copy and forwards
(``.forward`` with ``\\user, other@remote``) as two lines for the same address (``delivered to
mailbox``, then ``forwarded as QID``); the rows keep both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mailsim.eventlog import COLUMNS, format_msg
from mailsim.postfixlog.hops import join_hops
from mailsim.postfixlog.parse import Item, PostfixLogParser
from mailsim.postfixlog.records import (
    Delivery,
    Message,
    Notice,
    ParseStats,
    Reject,
    Session,
)

__all__ = ["EventBuilder", "PostfixLog", "node_name", "outcome_event", "read_log"]

NodeMap = Mapping[str, str] | Callable[[str], str] | None

#: status line status -> event (``sent`` depends on the daemon, see :func:`outcome_event`)
_STATUS_EVENTS = {"deferred": "deferred", "bounced": "bounced", "expired": "expired"}
_DELIVERING = frozenset(("local", "virtual", "pipe", "discard"))
_NOTICE_EVENTS = {"non-delivery": "bounce_notice", "delay": "delay_warning"}
#: how a file can end without ever having been accepted into the queue
_NEVER_QUEUED = frozenset(("rejected", "discarded", "abandoned"))
_NOTE_EVENTS = {
    "connect": "connect_fail",
    "said": "skipped",
    "hold": "hold",
    "released": "released",
    "requeued": "requeued",
}


def node_name(host: str, instance: str = "postfix") -> str:
    """The default node of a line: the host field, ``host/instance`` for a second instance."""
    return host if instance == "postfix" else f"{host}/{instance}"


def outcome_event(delivery: Delivery) -> str:
    """The event of a status line: ``sent`` by smtp/lmtp (and local's ``forwarded as``),
    ``delivered`` by local, virtual, pipe, discard and by lmtp when the reply names no next
    queue file; ``deferred``, ``bounced``, ``expired`` as logged; ``""`` for verify(8)'s
    probe results (``deliverable``, ``undeliverable``), which have no event."""
    status = delivery.status
    if status != "sent":
        return _STATUS_EVENTS.get(status, "")
    daemon = delivery.daemon
    if daemon in _DELIVERING:
        return "sent" if delivery.reason.startswith("forwarded as ") else "delivered"
    if daemon == "lmtp" and "queued as " not in delivery.reason:
        return "delivered"
    return "sent"


def _detail(delivery: Delivery) -> str:
    """reason, then `` (orig_to=<a>)``, then `` delays=a/b/c/d`` (docs/design.md section 3)."""
    text = delivery.reason
    if delivery.orig_to:
        text = f"{text} (orig_to=<{delivery.orig_to}>)"
    if delivery.delays:
        text = f"{text} delays={delivery.delays}"
    return text


def _reject_detail(reject: Reject) -> str:
    """``RCPT from C: 554 5.7.1 <r>: text`` (an SMTP stage, as the simulator writes it) or, for
    cleanup's header/body checks, ``header Subject: x: text``."""
    if reject.stage.isupper():
        return f"{reject.stage} from {reject.client}: {reject.text}"
    return f"{reject.stage} {reject.reply}"


@dataclass(frozen=True)
class PostfixLog:
    """A parsed Postfix log: the event log and the facts behind it.

    - ``events``: the event log (:data:`mailsim.eventlog.COLUMNS`), ready for
      ``mailsim.analysis.Run``;
    - ``messages``: one row per queue file: node, queue_id, msg, origin (smtpd, pickup,
      forward, notification, unknown), notification (its kind), parent_queue_id, parent_msg,
      client, uid, message_id, sender, size, nrcpt, t_arrival, t_queued, t_active (first),
      passes (times through the active queue), t_expired, t_removed, gone (removed,
      rejected, discarded, abandoned; ``""``: still queued at the end), deliveries (status
      lines), recipients (distinct), line (of its first line);
    - ``deliveries``: one row per status line: node, msg, queue_id, t, line, daemon, event,
      recipient, orig_to, relay, conn_use, delay, delay_a..delay_d, dsn, status, reason;
    - ``links``: one row per copy or notification a queue file caused: node, parent_queue_id,
      parent_msg, kind (forward, non-delivery, delay, ...), postmaster, queue_id, msg, t;
    - ``rejects``: every access or content decision: node, msg, queue_id, t, line, daemon,
      action, stage, client, code, dsn, reply, sender, recipient;
    - ``sessions``: one row per smtpd connection: node, pid, client, t_connect,
      t_disconnect, commands, messages, rejects;
    - ``notices``: the other lines kept (warnings, master, postscreen, ...): node, t, line,
      daemon, kind, text;
    - ``stats``: the parse's counts; ``start``: the moment ``t = 0`` (the first Postfix line),
      None for a log without one.
    """

    events: pd.DataFrame
    messages: pd.DataFrame
    deliveries: pd.DataFrame
    links: pd.DataFrame
    rejects: pd.DataFrame
    sessions: pd.DataFrame
    notices: pd.DataFrame
    stats: ParseStats
    start: datetime | None


class EventBuilder:
    """Collect parsed items and build a :class:`PostfixLog` (see the module docstring).

    ``nodes`` maps a line's node (:func:`node_name` of host and instance) to the name the
    event log uses: a mapping (names not in it stay as they are) or a function.
    """

    def __init__(self, nodes: NodeMap = None) -> None:
        self._nodes = nodes
        self._node_cache: dict[tuple[str, str], str] = {}
        self._events = _EventRows()
        self._messages: list[tuple[Any, ...]] = []
        self._deliveries: list[tuple[Any, ...]] = []
        self._links: list[tuple[Any, ...]] = []
        self._rejects: list[tuple[Any, ...]] = []
        self._sessions: list[tuple[Any, ...]] = []
        self._notices: list[tuple[Any, ...]] = []

    def node(self, host: str, instance: str) -> str:
        """The event log's node for a line of ``host`` and Postfix ``instance``."""
        key = (host, instance)
        name = self._node_cache.get(key)
        if name is None:
            name = node_name(host, instance)
            nodes = self._nodes
            if callable(nodes):
                name = nodes(name)
            elif nodes is not None:
                name = nodes.get(name, name)
            self._node_cache[key] = name
        return name

    def add(self, item: Item) -> None:
        """Turn one parsed item into rows."""
        if isinstance(item, Message):
            self._message(item)
        elif isinstance(item, Session):
            self._session(item)
        elif isinstance(item, Reject):
            self._reject(self.node(item.host, item.instance), item, "", 0)
        else:
            self._notice(item)

    def extend(self, items: Iterable[Item]) -> None:
        """:meth:`add` every item."""
        for item in items:
            self.add(item)

    def _row(
        self,
        key: int,
        time: float,
        node: str,
        daemon: str,
        event: str,
        msg: int,
        queue_id: str,
        sender: str,
        recipient: str,
        size: int,
        dsn: str,
        relay: str,
        detail: str,
    ) -> None:
        events = self._events
        row = (key, time, node, daemon, event, msg, queue_id, sender, recipient, size, dsn, relay)
        events.append((*row, detail))
        if len(events.buffer) >= events.CHUNK:
            events.compact()

    def _message(self, message: Message) -> None:
        node = self.node(message.host, message.instance)
        msg, qid = message.msg, message.queue_id
        sender = message.sender or ""
        size = message.size or 0
        row = self._row
        accepted = message.gone not in _NEVER_QUEUED
        if not accepted:  # the file was deleted before the message was accepted
            qid = ""
        if accepted and message.origin in ("smtpd", "qmqpd", "pickup"):
            pickup = message.origin == "pickup"
            row(
                message.arrival_line * 4,
                message.arrival,
                node,
                message.origin,
                "received",
                msg,
                qid,
                sender,
                "",
                size,
                "",
                message.client,
                f"uid={message.uid}" if pickup else f"client={message.client}",
            )
        if message.queued is not None and accepted:
            line, time = message.queued
            detail = f"message-id={message.message_id}"
            row(
                line * 4,
                time,
                node,
                "cleanup",
                "queued",
                msg,
                qid,
                sender,
                "",
                size,
                "",
                "",
                detail,
            )
        for line, time in message.actives:
            detail = f"nrcpt={message.nrcpt}"
            row(line * 4, time, node, "qmgr", "active", msg, qid, sender, "", size, "", "", detail)
        for delivery in message.deliveries:
            event = outcome_event(delivery)
            if event:
                row(
                    delivery.line * 4,
                    delivery.time,
                    node,
                    delivery.daemon,
                    event,
                    msg,
                    qid,
                    sender,
                    delivery.recipient,
                    size,
                    delivery.dsn,
                    delivery.relay,
                    _detail(delivery),
                )
            split = delivery.delay_split or (np.nan, np.nan, np.nan, np.nan)
            self._deliveries.append(
                (
                    node,
                    format_msg(msg),
                    message.queue_id,
                    delivery.time,
                    delivery.line,
                    delivery.daemon,
                    event,
                    delivery.recipient,
                    delivery.orig_to,
                    delivery.relay,
                    int(delivery.conn_use) if delivery.conn_use.isdigit() else 0,
                    _float(delivery.delay),
                    *split,
                    delivery.dsn,
                    delivery.status,
                    delivery.reason,
                )
            )
        self._deferrals(node, message, sender, size)
        for reject in message.rejects:
            self._reject(node, reject if accepted else reject._replace(queue_id=""), sender, size)
        for note in message.notes:
            event = _NOTE_EVENTS.get(note.kind, "")
            if event:
                row(
                    note.line * 4,
                    note.time,
                    node,
                    note.daemon,
                    event,
                    msg,
                    qid,
                    sender,
                    "",
                    size,
                    "",
                    note.relay,
                    note.text,
                )
        for link in message.children:
            event = _NOTICE_EVENTS.get(link.kind, "")
            if event:
                whom = "postmaster" if link.postmaster else "sender"
                detail = f"{whom} {link.kind} notification: {link.queue_id}"
                row(
                    link.line * 4,
                    link.time,
                    node,
                    "bounce",
                    event,
                    msg,
                    qid,
                    sender,
                    "",
                    size,
                    "",
                    "",
                    detail,
                )
            self._links.append(
                (
                    node,
                    message.queue_id,
                    format_msg(msg),
                    link.kind,
                    link.postmaster,
                    link.queue_id,
                    format_msg(link.msg),
                    link.time,
                    link.line,
                )
            )
        if message.expired is not None:
            line, time = message.expired
            row(
                line * 4,
                time,
                node,
                "qmgr",
                "expired",
                msg,
                qid,
                sender,
                "",
                size,
                "",
                "",
                "returned to sender",
            )
        if message.removed is not None:
            line, time = message.removed
            row(line * 4, time, node, "qmgr", "removed", msg, qid, sender, "", size, "", "", "")
        m = message
        self._messages.append(
            (
                node,
                m.queue_id,
                format_msg(m.msg),
                m.origin,
                m.notification,
                m.parent,
                format_msg(m.parent_msg),
                m.client,
                -1 if m.uid is None else m.uid,
                m.message_id,
                m.sender,
                -1 if m.size is None else m.size,
                -1 if m.nrcpt is None else m.nrcpt,
                m.arrival,
                _at(m.queued),
                _at(m.actives[0] if m.actives else None),
                len(m.actives),
                _at(m.expired),
                _at(m.removed),
                m.gone,
                len(m.deliveries),
                len(m.recipients()),
                m.first_line,
            )
        )

    def _deferrals(self, node: str, message: Message, sender: str, size: int) -> None:
        """Message-level ``deferred`` after each pass through the active queue that left
        recipients deferred and was followed by another pass (or by the end of the log)."""
        actives = message.actives
        if not actives:
            return
        deliveries = message.deliveries
        index = 0
        for number, (line, _) in enumerate(actives):
            following = actives[number + 1][0] if number + 1 < len(actives) else None
            last: Delivery | None = None
            deferred = False
            while index < len(deliveries) and (
                following is None or deliveries[index].line < following
            ):
                if deliveries[index].line > line:
                    last = deliveries[index]
                    deferred = deferred or last.status == "deferred"
                index += 1
            if last is None or not deferred:
                continue
            if following is None and (message.expired is not None or message.removed is not None):
                continue
            self._row(
                last.line * 4 + 1,
                last.time,
                node,
                "qmgr",
                "deferred",
                message.msg,
                message.queue_id,
                sender,
                "",
                size,
                "",
                "",
                "queue deferred",
            )

    def _reject(self, node: str, reject: Reject, sender: str, size: int) -> None:
        r = reject
        self._rejects.append(
            (
                node,
                format_msg(r.msg),
                r.queue_id,
                r.time,
                r.line,
                r.daemon,
                r.action,
                r.stage,
                r.client,
                r.code,
                r.dsn,
                r.reply,
                r.sender,
                r.recipient,
            )
        )
        if reject.action in ("reject", "milter-reject"):
            event = "reject"
        elif reject.action in ("hold", "milter-hold"):
            event = "hold"
        else:
            return
        recipient = reject.recipient if reject.stage == "RCPT" else ""
        self._row(
            reject.line * 4,
            reject.time,
            node,
            reject.daemon,
            event,
            reject.msg,
            reject.queue_id,
            sender or reject.sender,
            recipient,
            size,
            reject.dsn,
            reject.client,
            _reject_detail(reject),
        )

    def _session(self, session: Session) -> None:
        node = self.node(session.host, session.instance)
        for reject in session.rejects:
            self._reject(node, reject, "", 0)
        first = 0
        if session.rejects and session.positions and session.positions[0] == 0:
            first = session.rejects[0].msg
        elif session.messages:
            first = session.messages[0][1]
        elif session.rejects:
            first = session.rejects[0].msg
        if session.connect is not None:
            line, time = session.connect
            self._row(
                line * 4,
                time,
                node,
                session.daemon,
                "connect",
                first,
                "",
                "",
                "",
                0,
                "",
                session.client,
                "",
            )
        s = session
        self._sessions.append(
            (
                node,
                -1 if s.pid is None else s.pid,
                s.client,
                _at(s.connect),
                _at(s.disconnect),
                s.commands,
                len(s.messages),
                len(s.rejects),
                s.connect[0] if s.connect else (s.disconnect or (0, 0.0))[0],
            )
        )

    def _notice(self, notice: Notice) -> None:
        instance = notice.program.split("/", 1)[0]
        node = self.node(notice.host, instance)
        if notice.kind == "delivery-info" and notice.text.startswith("connect to "):
            relay = notice.text[11:].split(": ", 1)[0]
            self._row(
                notice.line * 4,
                notice.time,
                node,
                notice.daemon,
                "connect_fail",
                0,
                "",
                "",
                "",
                0,
                "",
                relay,
                notice.text,
            )
        self._notices.append(
            (node, notice.time, notice.line, notice.daemon, notice.kind, notice.text)
        )

    # -- tables --------------------------------------------------------------------------------

    def build(self, stats: ParseStats, tz: tzinfo = UTC) -> PostfixLog:
        """Return the :class:`PostfixLog` of everything added; ``t = 0`` is the first line."""
        origin = stats.first_time if stats.first_time is not None else 0.0
        start = None if stats.first_time is None else datetime.fromtimestamp(origin, tz)
        return PostfixLog(
            events=self._events.frame(origin),
            messages=_table(self._messages, _MESSAGE_COLUMNS, origin),
            deliveries=_table(self._deliveries, _DELIVERY_COLUMNS, origin),
            links=_table(self._links, _LINK_COLUMNS, origin),
            rejects=_table(self._rejects, _REJECT_COLUMNS, origin),
            sessions=_table(self._sessions, _SESSION_COLUMNS, origin),
            notices=_table(self._notices, _NOTICE_COLUMNS, origin),
            stats=stats,
            start=start,
        )


class _EventRows:
    """The event rows, compacted every 65,536 rows into numpy columns (strings factorised per
    chunk, in C), so a log of millions of lines costs bytes per row, not a tuple of objects;
    :meth:`frame` puts them in log order (each row's key: 4 x its line number, plus 1 for a row
    that follows its line's own)."""

    CHUNK = 1 << 16

    def __init__(self) -> None:
        self.buffer: list[tuple[Any, ...]] = []
        self.append = self.buffer.append
        self.numbers: dict[str, list[np.ndarray[Any, Any]]] = {name: [] for name in _NUMBERS}
        self.codes: dict[str, list[np.ndarray[Any, Any]]] = {name: [] for name in _STRINGS}
        self.uniques: dict[str, list[np.ndarray[Any, Any]]] = {name: [] for name in _STRINGS}

    def compact(self) -> None:
        if not self.buffer:
            return
        columns = list(zip(*self.buffer, strict=True))
        self.buffer.clear()
        for name, kind in _NUMBERS.items():
            self.numbers[name].append(np.asarray(columns[_ROW_INDEX[name]], dtype=kind))
        for name in _STRINGS:
            codes, uniques = pd.factorize(np.asarray(columns[_ROW_INDEX[name]], dtype=object))
            self.codes[name].append(codes.astype(np.int32))
            self.uniques[name].append(np.asarray(uniques, dtype=object))

    def frame(self, origin: float) -> pd.DataFrame:
        self.compact()
        if not self.numbers["key"]:
            empty: dict[str, Any] = {name: pd.Categorical([]) for name in COLUMNS}
            empty["t"], empty["size"] = np.zeros(0), np.zeros(0, dtype=np.int64)
            return pd.DataFrame(empty, columns=list(COLUMNS))
        order = np.argsort(np.concatenate(self.numbers["key"]), kind="stable")
        data: dict[str, Any] = {"t": np.concatenate(self.numbers["t"])[order] - origin}
        msg = np.concatenate(self.numbers["msg"])[order]
        numbers, inverse = np.unique(msg, return_inverse=True)
        labels = pd.Index([format_msg(int(n)) for n in numbers], dtype=object)
        data["msg"] = pd.Categorical.from_codes(inverse.astype(np.int32), categories=labels)
        data["size"] = np.concatenate(self.numbers["size"])[order]
        for name in _STRINGS:
            every = np.concatenate(self.uniques[name])
            remap, categories = pd.factorize(every)
            offsets = np.cumsum([0] + [len(u) for u in self.uniques[name][:-1]])
            chunks = zip(offsets, self.codes[name], strict=True)
            codes = np.concatenate([remap[offset + chunk] for offset, chunk in chunks])[order]
            data[name] = pd.Categorical.from_codes(
                codes.astype(np.int32), categories=pd.Index(categories, dtype=object)
            )
        return pd.DataFrame(data, columns=list(COLUMNS))


#: a buffered row: (key, t, node, daemon, event, msg, queue_id, sender, recipient, size, dsn,
#: relay, detail)
_ROW_INDEX = {name: index for index, name in enumerate(("key", *COLUMNS))}
_STRINGS = tuple(name for name in COLUMNS if name not in ("t", "msg", "size"))
_NUMBERS: dict[str, type[np.generic]] = {
    "key": np.int64,
    "t": np.float64,
    "msg": np.int64,
    "size": np.int64,
}


def _table(rows: list[tuple[Any, ...]], columns: tuple[str, ...], origin: float) -> pd.DataFrame:
    """A fact table from row tuples in ``columns`` order; ``t*`` columns hold POSIX times and
    become seconds since ``origin``; rows are put in order of their ``line``."""
    data: dict[str, Any] = {}
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    for name, column in zip(columns, values, strict=True):
        if name.startswith("t") and name != "text":
            data[name] = np.asarray(column, dtype=np.float64) - origin
        else:
            data[name] = list(column)
    table = pd.DataFrame(data, columns=list(columns))
    return table.sort_values("line", kind="stable", ignore_index=True)


_MESSAGE_COLUMNS = (
    "node",
    "queue_id",
    "msg",
    "origin",
    "notification",
    "parent_queue_id",
    "parent_msg",
    "client",
    "uid",
    "message_id",
    "sender",
    "size",
    "nrcpt",
    "t_arrival",
    "t_queued",
    "t_active",
    "passes",
    "t_expired",
    "t_removed",
    "gone",
    "deliveries",
    "recipients",
    "line",
)
_DELIVERY_COLUMNS = (
    "node",
    "msg",
    "queue_id",
    "t",
    "line",
    "daemon",
    "event",
    "recipient",
    "orig_to",
    "relay",
    "conn_use",
    "delay",
    "delay_a",
    "delay_b",
    "delay_c",
    "delay_d",
    "dsn",
    "status",
    "reason",
)
_LINK_COLUMNS = (
    "node",
    "parent_queue_id",
    "parent_msg",
    "kind",
    "postmaster",
    "queue_id",
    "msg",
    "t",
    "line",
)
_REJECT_COLUMNS = (
    "node",
    "msg",
    "queue_id",
    "t",
    "line",
    "daemon",
    "action",
    "stage",
    "client",
    "code",
    "dsn",
    "reply",
    "sender",
    "recipient",
)
_SESSION_COLUMNS = (
    "node",
    "pid",
    "client",
    "t_connect",
    "t_disconnect",
    "commands",
    "messages",
    "rejects",
    "line",
)
_NOTICE_COLUMNS = ("node", "t", "line", "daemon", "kind", "text")


def _at(moment: tuple[int, float] | None) -> float:
    return np.nan if moment is None else moment[1]


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def read_log(
    source: str | Path | Iterable[str],
    year: int | None = None,
    *,
    reference: date | datetime | None = None,
    tz: tzinfo = UTC,
    nodes: NodeMap = None,
    grace: float = 10.0,
) -> PostfixLog:
    """Parse a Postfix log (a path, plain or compressed, or lines) into a :class:`PostfixLog`.

    ``year``/``reference``/``tz`` read classic syslog timestamps (for a path with neither,
    the file's modification time is the reference); ``nodes`` renames hosts (``{"neo":
    "neo.firma1.intr"}``). The parse streams; the tables hold one row per fact
    (:func:`build_log`).
    """
    if isinstance(source, str | Path) and year is None and reference is None:
        reference = datetime.fromtimestamp(Path(source).stat().st_mtime, tz)
    parser = PostfixLogParser(year, reference=reference, tz=tz, grace=grace)
    items = parser.parse_file(source) if isinstance(source, str | Path) else parser.parse(source)
    return build_log(items, parser.stats, nodes=nodes, tz=tz)


def build_log(
    items: Iterable[Item], stats: ParseStats, *, nodes: NodeMap = None, tz: tzinfo = UTC
) -> PostfixLog:
    """The :class:`PostfixLog` of parsed ``items`` (``stats``: their parser's counts, complete
    once the items are consumed); a message that passed several MTAs of the log has one
    ``msg`` on all of them (:func:`~mailsim.postfixlog.hops.join_hops`)."""
    builder = EventBuilder(nodes)
    builder.extend(items)
    log = builder.build(stats, tz)
    events, messages, deliveries, links, rejects = join_hops(
        log.events, log.messages, log.deliveries, log.links, log.rejects
    )
    return dataclasses.replace(
        log, events=events, messages=messages, deliveries=deliveries, links=links, rejects=rejects
    )
