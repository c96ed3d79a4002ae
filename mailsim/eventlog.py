"""The event log: one schema for both engines (DESIGN.md section 3).

Rows are appended as plain tuples (cheap on the simulation's hot path) and compacted into
columnar arrays of interned string codes every few tens of thousands of rows, so a million-message
run costs tens of bytes per event rather than a Python object per field. ``msg`` and ``queue_id``
are kept as integers and formatted on the way out (``m42``; queue ids as upper-case hex, the way
Postfix prints its short queue ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "EVENTS",
    "DAEMON_NAMES",
    "Event",
    "EventLog",
    "format_delays",
    "format_msg",
    "format_qid",
]

COLUMNS: tuple[str, ...] = (
    "t",
    "node",
    "daemon",
    "event",
    "msg",
    "queue_id",
    "sender",
    "recipient",
    "size",
    "dsn",
    "relay",
    "detail",
)

#: The closed vocabulary of ``event``, with what each means. Message-level queue transitions
#: (``queued``, ``active``, message-level ``deferred``, ``removed``, ``expired``) have an empty
#: recipient; delivery outcomes (``sent``, ``delivered``, ``deferred``, ``bounced``) name one.
EVENTS: dict[str, str] = {
    "submit": "a client (MUA or outside host) starts to hand a message to an MTA",
    "connect": "an smtpd process takes the client's connection (Postfix 'connect from')",
    "reject": "smtpd refuses a command: recipient, sender or message (dsn and reply in detail)",
    "received": "smtpd accepted the message (250 after DATA); queue_id assigned",
    "queued": "cleanup wrote the message to the incoming queue",
    "active": "qmgr moved the message into the active queue",
    "deferred": "a delivery attempt failed temporarily (with recipient), or qmgr moved the "
    "message to the deferred queue (without)",
    "sent": "the smtp client handed the recipient to the next MTA (relay names it)",
    "delivered": "local delivery (through the MDA) put the message in the recipient's mailbox, "
    "filed it into a folder or discarded it by an MDA rule (detail says which)",
    "bounced": "delivery failed permanently for the recipient",
    "expired": "the message reached maximal_queue_lifetime and was returned to sender",
    "removed": "qmgr removed the queue file: every recipient is done",
    "fetched": "the recipient's mail client retrieved the message (POP3 or IMAP)",
    "dns_query": "a resolver lookup (detail: type, name and answer)",
    "dns_fail": "a resolver lookup failed (detail says how)",
    "connect_fail": "no session with one server: the smtp client's connection timed out or was "
    "refused, or the server refused to talk to it (greeting or HELO), and it goes on to the next "
    "MX host (Postfix logs the reason, in detail, as an informational line, not as a delivery "
    "status); from a mail client (daemon client), the submission was given up",
    "skipped": "a 4xx from an MX host that is not the last to try, for a recipient (or, with an "
    "empty recipient, for the whole message at MAIL FROM or end of DATA): the smtp client keeps "
    "the recipients for the next MX host (Postfix's informational line in detail)",
    # issue 3, queue manager (Postfix's log words in the detail)
    "bounce_notice": "bounce(8) returned a non-delivery notification to the sender (detail: "
    "'sender non-delivery notification: <queue id of the notification>')",
    "delay_warning": "bounce(8) sent the sender a delay notification (detail: 'sender delay "
    "notification: <queue id of the notification>'); at most one per message",
    "hold": "postsuper -h moved the message to the hold queue ('placed on hold')",
    "released": "postsuper -H moved the message from hold to the deferred queue",
    "requeued": "postsuper -r: the message left this queue file for a new one that cleanup "
    "writes next (same msg, new queue_id)",
    "throttled": "qmgr declared a destination dead after its failed pseudo-cohort limit (no msg; "
    "relay: transport:destination, detail: the failure); its mail is deferred meanwhile",
    "unthrottled": "a dead destination is alive again (no msg; relay: transport:destination; "
    "detail: a delivery succeeded, minimal_backoff_time passed, or flush)",
}

DAEMON_NAMES: tuple[str, ...] = (
    "client",
    "smtpd",
    "cleanup",
    "qmgr",
    "trivial-rewrite",
    "smtp",
    "local",
    "mda",
    "pop3d",
    "imapd",
    "dns",
    "bounce",
    "error",
    "postsuper",
)

_STRING_COLUMNS = ("node", "daemon", "event", "sender", "recipient", "dsn", "relay", "detail")
#: msg and size fit 32 bits (2**31 messages, 2 GiB messages); queue ids need 64.
_NUMERIC_DTYPES: dict[str, type[np.generic]] = {
    "t": np.float64,
    "msg": np.int32,
    "queue_id": np.int64,
    "size": np.int32,
}


_COMPACT_EVERY = 1 << 16


class Event(NamedTuple):
    """One row of the log, with ``msg`` and ``queue_id`` formatted."""

    t: float
    node: str
    daemon: str
    event: str
    msg: str
    queue_id: str
    sender: str
    recipient: str
    size: int
    dsn: str
    relay: str
    detail: str


def format_msg(number: int) -> str:
    """Return the run-wide message id for message ``number`` (0 means none)."""
    return f"m{number}" if number else ""


def format_delays(arrival: float, active_wait: float, setup: float, transmission: float) -> str:
    """Return Postfix's ``delays=a/b/c/d`` value (docs/design.md section 3), each part as
    :func:`format_delay` prints it."""
    return "/".join(
        format_delay(seconds) for seconds in (arrival, active_wait, setup, transmission)
    )


def format_delay(seconds: float, significant: int = 2, decimals: int = 2) -> str:
    """Return ``seconds`` as Postfix's format_tv() prints delays (util/format_tv.c).

    At most ``significant`` significant digits below 10 s and at most ``decimals`` digits
    after the point (postconf(5) delay_logging_resolution_limit, default 2), whole seconds
    from 10 s, rounded half up, trailing zeros dropped: 0.004 -> ``0``, 0.005 -> ``0.01``,
    0.062 -> ``0.06``, 1.25 -> ``1.3``, 9.96 -> ``10``, 42.5 -> ``43``. Negative values (a
    clock that went back) print as ``0``, as log_adhoc.c clamps them.
    """
    if not 1 <= significant <= 6 or not 0 <= decimals <= 6:
        raise ValueError(f"need 1..6 significant digits and 0..6 decimals, not {significant}")
    million = 1_000_000
    micros = round(seconds * million) if seconds > 0 else 0
    sec, usec = divmod(micros, million)
    resolution = million // 10**decimals
    width = 10**significant
    if resolution < million:
        if sec > 0:
            n = 1
            while sec >= n and n <= width // 10:
                n *= 10
            resolution = (million // width) * n
        else:
            while usec >= width * resolution:
                resolution *= 10
    if resolution > 1:
        usec += resolution // 2
        if usec >= million:
            sec += 1
            usec -= million
    text = str(sec)
    if usec >= resolution:
        digits = []
        rem, n = usec, million // 10
        while rem >= resolution and n > 0:
            digits.append(str(rem // n))
            rem %= n
            n //= 10
        text += "." + "".join(digits)
    return text


def format_qid(number: int) -> str:
    """Return a node-local queue id as Postfix prints short ids (upper-case hex)."""
    return f"{number:010X}" if number else ""


class EventLog:
    """Append-only, columnar store of events.

    Use :meth:`emit` (keyword-friendly) or, on hot paths, :meth:`append` with a full tuple in
    :data:`COLUMNS` order. Reading back (:meth:`rows`, :meth:`to_frame`) gives the formatted
    schema.

    Theory of operation: rows are buffered as tuples and compacted every 65,536 rows into one
    *chunk* per column: float64 times, int32/int64 numbers, and for each string column the chunk's
    distinct strings (an object array) plus uint16 codes into them (a chunk has at most 65,536
    distinct values). Factorising per chunk is done by pandas' hash table in C, so high-cardinality
    columns such as ``detail`` (every outcome carries its own delays) cost no Python loop and no
    global intern table; strings are made global only when the log is read.
    """

    __slots__ = ("_buffer", "_chunks", "_rows", "_strings", "append")

    def __init__(self) -> None:
        self._buffer: list[tuple[float, str, str, str, int, int, str, str, int, str, str, str]]
        self._buffer = []
        #: Append one raw row tuple (t, node, daemon, event, msg:int, queue_id:int, sender,
        #: recipient, size:int, dsn, relay, detail). Bound method: the cheapest call there is.
        self.append = self._buffer.append
        self._chunks: dict[str, list[np.ndarray[tuple[int], np.dtype[Any]]]] = {
            name: [] for name in COLUMNS
        }
        #: per string column, per chunk: that chunk's distinct strings
        self._strings: dict[str, list[np.ndarray[tuple[int], np.dtype[Any]]]] = {
            name: [] for name in _STRING_COLUMNS
        }
        self._rows = 0

    def emit(
        self,
        t: float,
        node: str,
        daemon: str,
        event: str,
        msg: int = 0,
        queue_id: int = 0,
        sender: str = "",
        recipient: str = "",
        size: int = 0,
        dsn: str = "",
        relay: str = "",
        detail: str = "",
    ) -> None:
        """Record one event; see :data:`EVENTS` for the vocabulary."""
        self._buffer.append(
            (t, node, daemon, event, msg, queue_id, sender, recipient, size, dsn, relay, detail)
        )
        if len(self._buffer) >= _COMPACT_EVERY:
            self.compact()

    def maybe_compact(self) -> None:
        """Compact if enough rows were appended with :meth:`append` since the last time."""
        if len(self._buffer) >= _COMPACT_EVERY:
            self.compact()

    def compact(self) -> None:
        """Move buffered rows into a new chunk (called automatically by :meth:`emit`; callers
        that use :meth:`append` directly call :meth:`maybe_compact` now and then)."""
        if not self._buffer:
            return
        import pandas as pd

        while self._buffer:
            rows = self._buffer[:_COMPACT_EVERY]
            del self._buffer[:_COMPACT_EVERY]
            columns = list(zip(*rows, strict=True))
            self._rows += len(rows)
            chunks = self._chunks
            chunks["t"].append(np.array(columns[0], dtype=np.float64))
            for index, name in enumerate(COLUMNS[1:], start=1):
                values = columns[index]
                if name in _STRING_COLUMNS:
                    codes, uniques = pd.factorize(np.array(values, dtype=object))
                    chunks[name].append(codes.astype(np.uint16))
                    self._strings[name].append(np.asarray(uniques, dtype=object))
                else:
                    chunks[name].append(np.array(values, dtype=_NUMERIC_DTYPES[name]))

    def __len__(self) -> int:
        return self._rows + len(self._buffer)

    def _numbers(self, name: str) -> np.ndarray[tuple[int], np.dtype[Any]]:
        """Return a numeric column as one array."""
        parts = self._chunks[name]
        if not parts:
            return np.empty(0, dtype=_NUMERIC_DTYPES[name])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _factorized(
        self, name: str
    ) -> tuple[np.ndarray[tuple[int], np.dtype[Any]], np.ndarray[tuple[int], np.dtype[Any]]]:
        """Return a string column as (codes, categories) over the whole log: the chunks'
        distinct strings are deduplicated once (in C), and each chunk's codes remapped."""
        import pandas as pd

        uniques = self._strings[name]
        if not uniques:
            return np.empty(0, dtype=np.int32), np.array([], dtype=object)
        every = np.concatenate(uniques)
        remap, categories = pd.factorize(every)
        offsets = np.cumsum([0] + [len(u) for u in uniques[:-1]])
        codes = np.concatenate(
            [
                remap[offset + chunk.astype(np.int64)]
                for offset, chunk in zip(offsets, self._chunks[name], strict=True)
            ]
        )
        return codes.astype(np.int32), np.asarray(categories, dtype=object)

    def rows(self) -> Iterator[Event]:
        """Yield every event in order, formatted."""
        self.compact()
        cols: dict[str, list[Any]] = {}
        for name in COLUMNS:
            if name in _STRING_COLUMNS:
                codes, categories = self._factorized(name)
                cols[name] = categories[codes].tolist()
            else:
                cols[name] = self._numbers(name).tolist()
        for i, t in enumerate(cols["t"]):
            yield Event(
                t,
                cols["node"][i],
                cols["daemon"][i],
                cols["event"][i],
                format_msg(cols["msg"][i]),
                format_qid(cols["queue_id"][i]),
                cols["sender"][i],
                cols["recipient"][i],
                cols["size"][i],
                cols["dsn"][i],
                cols["relay"][i],
                cols["detail"][i],
            )

    def to_frame(self) -> pd.DataFrame:
        """Return the log as a DataFrame with the schema's columns.

        String columns are pandas categoricals (one copy of each distinct string), ``t`` float64,
        ``size`` int64; rows are in emission order (which is time order within each engine).
        """
        import pandas as pd

        self.compact()
        data: dict[str, object] = {"t": self._numbers("t").copy()}
        for name in COLUMNS[1:]:
            if name in _STRING_COLUMNS:
                codes, categories = self._factorized(name)
                data[name] = pd.Categorical.from_codes(
                    codes, categories=pd.Index(categories, dtype=object)
                )
            elif name == "size":
                data[name] = self._numbers(name).astype(np.int64)
            else:
                raw = self._numbers(name)
                formatter = format_msg if name == "msg" else format_qid
                unique, inverse = np.unique(raw, return_inverse=True)
                labels = pd.Index([formatter(int(v)) for v in unique], dtype=object)
                data[name] = pd.Categorical.from_codes(inverse.astype(np.int32), categories=labels)
        return pd.DataFrame(data, columns=list(COLUMNS))
