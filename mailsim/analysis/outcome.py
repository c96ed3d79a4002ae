"""Find every message's recipients and the row that decided each one's fate.

Theory of operation. The recipients of a message are the addresses its rows name; a message
whose rows name none gets one recipient ``""``, so a message refused as a whole still counts.
Recipients are keyed ``msg * width + recipient + 1`` (``width`` = distinct recipients + 1).

A recipient's *outcome* is its last row among ``reject``, ``sent``, ``delivered``, ``bounced``
and recipient-level ``deferred``. Two message-level rows also end recipients:

- ``reject`` without recipient (the whole message refused) and ``expired`` end every recipient
  still waiting at that moment (last row none or ``deferred``; a recipient smtpd already refused
  keeps its own reply);
- ``expired`` also takes over the ``bounced`` rows qmgr logs for the same recipients at the same
  instant (its "returned to sender" bounces), so such recipients read as expired.

Aliases: local(8) logs the expanded address with ``(orig_to=<original>)`` in ``detail``, as
Postfix does. The original address is then no final recipient of its own (unless something
final happened to it); the expanded one inherits its path (see :mod:`mailsim.analysis.hop`).
A recipient delivered to its mailbox stays delivered even when a ``forwarded as`` copy follows
(a .forward or alias that keeps a copy of the mail it forwards).

Hand-overs: the visit that took over a ``sent`` is the queue file its reply names (``250 2.0.0
Ok: queued as <id>``, as Postfix logs it), else the message's latest visit at another node whose
smtpd received it by then from the sending node. Outcomes are ordered by the recipient's story,
not the clock: a ``sent`` counts from that visit's ``received``, because the sender logs it only
when the reply arrives and the next MTA may have delivered before that.

Status: delivered, bounced, rejected (``reject``), expired; a ``sent`` is ``relayed`` when it
left the run's MTAs, ``pending`` while the message waits at the next MTA of the run or at a local
forwarding copy (relay ``local``); ``deferred`` or nothing yet is ``pending``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mailsim.analysis.frame import CodedLog, FloatArray, IntArray, event_code
from mailsim.analysis.visit import Visits, group_ends

__all__ = ["STATUSES", "MessageInfo", "Outcomes"]

STATUSES: tuple[str, ...] = ("delivered", "relayed", "bounced", "rejected", "expired", "pending")
PENDING = STATUSES.index("pending")
_OUTCOMES = ("reject", "sent", "delivered", "bounced", "deferred")
_STATUS_OF = {
    "delivered": "delivered",
    "sent": "relayed",
    "bounced": "bounced",
    "reject": "rejected",
    "expired": "expired",
    "deferred": "pending",
}
_ORIG_TO = r"orig_to=<([^>]*)>"
_QUEUED_AS = r"queued as ([0-9A-Za-z]+)"


def _first_by_code(
    codes: npt.NDArray[Any], values: npt.NDArray[Any], count: int, fill: float
) -> FloatArray:
    """Return, per code 0..count-1, the value at its first occurrence (rows in time order)."""
    out = np.full(count, fill, dtype=np.float64)
    unique, index = np.unique(codes, return_index=True)
    out[unique] = np.asarray(values, dtype=np.float64)[index]
    return out


@dataclass(frozen=True, eq=False)
class MessageInfo:
    """Per message code: first row, submit and arrival time, client, sender, size (by code).

    ``t_arrival`` is the ``submit`` time, or the start of the message's first visit when the log
    has no ``submit`` for it (a live log that starts at smtpd, a locally picked-up message).
    """

    present: IntArray
    first_row: IntArray
    t_submit: FloatArray
    t_arrival: FloatArray
    client: IntArray
    sender: IntArray
    size: IntArray

    @classmethod
    def build(cls, log: CodedLog, visits: Visits) -> MessageInfo:
        """Collect what the log says about each message as a whole."""
        count = log.count("msg")
        rows = np.flatnonzero(log.msg >= 0)
        msg = log.msg[rows]
        present, first = np.unique(msg, return_index=True)
        first_row = np.full(count, -1, dtype=np.int64)
        first_row[present] = rows[first]
        submit = rows[log.event[rows] == event_code("submit")]
        t_submit = _first_by_code(log.msg[submit], log.t[submit], count, np.nan)
        client = _first_by_code(log.msg[submit], log.node[submit], count, -1).astype(np.int64)
        named = rows[log.sender[rows] >= 0]
        sender = _first_by_code(log.msg[named], log.sender[named], count, -1).astype(np.int64)
        size = np.zeros(count, dtype=np.int64)
        np.maximum.at(size, msg, log.size[rows])
        firsts = visits.table[visits.table["first"]]
        start = np.full(count, np.nan)
        start[firsts["msg"].to_numpy()] = firsts["t_start"].to_numpy()
        t_arrival = np.where(np.isnan(t_submit), start, t_submit)
        return cls(present.astype(np.int64), first_row, t_submit, t_arrival, client, sender, size)


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Recipient keys (sorted) with, per key: first_row, final_row (-1: none), status (index
    into :data:`STATUSES`), onward (the visit a final ``sent`` handed the message to, -1),
    reason_row (the row whose dsn and relay explain the outcome: the recipient's own last row
    when a message-level row ended it, e.g. qmgr's 5.4.7 bounce before ``expired``).

    ``rows``/``row_keys``/``order``: every outcome row per recipient, sorted by key then order.
    ``order`` is the row's place in the recipient's story: its own row number, except for a
    ``sent`` taken over by a visit of the run, which counts from that visit's ``received``. The
    sender logs ``sent`` when the reply reaches it, and by then the next MTA may have delivered
    already; ordering by the hand-over keeps the next MTA's outcome after the ``sent``.
    ``links``: alias expansions, key (expanded address) <- source (original), row (first row).
    """

    width: np.int64
    keys: IntArray
    first_row: IntArray
    final_row: IntArray
    status: IntArray
    onward: IntArray
    reason_row: IntArray
    rows: IntArray
    row_keys: IntArray
    order: IntArray
    links: pd.DataFrame

    @classmethod
    def build(cls, log: CodedLog, visits: Visits, info: MessageInfo) -> Outcomes:
        """Decide every recipient's outcome."""
        width = np.int64(log.count("recipient") + 1)
        keys, first_row = _recipient_keys(log, info, width)
        rows, row_keys, order, onward_of_row = _outcome_rows(log, visits, keys, width)
        ends = group_ends(row_keys)
        at_end = np.full(len(keys), -1, dtype=np.int64)
        at_end[np.searchsorted(keys, row_keys[ends])] = np.flatnonzero(ends)
        final_row = np.where(at_end >= 0, rows[np.maximum(at_end, 0)], -1)
        onward = np.where(at_end >= 0, onward_of_row[np.maximum(at_end, 0)], -1)
        # A mailbox delivery is an end: a later "forwarded as" of the same recipient (a
        # .forward or alias that keeps a copy of what it forwards) is followed under the
        # address it forwards to, and the recipient itself stays delivered.
        delivered = _last_of_kind(rows, row_keys, keys, log.event[rows] == event_code("delivered"))
        kept = delivered >= 0
        final_row = np.where(kept, delivered, final_row)
        onward = np.where(kept, -1, onward)
        links = _aliases(log, rows, row_keys, width)
        kind = np.where(final_row >= 0, log.event[np.maximum(final_row, 0)], -1)
        open_kinds = [-1, event_code("sent"), event_code("deferred")]
        keep = ~(np.isin(keys, links["source"].to_numpy()) & np.isin(kind, open_kinds))
        keys, first_row, final_row = keys[keep], first_row[keep], final_row[keep]
        kind, onward = kind[keep], onward[keep]
        status = _status(log, kind, final_row, onward)
        own = log.rcpt[rows] >= 0
        own_last = np.full(len(keys), -1, dtype=np.int64)
        own_ends = group_ends(row_keys[own])
        found = np.searchsorted(keys, row_keys[own][own_ends]).clip(0, max(len(keys) - 1, 0))
        hit = keys[found] == row_keys[own][own_ends] if len(keys) else found < 0
        own_last[found[hit]] = rows[own][own_ends][hit]
        whole = (final_row >= 0) & (log.rcpt[np.maximum(final_row, 0)] < 0)
        reason_row = np.where(whole & (own_last >= 0), own_last, final_row)
        return cls(
            width,
            keys,
            first_row,
            final_row,
            status,
            onward,
            reason_row,
            rows,
            row_keys,
            order,
            links,
        )


def _last_of_kind(rows: IntArray, row_keys: IntArray, keys: IntArray, mask: Any) -> IntArray:
    """Per key of ``keys``: the last of ``rows`` (sorted by key, then order) where ``mask``
    holds, or -1."""
    found = np.full(len(keys), -1, dtype=np.int64)
    chosen_rows, chosen_keys = rows[mask], row_keys[mask]
    if len(chosen_keys):
        ends = group_ends(chosen_keys)
        found[np.searchsorted(keys, chosen_keys[ends])] = chosen_rows[ends]
    return found


def row_key(log: CodedLog, rows: IntArray, width: np.int64) -> IntArray:
    """Return the (msg, recipient) key of ``rows``."""
    return log.msg[rows].astype(np.int64) * width + log.rcpt[rows] + 1


def _recipient_keys(log: CodedLog, info: MessageInfo, width: np.int64) -> tuple[IntArray, IntArray]:
    """Return the sorted recipient keys of every message and the row where each first appears."""
    rows = np.flatnonzero((log.msg >= 0) & (log.rcpt >= 0))
    keys, first = np.unique(row_key(log, rows, width), return_index=True)
    bare = np.setdiff1d(info.present, np.unique(keys // width))
    all_keys = np.concatenate([keys, bare.astype(np.int64) * width])
    all_first = np.concatenate([rows[first], info.first_row[bare]])
    order = np.argsort(all_keys)
    return all_keys[order], all_first[order]


def _outcome_rows(
    log: CodedLog, visits: Visits, keys: IntArray, width: np.int64
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Return (row, key, order, onward) of every row that ends or may end a recipient.

    Sorted by key then order. A message-level ``reject``/``expired`` row is repeated once per
    recipient it ends. ``onward`` is the visit that took over a ``sent`` (-1 otherwise).
    """
    own = np.flatnonzero(log.is_event(*_OUTCOMES) & (log.msg >= 0) & (log.rcpt >= 0))
    own_key = row_key(log, own, width)
    onward = _onward(log, visits, own)
    handed = onward >= 0
    own_order = own.copy()
    taken_at = visits.table["received_row"].to_numpy()[onward[handed]]
    own_order[handed] = np.where(taken_at >= 0, np.minimum(taken_at, own[handed]), own[handed])
    rows, row_keys, order = own, own_key, own_order
    whole = np.flatnonzero(log.is_event("reject", "expired") & (log.msg >= 0) & (log.rcpt < 0))
    if len(whole) and len(keys):
        recipients = pd.DataFrame({"msg": keys // width, "key": keys})
        spread = pd.DataFrame({"msg": log.msg[whole].astype(np.int64), "order": whole})
        spread = spread.merge(recipients, on="msg").sort_values("order", kind="stable")
        before = pd.DataFrame(
            {"order": own_order, "key": own_key, "kind": log.event[own], "t_own": log.t[own]}
        ).sort_values("order", kind="stable")
        found = pd.merge_asof(spread[["order", "key"]], before, on="order", by="key")
        kinds = found["kind"].to_numpy(dtype=np.float64)
        at = found["order"].to_numpy(np.int64)
        waiting = np.isnan(kinds) | (kinds == event_code("deferred"))
        returned = (kinds == event_code("bounced")) & (log.event[at] == event_code("expired"))
        returned &= found["t_own"].to_numpy() == log.t[at]
        taken = waiting | returned
        rows = np.concatenate([own, at[taken]])
        row_keys = np.concatenate([own_key, found["key"].to_numpy(np.int64)[taken]])
        order = np.concatenate([own_order, at[taken]])
        onward = np.concatenate([onward, np.full(int(taken.sum()), -1, dtype=np.int64)])
    index = np.lexsort((rows, order, row_keys))
    return rows[index], row_keys[index], order[index], onward[index]


def _aliases(log: CodedLog, rows: IntArray, row_keys: IntArray, width: np.int64) -> pd.DataFrame:
    """Return alias links (key, source, row) from ``orig_to=<...>`` in outcome details."""
    empty = pd.DataFrame({"key": [], "source": [], "row": []}, dtype=np.int64)
    own = log.rcpt[rows] >= 0
    if not own.any():
        return empty
    detail = log.take("detail", rows[own])
    names = pd.Series(np.asarray(detail.categories, dtype=object)).str.extract(_ORIG_TO)[0]
    recipients = pd.Index(log.labels["recipient"].astype(str))
    source_code = recipients.get_indexer(names.fillna("").to_numpy())
    source_code = np.where(names.isna().to_numpy(), -1, source_code)
    code = source_code[detail.codes]
    found = (code >= 0) & (row_keys[own] != log.msg[rows[own]] * width + code + 1)
    msg = log.msg[rows[own]][found].astype(np.int64)
    links = pd.DataFrame(
        {
            "key": row_keys[own][found],
            "source": msg * width + code[found] + 1,
            "row": rows[own][found],
        }
    )
    return links.drop_duplicates(["key", "source"], ignore_index=True)


def _onward(log: CodedLog, visits: Visits, rows: IntArray) -> IntArray:
    """Return, for each ``sent`` among ``rows``, the visit that took the message over (-1).

    The smtp client logs the remote's reply, ``250 2.0.0 Ok: queued as <queue id>`` as Postfix
    does: that names the remote's queue file. Without it, the message's latest visit at another
    node whose smtpd received it by the time of the ``sent``, from the sending node (when the
    ``connect`` names its client), is taken.
    """
    out = np.full(len(rows), -1, dtype=np.int64)
    sent = np.flatnonzero(log.event[rows] == event_code("sent"))
    table = visits.table
    if not len(sent) or not len(table):
        return out
    at = rows[sent]
    named = _queued_as(log, visits, at)
    out[sent] = named
    rest = named < 0
    received = table[table["t_received"].notna()]
    if not rest.any() or not len(received):
        return out
    right = pd.DataFrame(
        {
            "msg": received["msg"].to_numpy(np.int64),
            "t": received["t_received"].to_numpy(),
            "visit": received.index.to_numpy(np.int64),
        }
    ).sort_values("t", kind="stable")
    left = pd.DataFrame(
        {
            "msg": log.msg[at[rest]].astype(np.int64),
            "t": log.t[at[rest]],
            "i": np.arange(rest.sum()),
        }
    ).sort_values("t", kind="stable")
    found = pd.merge_asof(left, right, on="t", by="msg")
    hit = found["visit"].notna().to_numpy()
    index = found["i"].to_numpy()[hit]
    visit = found["visit"].to_numpy()[hit].astype(np.int64)
    sender = log.node[at[rest][index]]
    client = log.take_host("relay", table["connect_row"].to_numpy()[visit])
    ok = table["node"].to_numpy()[visit] != sender
    ok &= (client == "") | (client == log.labels["node"][sender])
    out[sent[np.flatnonzero(rest)[index[ok]]]] = visit[ok]
    return out


def _queued_as(log: CodedLog, visits: Visits, rows: IntArray) -> IntArray:
    """Return the visit named by ``queued as <id>`` in each row's detail (-1 if none)."""
    out = np.full(len(rows), -1, dtype=np.int64)
    detail = log.take("detail", rows)
    named = pd.Series(np.asarray(detail.categories, dtype=object)).str.extract(_QUEUED_AS)[0]
    if named.isna().all():
        return out
    qid_index = pd.Index(log.labels["queue_id"].astype(str))
    code = qid_index.get_indexer(named.fillna("").to_numpy())
    qid = np.where(named.isna().to_numpy(), -1, code)[detail.codes]
    table = visits.table
    files = table[table["fkey"] >= 0]
    right = pd.DataFrame(
        {
            "msg": files["msg"].to_numpy(np.int64),
            "qid": files["fkey"].to_numpy() % visits.queue_ids,
            "node": files["node"].to_numpy(np.int64),
            "visit": files.index.to_numpy(np.int64),
        }
    )
    left = pd.DataFrame(
        {"i": np.arange(len(rows)), "msg": log.msg[rows].astype(np.int64), "qid": qid}
    )
    pairs = left[left["qid"] >= 0].merge(right, on=["msg", "qid"])
    pairs = pairs[pairs["node"].to_numpy() != log.node[rows[pairs["i"].to_numpy()]]]
    pairs = pairs.drop_duplicates("i")
    out[pairs["i"].to_numpy()] = pairs["visit"].to_numpy()
    return out


def _status(log: CodedLog, kind: IntArray, row: IntArray, onward: IntArray) -> IntArray:
    """Map each outcome's event to a status; a ``sent`` still inside the run is pending."""
    lookup = np.full(max(event_code(name) for name in _STATUS_OF) + 1, PENDING, dtype=np.int64)
    for name, label in _STATUS_OF.items():
        lookup[event_code(name)] = STATUSES.index(label)
    status = np.where(kind >= 0, lookup[np.clip(kind, 0, len(lookup) - 1)], PENDING)
    sent = np.flatnonzero(kind == event_code("sent"))
    if len(sent):
        local = log.take_host("relay", row[sent]) == "local"
        status[sent[local | (onward[sent] >= 0)]] = PENDING
    return status
