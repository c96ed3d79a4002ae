"""Write an event log (DESIGN.md section 3) as the mail log Postfix 3.7 would have written.

Every row a Postfix daemon would have logged becomes one line in Postfix's own format (checked
against a real Postfix 3.7 log, ``maillog-postfix-3.7-sample.log``)::

    Nov 28 00:13:15 neo postfix/smtpd[29357]: connect from ws22.firma1.intr[127.0.0.22]
    Nov 28 00:13:15 neo postfix/smtpd[29357]: B3929160044: client=ws22.firma1.intr[127.0.0.22]
    Nov 28 00:13:15 neo postfix/cleanup[29347]: B3929160044: message-id=<...>
    Nov 28 00:13:15 neo postfix/qmgr[29314]: B3929160044: from=<bob@firma1.intr>, size=846,
        nrcpt=1 (queue active)
    Nov 28 00:13:15 neo postfix/smtpd[29357]: disconnect from ws22.firma1.intr[127.0.0.22]
        ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
    Nov 28 00:13:15 neo postfix/local[29359]: B3929160044: to=<bob@firma1.intr>, relay=local,
        delay=0.03, delays=0.01/0.02/0/0, dsn=2.0.0, status=sent (delivered to mailbox)
    Nov 28 00:13:15 neo postfix/qmgr[29314]: B3929160044: removed

(each on one line in the file). How each event becomes a line (``QID`` is the row's queue
id; rows of other daemons, such as the mail clients, DNS, the MDA and POP3/IMAP, have no
Postfix line):

- pickup ``received`` (a local submission): ``QID: uid=N from=<s>`` (N from a ``uid=N`` detail).
- smtpd ``connect``: ``connect from CLIENT``; ``received``: ``QID: client=CLIENT``; ``reject``:
  ``NOQUEUE: reject: RCPT from CLIENT: 554 5.7.1 <to>: Relay access denied; from=<s> to=<r>
  proto=ESMTP helo=<h>`` (``MAIL from`` rejects have no ``to=``); after the last smtpd row of
  each session (a ``connect`` and what follows it for the same message) a ``disconnect from
  CLIENT ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5`` line with the counts Postfix gives
  (``rcpt=1/2 ... commands=5/6`` when a recipient was refused; ``rset=1`` when no message was
  accepted). CLIENT is the row's ``relay`` ``name[address]``, with ``unknown`` for a name that
  is not a host name (a mail client's address, a bare address literal), as Postfix logs a
  client without reverse DNS; the HELO name is the client's name, else ``[address]``.
- cleanup ``queued``: ``QID: message-id=<mailsim.m42@domain>`` (one id per message, the same
  at every MTA, so the hops of a message can be joined as Postfix logs allow);
- qmgr ``active``: ``QID: from=<s>, size=N, nrcpt=N (queue active)`` (every time the file
  enters the active queue, as qmgr logs it); ``removed``: ``QID: removed``; ``expired``:
  ``QID: from=<s>, status=expired, returned to sender``. qmgr's move to the deferred queue and
  the dead-destination bookkeeping (``throttled``/``unthrottled``) have no line, as in Postfix,
  and neither have the per-recipient ``bounced`` rows the simulation records for an expired
  message (Postfix logs only the ``expired`` line). An expired file without a ``removed`` row
  gets qmgr's ``QID: removed`` after the rows of its last instant (after the bounce notice).
- ``sent``, ``delivered``, ``deferred``, ``bounced`` with a recipient, by the row's daemon
  (smtp, local, error, ...): ``QID: to=<r>, [orig_to=<alias>, ]relay=R, delay=X,
  delays=a/b/c/d, dsn=D, status=sent|deferred|bounced (TEXT)``; TEXT is the row's detail
  without the ``(orig_to=<...>)`` and ``delays=`` conventions of DESIGN.md section 3.
- smtp ``connect_fail``: the detail (``connect to host[addr]:25: Connection refused``) without
  queue id when it is a connection failure, else ``QID: detail``; ``skipped``: ``QID: detail``
  (smtp_trouble.c's informational line before the next MX host).
- bounce ``bounce_notice``/``delay_warning``: ``QID: sender non-delivery notification: QID2``.
- postsuper ``hold``/``released``/``requeued``: ``QID: placed on hold`` / ``released from
  hold`` / ``requeued``.

Times: ``delay=`` is the time since the message arrived at this MTA (smtpd's connection, or
cleanup for a message the MTA made itself), i.e. the exact sum a+b+c+d, and every value is
printed as Postfix's format_tv() prints it (log_adhoc.c: 2 significant digits,
delay_logging_resolution_limit = 2 decimals, whole seconds from 10 s: ``0.06``, ``1.3``,
``42``). The a/b/c/d parts come from the log's ``delays=`` text (already rounded to two
significant digits there, so a part can differ from Postfix's by one unit in its last digit);
when the arrival cannot be found or disagrees with them, ``delay=`` is their sum.

Timestamps are ``start`` + ``t`` in UTC, syslog style (``Nov  8 08:00:01``, whole seconds,
day space-padded) or ISO 8601 / RFC 3339 with microseconds (``2026-01-05T08:00:01.250000+00:00``,
as rsyslog's high-precision format and journald write it). The host field is the node's first
label (``neo`` for neo.firma1.intr), or the full name when two nodes of the same file share a
first label, or what ``hosts`` says. Process ids are deterministic: each (node, daemon) has a
stable pid derived from the names (CRC-32), and each concurrent smtpd session takes the lowest
free smtpd process of its node, as Postfix's master hands connections to idle smtpd processes.
The same log gives the same bytes.
"""

from __future__ import annotations

import gzip
import heapq
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from mailsim.eventlog import format_delay

__all__ = [
    "DEFAULT_START",
    "NON_POSTFIX_DAEMONS",
    "ExportedLine",
    "client_label",
    "format_delay",
    "format_postfix_log",
    "host_labels",
    "outcome_delays",
    "postfix_lines",
    "reject_reply",
    "write_postfix_log",
]

#: t = 0 of an exported log unless the caller gives another start (a Monday, midnight UTC).
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)

Timestamps = Literal["syslog", "iso"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_OUTCOMES = frozenset({"sent", "delivered", "deferred", "bounced"})
_STATUS = {"sent": "sent", "delivered": "sent", "deferred": "deferred", "bounced": "bounced"}
_SESSION_EVENTS = frozenset({"connect", "reject", "received"})
#: daemons whose rows are not Postfix's (mail clients, resolver, MDA, POP3/IMAP servers)
NON_POSTFIX_DAEMONS = frozenset({"client", "dns", "mda", "pop3d", "imapd"})
#: a fixed offset per daemon from the node's base pid (smtpd processes take base + 20 + slot)
_PID_OFFSETS = {
    "master": 0,
    "pickup": 1,
    "qmgr": 2,
    "cleanup": 3,
    "trivial-rewrite": 4,
    "smtp": 5,
    "local": 6,
    "bounce": 7,
    "error": 8,
    "postsuper": 9,
    "lmtp": 10,
    "virtual": 11,
}
_SMTPD_PID_OFFSET = 20

_NUMBER = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_DELAYS = re.compile(
    rf"(?:\s*\bdelay={_NUMBER})?\s*\bdelays={_NUMBER}/{_NUMBER}/{_NUMBER}/{_NUMBER}\s*$"
)
_ORIG_TO = re.compile(r" ?\(orig_to=<([^>]*)>\)")
_NRCPT = re.compile(r"\bnrcpt=([0-9]+)")
_UID = re.compile(r"\buid=([0-9]+)")
_CLIENT = re.compile(r"^(.*)\[([^\]]*)\]$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.?$")
_COMMAND_FROM = re.compile(r"^([A-Z][A-Z-]*) from (\S+): (.*)$", re.DOTALL)


class ExportedLine(NamedTuple):
    """One line of the exported log and the node whose log it belongs to."""

    node: str
    t: float
    text: str


def client_label(relay: str) -> tuple[str, str, str]:
    """Return (``name[address]``, name, address) of an smtpd row's client as Postfix logs it.

    A name that is not a host name (a mail client's address such as ``olga@firma3.intr``, an
    address literal such as ``[203.0.113.66]``, nothing) becomes ``unknown``, as Postfix logs
    a client whose address has no name; a missing address is ``unknown`` too.
    """
    found = _CLIENT.match(relay)
    name, address = (found.group(1), found.group(2)) if found else (relay, "")
    if not _HOSTNAME.match(name) or name.lower() == "unknown":
        name = "unknown"
    address = address or "unknown"
    return f"{name}[{address}]", name, address


def host_labels(nodes: Iterable[str], hosts: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the syslog host field of each node: ``hosts[node]`` if given, else the node's
    first label, else (when two nodes share a first label) the full node name."""
    chosen = sorted(set(nodes))
    given = dict(hosts or {})
    first = {node: node.split(".", 1)[0] or node for node in chosen}
    counts: dict[str, int] = {}
    for node in chosen:
        if node not in given:
            counts[first[node]] = counts.get(first[node], 0) + 1
    return {
        node: given.get(node) or (first[node] if counts.get(first[node], 0) == 1 else node)
        for node in chosen
    }


def _strings(frame: pd.DataFrame, column: str) -> list[str]:
    """Return a text column as a list of str, ``""`` for missing values."""
    values = frame[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = np.asarray(values.cat.categories.astype(str), dtype=object)
        codes = values.cat.codes.to_numpy()
        return list(np.where(codes >= 0, categories[np.maximum(codes, 0)], ""))
    return [
        "" if value is None or (isinstance(value, float) and value != value) else str(value)
        for value in values.tolist()
    ]


def _ordered(events: pd.DataFrame) -> pd.DataFrame:
    """Return the rows in time order (stable: rows of one instant keep their order)."""
    times = events["t"].to_numpy(dtype=np.float64)
    if len(times) > 1 and bool((np.diff(times) < 0).any()):
        events = events.iloc[np.argsort(times, kind="stable")]
    return events.reset_index(drop=True)


def outcome_delays(events: pd.DataFrame) -> pd.DataFrame:
    """Return Postfix's ``delay`` and ``delays=a/b/c/d`` (s) of every row (NaN where none).

    Columns ``delay``, ``a``, ``b``, ``c``, ``d``, in the order and index of ``events``. a..d
    are the row's ``delays=`` text (DESIGN.md section 3). ``delay`` is the time since the
    row's queue file arrived at its node: the smtpd ``connect`` of the session whose
    ``received`` created the file (the latest one of that message at that node before it),
    else the file's first row; when that is unknown, or further from a+b+c+d than their
    rounding explains, or every time in the log is a whole second (a log read back from
    syslog timestamps), it is a+b+c+d; a detail with Postfix's own ``delay=X`` before
    ``delays=`` (a parsed log may keep it) gives X. A row without ``delays=`` text (a
    hand-made log) gets a = arrival to its file's last entry into the active queue, d = the
    rest, b = c = 0.
    """
    count = len(events)
    out = pd.DataFrame(np.full((count, 5), np.nan), columns=["delay", "a", "b", "c", "d"])
    out.index = events.index
    if not count:
        return out
    detail = events["detail"].astype("category")
    categories = pd.Series(np.asarray(detail.cat.categories.astype(str), dtype=object))
    parsed = categories.str.extract(_DELAYS).astype(np.float64).to_numpy().reshape(-1, 5)
    codes = detail.cat.codes.to_numpy()
    found = np.where((codes >= 0)[:, None], parsed[np.maximum(codes, 0)], np.nan)
    logged, parts = found[:, 0], found[:, 1:]
    event = events["event"].astype(str).to_numpy()
    named = events["recipient"].astype(str).to_numpy() != ""
    is_outcome = np.isin(event, list(_OUTCOMES)) & named
    parts[~is_outcome] = np.nan
    out[["a", "b", "c", "d"]] = parts
    total = parts.sum(axis=1)
    slack = np.where(parts >= 10, 0.5, 0.05 * parts + 0.01).sum(axis=1) + 1e-6
    t = np.asarray(events["t"], dtype=np.float64)
    arrival, active = _arrivals(events)
    exact = t - arrival
    if not np.isnan(total).all() and bool((np.mod(t, 1.0) == 0).all()):
        exact[:] = np.nan  # whole-second times (a syslog log): a+b+c+d says more
    close = np.isnan(total) | (np.abs(exact - total) <= slack)
    delay = np.where(np.isnan(exact) | ~close, total, exact)
    delay = np.where(np.isnan(logged), delay, logged)  # Postfix's own delay= when the log has it
    delay = np.where(is_outcome, np.maximum(delay, 0.0), np.nan)
    out["delay"] = delay
    missing = is_outcome & np.isnan(total) & ~np.isnan(delay)
    if missing.any():
        since = np.nan_to_num(t - active, nan=0.0)
        rest = np.clip(since, 0.0, np.where(np.isnan(delay), 0.0, delay))
        filled = np.column_stack([delay - rest, np.zeros(count), np.zeros(count), rest])
        out.loc[missing, ["a", "b", "c", "d"]] = filled[missing]
    return out


def _arrivals(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return, for every row with a queue id, when its queue file arrived at its node and
    when it last entered the active queue up to that row (NaN where none)."""
    frame = pd.DataFrame(
        {
            "t": np.asarray(events["t"], dtype=np.float64),
            "node": events["node"].astype(str).to_numpy(),
            "msg": events["msg"].astype(str).to_numpy(),
            "qid": events["queue_id"].astype(str).to_numpy(),
            "event": events["event"].astype(str).to_numpy(),
            "daemon": events["daemon"].astype(str).to_numpy(),
            "row": np.arange(len(events)),
        }
    )
    frame = frame.sort_values(["t", "row"], kind="stable")
    files = frame[frame["qid"] != ""]
    first = files.drop_duplicates(["node", "qid"], keep="first")
    by_smtpd = first[(first["event"] == "received") & (first["msg"] != "")]
    connects = frame[(frame["event"] == "connect") & (frame["daemon"] == "smtpd")]
    arrival = first.set_index(["node", "qid"])["t"]
    if len(by_smtpd) and len(connects):
        matched = pd.merge_asof(
            by_smtpd[["t", "node", "msg", "qid"]],
            connects[["t", "node", "msg"]].rename(columns={"t": "t_connect"}),
            left_on="t",
            right_on="t_connect",
            by=["node", "msg"],
            direction="backward",
        )
        found = matched.dropna(subset=["t_connect"]).set_index(["node", "qid"])["t_connect"]
        arrival.loc[found.index] = found
    keys = pd.MultiIndex.from_arrays([frame["node"], frame["qid"]])
    values = arrival.reindex(keys).to_numpy(dtype=np.float64)
    entered = frame["t"].where(frame["event"] == "active")
    active = entered.groupby([frame["node"], frame["qid"]], sort=False).ffill()
    out = np.full(len(events), np.nan)
    out[frame["row"].to_numpy()] = values
    last = np.full(len(events), np.nan)
    last[frame["row"].to_numpy()] = active.to_numpy(dtype=np.float64)
    return out, last


@dataclass(slots=True)
class _Session:
    """One smtpd session being written: its client, pid and what happened in it."""

    client: str
    helo: str
    pid: int
    slot: int
    accepted: int = 0
    refused: int = 0
    mail_refused: bool = False
    data_refused: bool = False
    received: bool = False
    has_rows: bool = False

    def disconnect(self) -> str:
        """Postfix's ``disconnect from`` line with its per-command counts (smtpd.c)."""

        def count(name: str, good: int, total: int) -> str:
            return f"{name}={good}" if good == total else f"{name}={good}/{total}"

        fields = [("ehlo", 1, 1), ("mail", 0 if self.mail_refused else 1, 1)]
        if not self.mail_refused and (self.accepted or self.refused):
            fields.append(("rcpt", self.accepted, self.accepted + self.refused))
        if self.received:
            fields.append(("data", 1, 1))
        elif self.data_refused:
            fields.append(("data", 0, 1))
        if not self.received:
            fields.append(("rset", 1, 1))
        fields.append(("quit", 1, 1))
        good = sum(f[1] for f in fields)
        total = sum(f[2] for f in fields)
        words = [count(*f) for f in fields]
        return f"disconnect from {self.client} {' '.join(words)} {count('commands', good, total)}"


class _Clock:
    """Format scenario seconds as syslog or ISO 8601 timestamps from a start instant (UTC)."""

    def __init__(self, start: datetime, style: Timestamps) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.start = start.astimezone(UTC)
        if style not in ("syslog", "iso"):
            raise ValueError(f"timestamps must be 'syslog' or 'iso', not {style!r}")
        self.style = style
        self._second = -1
        self._text = ""

    def __call__(self, t: float) -> str:
        if self.style == "iso":
            micros = round(t * 1_000_000)
            moment = self.start + timedelta(microseconds=micros)
            return moment.isoformat(timespec="microseconds")
        second = int(t // 1)
        if second != self._second:
            moment = self.start + timedelta(seconds=second)
            self._second = second
            self._text = f"{_MONTHS[moment.month - 1]} {moment.day:2d} {moment:%H:%M:%S}"
        return self._text


def _pid_base(node: str) -> int:
    """A stable pid base for ``node``: 1000 + 100 * (CRC-32 of the name mod 900)."""
    return 1000 + 100 * (zlib.crc32(node.encode("utf-8")) % 900)


def _message_id(msg: str, sender: str, node: str, qid: str) -> str:
    domain = sender.rpartition("@")[2] if "@" in sender else node
    return f"<mailsim.{msg or qid}@{domain}>"


def reject_reply(detail: str, client: str, recipient: str, dsn: str) -> tuple[str, str]:
    """Return (command, ``CMD from CLIENT: reply``) of a reject row as smtpd logs it after
    ``reject: ``, with CLIENT as :func:`client_label` gives it (the detail's own client text
    is replaced; a detail without ``CMD from ...:`` gets a generic reply from the dsn)."""
    found = _COMMAND_FROM.match(detail)
    if found:
        return found.group(1), f"{found.group(1)} from {client}: {found.group(3)}"
    code = {"5.7.1": "554", "5.3.4": "552"}.get(dsn, "550" if dsn.startswith("5") else "450")
    status = dsn or f"{code[0]}.0.0"
    text = detail or _REJECT_TEXT.get(dsn, "rejected")
    if recipient:
        return "RCPT", f"RCPT from {client}: {code} {status} <{recipient}>: {text}"
    return "MAIL", f"MAIL from {client}: {code} {status} {text}"


#: smtpd's words for the commonest refusals, for reject rows that carry only a dsn
_REJECT_TEXT = {
    "5.1.1": "Recipient address rejected: User unknown in local recipient table",
    "5.7.1": "Relay access denied",
    "5.3.4": "Message size exceeds fixed limit",
    "4.7.1": "Recipient address rejected: Greylisted, please try again later",
}


_FALLBACK_TEXT = {
    "sent": "250 2.0.0 Ok",
    "delivered": "delivered to mailbox",
    "deferred": "temporary failure",
    "bounced": "permanent failure",
}


def postfix_lines(
    events: pd.DataFrame,
    *,
    start: datetime = DEFAULT_START,
    hosts: Mapping[str, str] | None = None,
    timestamps: Timestamps = "syslog",
    nodes: Iterable[str] | None = None,
) -> Iterator[ExportedLine]:
    """Yield the Postfix log lines of ``events`` in time order (see the module docstring).

    ``events`` is an event log DataFrame (``Run.events``); ``nodes`` limits the output to those
    MTA nodes (host fields are chosen among the nodes exported: pass ``hosts`` to pin them).
    """
    frame = _ordered(events)
    count = len(frame)
    t = frame["t"].to_numpy(dtype=np.float64).tolist()
    node = _strings(frame, "node")
    daemon = _strings(frame, "daemon")
    event = _strings(frame, "event")
    msg = _strings(frame, "msg")
    qid = _strings(frame, "queue_id")
    sender = _strings(frame, "sender")
    rcpt = _strings(frame, "recipient")
    size = frame["size"].fillna(0).astype(np.int64).tolist()
    dsn = _strings(frame, "dsn")
    relay = _strings(frame, "relay")
    detail = _strings(frame, "detail")
    wanted = None if nodes is None else set(nodes)
    exported = {
        n
        for n, d in zip(node, daemon, strict=True)
        if d not in NON_POSTFIX_DAEMONS and (wanted is None or n in wanted)
    }
    label = host_labels(exported, hosts)
    delays = outcome_delays(frame)
    delay = delays["delay"].to_numpy().tolist()
    parts = delays[["a", "b", "c", "d"]].to_numpy().tolist()
    last_of_session = _session_ends(node, daemon, event, msg)
    nrcpt = _recipient_counts(node, event, qid, rcpt)
    msg_size = _message_sizes(msg, size)
    clock = _Clock(start, timestamps)
    bases: dict[str, int] = {}
    free_slots: dict[str, list[int]] = {}
    next_slot: dict[str, int] = {}
    sessions: dict[tuple[str, str], _Session] = {}

    def pid(where: str, name: str) -> int:
        base = bases.get(where)
        if base is None:
            base = bases[where] = _pid_base(where)
        return base + _PID_OFFSETS.get(name, 12 + zlib.crc32(name.encode()) % 8)

    def open_session(where: str, client_relay: str) -> _Session:
        client, name, address = client_label(client_relay)
        slots = free_slots.setdefault(where, [])
        if slots:
            slot = heapq.heappop(slots)
        else:
            slot = next_slot.get(where, 0)
            next_slot[where] = slot + 1
        base = bases.get(where) or bases.setdefault(where, _pid_base(where))
        helo = name if name != "unknown" else f"[{address}]"
        return _Session(client, helo, base + _SMTPD_PID_OFFSET + slot, slot)

    #: expired queue files whose "removed" line is still to come, with the expiry time
    expired: dict[tuple[str, str], float] = {}

    def removals(before: float) -> Iterator[ExportedLine]:
        """qmgr's ``removed`` of the files that expired before ``before`` (after the bounce
        notice of the same instant, as in Postfix's log)."""
        for file, when in list(expired.items()):
            if when < before:
                del expired[file]
                line = f"{clock(when)} {label[file[0]]} postfix/qmgr[{pid(file[0], 'qmgr')}]: "
                yield ExportedLine(file[0], when, f"{line}{file[1]}: removed")

    for i in range(count):
        where = node[i]
        if where not in exported:
            continue
        if expired:
            yield from removals(t[i])
        kind = event[i]
        agent = daemon[i]
        if kind == "expired":
            expired[(where, qid[i])] = t[i]
        elif kind == "removed" and expired.pop((where, qid[i]), None) is not None:
            yield from removals(t[i])  # the log has its own line: keep the order of the rest
        prefix = f"{clock(t[i])} {label[where]} postfix/"
        text = ""
        if agent == "smtpd" and kind in _SESSION_EVENTS:
            key = (where, msg[i])
            session = sessions.get(key)
            if kind == "connect" or session is None:
                if session is not None:  # a new connection of the same message: close the old
                    heapq.heappush(free_slots[where], session.slot)
                session = sessions[key] = open_session(where, relay[i])
            if kind == "connect":
                text = f"connect from {session.client}"
            elif kind == "received":
                session.received = True
                found = _NRCPT.search(detail[i])
                session.accepted = int(found.group(1)) if found else max(session.accepted, 1)
                text = f"{qid[i]}: client={session.client}"
            else:
                command, reply = reject_reply(detail[i], session.client, rcpt[i], dsn[i])
                if rcpt[i]:
                    session.refused += 1
                elif command == "MAIL":
                    session.mail_refused = True
                else:
                    session.data_refused = True
                to = f" to=<{rcpt[i]}>" if rcpt[i] else ""
                text = (
                    f"{qid[i] or 'NOQUEUE'}: reject: {reply}; from=<{sender[i]}>{to} "
                    f"proto=ESMTP helo=<{session.helo}>"
                )
            session.has_rows = session.has_rows or kind != "connect"
            yield ExportedLine(where, t[i], f"{prefix}smtpd[{session.pid}]: {text}")
            if last_of_session[i]:
                del sessions[key]
                heapq.heappush(free_slots.setdefault(where, []), session.slot)
                if session.has_rows:
                    line = f"{prefix}smtpd[{session.pid}]: {session.disconnect()}"
                    yield ExportedLine(where, t[i], line)
            continue
        if agent in NON_POSTFIX_DAEMONS:
            continue
        if kind == "active":
            found = _NRCPT.search(detail[i])
            n = int(found.group(1)) if found else nrcpt.get((where, qid[i]), 1)
            bytes_ = size[i] or msg_size.get(msg[i], 0)
            text = f"{qid[i]}: from=<{sender[i]}>, size={bytes_}, nrcpt={n} (queue active)"
        elif kind == "queued":
            text = f"{qid[i]}: message-id={_message_id(msg[i], sender[i], where, qid[i])}"
        elif kind in _OUTCOMES:
            text = _outcome_text(kind, qid[i], rcpt[i], dsn[i], relay[i], detail[i])
            if text:
                text = text.replace("\0", _timing(delay[i], parts[i]))
        else:
            text = _other_text(kind, qid[i], sender[i], detail[i])
        if text:
            agent = _DAEMON_OF.get(kind, agent)
            yield ExportedLine(where, t[i], f"{prefix}{agent}[{pid(where, agent)}]: {text}")
    yield from removals(float("inf"))


def _timing(delay: float, parts: list[float]) -> str:
    """Return ``delay=X, delays=a/b/c/d`` of an outcome (see :func:`outcome_delays`)."""
    if delay != delay:  # NaN: nothing known
        return "delay=0, delays=0/0/0/0"
    split = "/".join(format_delay(value if value == value else 0.0) for value in parts)
    return f"delay={format_delay(delay)}, delays={split}"


_DAEMON_OF = {
    "queued": "cleanup",
    "active": "qmgr",
    "removed": "qmgr",
    "expired": "qmgr",
    "bounce_notice": "bounce",
    "delay_warning": "bounce",
    "hold": "postsuper",
    "released": "postsuper",
    "requeued": "postsuper",
}
_POSTSUPER_TEXT = {
    "hold": "placed on hold",
    "released": "released from hold",
    "requeued": "requeued",
}


def _outcome_text(kind: str, qid: str, rcpt: str, dsn: str, relay: str, detail: str) -> str:
    """Return a delivery status line's text ("" for none); its timing is a NUL placeholder."""
    if not rcpt:
        return ""
    if kind == "bounced" and detail.startswith("status=expired"):
        return ""  # qmgr's expiry: Postfix logs only the message-level 'expired' line
    reason = _DELAYS.sub("", detail)
    orig = _ORIG_TO.search(reason)
    reason = _ORIG_TO.sub("", reason).strip() or _FALLBACK_TEXT[kind]
    orig_to = f"orig_to=<{orig.group(1)}>, " if orig and orig.group(1) != rcpt else ""
    return (
        f"{qid}: to=<{rcpt}>, {orig_to}relay={relay or 'none'}, \0, "
        f"dsn={dsn or _default_dsn(kind)}, status={_STATUS[kind]} ({reason})"
    )


def _other_text(kind: str, qid: str, sender: str, detail: str) -> str:
    """Return the text of a queue-manager, bounce, postsuper or smtp info row ("" for none)."""
    if kind == "received":  # pickup(8): a local submission (sendmail)
        found = _UID.search(detail)
        return f"{qid}: uid={found.group(1) if found else 0} from=<{sender}>"
    if kind == "removed":
        return f"{qid}: removed"
    if kind == "expired":
        return f"{qid}: from=<{sender}>, status=expired, returned to sender"
    if kind in ("bounce_notice", "delay_warning"):
        return f"{qid}: {detail}"
    if kind in _POSTSUPER_TEXT:
        return f"{qid}: {_POSTSUPER_TEXT[kind]}"
    if kind == "connect_fail":
        return detail if detail.startswith("connect to ") or not qid else f"{qid}: {detail}"
    if kind == "skipped":
        return f"{qid}: {detail}" if qid else detail
    return ""


def _default_dsn(kind: str) -> str:
    return {"sent": "2.0.0", "delivered": "2.0.0", "deferred": "4.0.0"}.get(kind, "5.0.0")


def _session_ends(
    node: list[str], daemon: list[str], event: list[str], msg: list[str]
) -> list[bool]:
    """Mark the last smtpd row of every session: the row before the next ``connect`` of the
    same message at the same node, or its last smtpd row in the log."""
    last = [False] * len(node)
    open_rows: dict[tuple[str, str], int] = {}
    for i, kind in enumerate(event):
        if daemon[i] != "smtpd" or kind not in _SESSION_EVENTS:
            continue
        key = (node[i], msg[i])
        if kind == "connect" and key in open_rows:
            last[open_rows[key]] = True
        open_rows[key] = i
    for row in open_rows.values():
        last[row] = True
    return last


def _message_sizes(msg: list[str], size: list[int]) -> dict[str, int]:
    """The largest size any row gives each message (for rows that carry none)."""
    sizes: dict[str, int] = {}
    for name, value in zip(msg, size, strict=True):
        if value > sizes.get(name, 0):
            sizes[name] = value
    return sizes


def _recipient_counts(
    node: list[str], event: list[str], qid: list[str], rcpt: list[str]
) -> dict[tuple[str, str], int]:
    """Distinct recipients named by each queue file's outcomes (nrcpt when the log has none)."""
    seen: dict[tuple[str, str], set[str]] = {}
    for i, kind in enumerate(event):
        if kind in _OUTCOMES and rcpt[i] and qid[i]:
            seen.setdefault((node[i], qid[i]), set()).add(rcpt[i])
    return {key: len(names) for key, names in seen.items()}


def format_postfix_log(
    events: pd.DataFrame,
    *,
    start: datetime = DEFAULT_START,
    hosts: Mapping[str, str] | None = None,
    timestamps: Timestamps = "syslog",
    nodes: Iterable[str] | None = None,
) -> str:
    """Return the whole mail log of ``events`` (every MTA node, interleaved in time order)."""
    lines = postfix_lines(events, start=start, hosts=hosts, timestamps=timestamps, nodes=nodes)
    return "".join(line.text + "\n" for line in lines)


def write_postfix_log(
    events: pd.DataFrame,
    path: str | Path,
    *,
    per_node: bool = False,
    start: datetime = DEFAULT_START,
    hosts: Mapping[str, str] | None = None,
    timestamps: Timestamps = "syslog",
    nodes: Iterable[str] | None = None,
) -> list[Path]:
    """Write the mail log of ``events`` and return the files written.

    One file ``path`` with every node's lines in time order (gzip'd when the name ends in
    ``.gz``, with no timestamp in the gzip header, so the bytes are reproducible), or with
    ``per_node`` one file per MTA node in the directory ``path``, named ``<node>.log``. The
    host field is the same either way (a node's first label unless it is ambiguous among all
    the nodes exported).
    """
    target = Path(path)
    lines = postfix_lines(events, start=start, hosts=hosts, timestamps=timestamps, nodes=nodes)
    if not per_node:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(line.text + "\n" for line in lines).encode("utf-8")
        _write(target, data)
        return [target]
    target.mkdir(parents=True, exist_ok=True)
    by_node: dict[str, list[str]] = {}
    for line in lines:
        by_node.setdefault(line.node, []).append(line.text + "\n")
    written = []
    for name in sorted(by_node):
        file = target / f"{name}.log"
        _write(file, "".join(by_node[name]).encode("utf-8"))
        written.append(file)
    return written


def _write(path: Path, data: bytes) -> None:
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
