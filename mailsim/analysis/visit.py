"""Rebuild each message's visits to each MTA and the queue states of every queue file.

Theory of operation. A *visit* is one stay of a message at one MTA node. It has up to two parts:

- an smtpd *session*: the rows ``connect``, ``reject``, ``received`` of one message at one node,
  in time order; each ``connect`` opens a new session (a greylisted sender that retries makes a
  second session). smtpd rows carry no queue id before ``received`` (Postfix logs ``NOQUEUE``),
  so sessions are found by position, not by key;
- a *queue file*: every row with a queue id at that node, ``(node, queue_id)`` being unique the way
  a Postfix queue id is. The session's ``received`` (or any other of its rows with a queue id)
  names the file it created.

A session with a file is one visit; a session without one (everything rejected) is a visit of its
own, and so is a file without a session (a message picked up locally). Queue states come from the
message-level transitions of each file: ``queued`` -> incoming, ``active`` -> active, ``deferred``
without recipient -> deferred, postsuper's ``hold`` -> hold and ``released`` -> deferred,
``removed``, ``expired`` or ``requeued`` (a new queue file takes over) -> gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from mailsim.analysis.frame import CodedLog, FloatArray, IntArray, event_code

__all__ = ["GONE", "QUEUES", "Visits", "first_per_group", "group_ends", "group_starts"]

#: Queue state codes; 0 means the queue file is gone (or not yet there).
GONE = 0
QUEUES: tuple[str, ...] = ("incoming", "active", "deferred", "hold")

#: Message-level queue transitions and the state each leads to (1-based index into QUEUES).
EVENT_STATES: dict[str, int] = {
    "queued": 1,
    "active": 2,
    "deferred": 3,
    "hold": 4,  # postsuper -h
    "released": 3,  # postsuper -H puts it back in the deferred queue
    "requeued": GONE,  # postsuper -r: the message continues in a new queue file
    "removed": GONE,
    "expired": GONE,
}


def group_starts(keys: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
    """Return a mask of the rows where sorted ``keys`` change (the first row of each group)."""
    starts = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        starts[1:] = keys[1:] != keys[:-1]
    return starts


def group_ends(keys: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
    """Return a mask of the last row of each group of sorted ``keys``."""
    ends = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        ends[:-1] = keys[1:] != keys[:-1]
    return ends


def first_per_group(
    group: IntArray, values: npt.NDArray[np.generic], count: int, fill: float, last: bool = False
) -> FloatArray:
    """Return the first (or last) value of each group id 0..count-1; ``fill`` where none.

    ``group`` must be sorted ascending (rows in group order, then time order), so the first row
    of a group in the array is its earliest event.
    """
    out = np.full(count, fill, dtype=np.float64)
    if len(group) == 0:
        return out
    if last:
        reverse = slice(None, None, -1)
        unique, index = np.unique(group[reverse], return_index=True)
        out[unique] = np.asarray(values, dtype=np.float64)[reverse][index]
    else:
        unique, index = np.unique(group, return_index=True)
        out[unique] = np.asarray(values, dtype=np.float64)[index]
    return out


@dataclass(frozen=True, eq=False)
class Visits:
    """Visits of messages to MTAs (``table``), and the queue-state runs of their files.

    ``table`` has one row per visit, the visit id being its position: msg, node (codes), fkey (the
    queue file's key, -1 for a session without file), connect_row and received_row (rows of the
    smtpd ``connect`` and ``received``, -1 if none), t_connect, t_received, t_queued,
    t_active (first entry to the active queue), t_end (``removed``/``expired``), t_session_end
    (``received``, else the last ``reject``, else the last smtpd row), t_start (t_connect, else the
    first row of the visit) and first (is this the message's first visit).

    ``sessions`` has one row per smtpd session, the session id being its position: msg, node,
    fkey, t_connect, connect_row, received_row, t_received, t_last_reject, t_session_end, t_first.
    ``changes`` has one row per queue-state change of a file: node, fkey, row, t, prev, state;
    ``states`` turns them into runs: fkey, node, state, t_start, t_end (inf while still there).
    """

    table: pd.DataFrame
    sessions: pd.DataFrame
    changes: pd.DataFrame
    states: pd.DataFrame
    row_session: npt.NDArray[np.int32]
    session_visit: IntArray
    file_keys: IntArray
    queue_ids: int

    @classmethod
    def build(cls, log: CodedLog) -> Visits:
        """Reconstruct every visit and queue-state run of ``log``."""
        queue_ids = max(log.count("queue_id"), 1)
        sessions, row_session = _sessions(log, queue_ids)
        files = _files(log, queue_ids)
        nfiles = len(files)
        file_keys = files["fkey"].to_numpy(np.int64)
        link = sessions["fkey"].to_numpy(np.int64)
        if nfiles:
            position = np.searchsorted(file_keys, link).clip(0, nfiles - 1)
            linked = (link >= 0) & (file_keys[position] == link)
        else:
            position = np.zeros(len(link), dtype=np.int64)
            linked = np.zeros(len(link), dtype=bool)
        session_visit = np.where(linked, position, -1).astype(np.int64)
        alone = np.flatnonzero(~linked)
        session_visit[alone] = nfiles + np.arange(len(alone))

        table = pd.DataFrame(
            {
                "msg": np.concatenate([files["msg"], sessions["msg"].to_numpy()[alone]]),
                "node": np.concatenate([files["node"], sessions["node"].to_numpy()[alone]]),
                "fkey": np.concatenate([file_keys, np.full(len(alone), -1, np.int64)]),
            }
        )
        nvisits = len(table)
        # A file's session fields come from the first session that names it.
        seen, first_session = np.unique(session_visit, return_index=True)
        for column in ("t_connect", "t_received", "t_session_end", "t_first"):
            values = np.full(nvisits, np.nan)
            values[seen] = sessions[column].to_numpy()[first_session]
            table[column] = values
        for column in ("connect_row", "received_row"):
            values_row = np.full(nvisits, -1, dtype=np.int64)
            values_row[seen] = sessions[column].to_numpy()[first_session]
            table[column] = values_row
        for column in ("t_received", "t_first"):
            own = np.full(nvisits, np.nan)
            own[:nfiles] = files[column].to_numpy()
            table[column] = np.fmin(table[column].to_numpy(), own)
        for column in ("t_queued", "t_active", "t_end"):
            own = np.full(nvisits, np.nan)
            own[:nfiles] = files[column].to_numpy()
            table[column] = own
        connect = table["t_connect"].to_numpy()
        table["t_start"] = np.where(np.isnan(connect), table["t_first"].to_numpy(), connect)
        order = np.lexsort((np.arange(nvisits), table["t_start"].to_numpy(), table["msg"]))
        first = np.zeros(nvisits, dtype=bool)
        first[order[group_starts(table["msg"].to_numpy()[order])]] = True
        table["first"] = first

        changes = _changes(log, queue_ids)
        return cls(
            table=table,
            sessions=sessions,
            changes=changes,
            states=_states(changes),
            row_session=row_session,
            session_visit=session_visit,
            file_keys=file_keys,
            queue_ids=queue_ids,
        )

    def of_rows(self, log: CodedLog, rows: IntArray) -> IntArray:
        """Return the visit each of ``rows`` belongs to (-1 if none can be found).

        smtpd rows belong to their session; rows with a queue id to that file; any other row of
        a message at an MTA to the latest visit of the message there that started before it.
        """
        visit = np.full(len(rows), -1, dtype=np.int64)
        session = self.row_session[rows]
        has_session = session >= 0
        visit[has_session] = self.session_visit[session[has_session]]
        qid = log.qid[rows]
        by_file = (visit < 0) & (qid >= 0) & (log.node[rows] >= 0)
        if by_file.any() and len(self.file_keys):
            key = log.node[rows[by_file]].astype(np.int64) * self.queue_ids + qid[by_file]
            position = np.searchsorted(self.file_keys, key).clip(0, len(self.file_keys) - 1)
            found = self.file_keys[position] == key
            visit[np.flatnonzero(by_file)[found]] = position[found]  # files are visits 0..n-1
        rest = np.flatnonzero((visit < 0) & (log.msg[rows] >= 0))
        if len(rest):
            visit[rest] = self._latest(log, rows[rest])
        return visit

    def _latest(self, log: CodedLog, rows: IntArray) -> IntArray:
        """Return the latest visit of each row's message at its node started at or before it."""
        nodes = np.int64(max(log.count("node"), 1))
        table = self.table
        right = pd.DataFrame(
            {
                "key": table["msg"].to_numpy(np.int64) * nodes + table["node"].to_numpy(),
                "t": table["t_start"].to_numpy(),
                "visit": np.arange(len(table), dtype=np.int64),
            }
        )
        right = right[right["t"].notna()].sort_values("t", kind="stable")
        left = pd.DataFrame(
            {
                "key": log.msg[rows].astype(np.int64) * nodes + log.node[rows],
                "t": log.t[rows],
                "at": np.arange(len(rows)),
            }
        ).sort_values("t", kind="stable")
        found = pd.merge_asof(left, right, on="t", by="key", direction="backward")
        out = np.full(len(rows), -1, dtype=np.int64)
        hit = found["visit"].notna().to_numpy()
        out[found["at"].to_numpy()[hit]] = found["visit"].to_numpy()[hit].astype(np.int64)
        return out


def _sessions(log: CodedLog, queue_ids: int) -> tuple[pd.DataFrame, npt.NDArray[np.int32]]:
    """Cut the smtpd rows of each (message, node) into sessions at every ``connect``."""
    rows = np.flatnonzero(log.is_event("connect", "reject", "received") & (log.msg >= 0))
    nodes = np.int64(max(log.count("node"), 1))
    key = log.msg[rows].astype(np.int64) * nodes + log.node[rows]
    order = np.lexsort((rows, key))
    rows, key = rows[order], key[order]
    is_connect = log.event[rows] == event_code("connect")
    session = np.cumsum(group_starts(key) | is_connect) - 1
    count = int(session[-1]) + 1 if len(session) else 0
    starts = group_starts(session)
    t = log.t[rows]
    events = log.event[rows]
    received = events == event_code("received")
    rejected = events == event_code("reject")
    has_qid = log.qid[rows] >= 0
    qid = first_per_group(session[has_qid], log.qid[rows][has_qid], count, -1)
    first_received = first_per_group(session[received], t[received], count, np.nan)
    last_reject = first_per_group(session[rejected], t[rejected], count, np.nan, last=True)
    last_row = first_per_group(session, t, count, np.nan, last=True)
    end = np.where(np.isnan(first_received), last_reject, first_received)
    node = log.node[rows][starts].astype(np.int64)
    table = pd.DataFrame(
        {
            "msg": log.msg[rows][starts].astype(np.int64),
            "node": node,
            "fkey": np.where(qid >= 0, node * queue_ids + qid, -1).astype(np.int64),
            "t_connect": np.where(is_connect[starts], t[starts], np.nan),
            "connect_row": np.where(is_connect[starts], rows[starts], -1).astype(np.int64),
            "received_row": first_per_group(session[received], rows[received], count, -1).astype(
                np.int64
            ),
            "t_received": first_received,
            "t_last_reject": last_reject,
            "t_session_end": np.where(np.isnan(end), last_row, end),
            "t_first": t[starts],
        }
    )
    row_session = np.full(len(log), -1, dtype=np.int32)
    row_session[rows] = session
    return table, row_session


def _files(log: CodedLog, queue_ids: int) -> pd.DataFrame:
    """Summarise every queue file (node, queue id): its message and its milestones."""
    rows = np.flatnonzero((log.qid >= 0) & (log.node >= 0))
    fkey = log.node[rows].astype(np.int64) * queue_ids + log.qid[rows]
    order = np.lexsort((rows, fkey))
    rows, fkey = rows[order], fkey[order]
    starts = group_starts(fkey)
    group = np.cumsum(starts) - 1
    count = int(starts.sum())
    t = log.t[rows]
    events = log.event[rows]
    table = pd.DataFrame(
        {
            "fkey": fkey[starts],
            "node": log.node[rows][starts].astype(np.int64),
            "t_first": t[starts],
        }
    )
    has_msg = log.msg[rows] >= 0
    table["msg"] = first_per_group(group[has_msg], log.msg[rows][has_msg], count, -1).astype(
        np.int64
    )
    for column, names in (
        ("t_received", ("received",)),
        ("t_queued", ("queued",)),
        ("t_active", ("active",)),
        ("t_end", ("removed", "expired")),
    ):
        mask = np.isin(events, [event_code(name) for name in names])
        if column != "t_received":
            mask &= log.rcpt[rows] < 0
        table[column] = first_per_group(group[mask], t[mask], count, np.nan)
    return table


def _changes(log: CodedLog, queue_ids: int) -> pd.DataFrame:
    """Return every queue-state change of every file, vectorised (groupby shift over files)."""
    codes = [event_code(name) for name in EVENT_STATES]
    lookup = np.zeros(max(codes) + 1, dtype=np.int8)
    lookup[codes] = list(EVENT_STATES.values())
    mask = np.isin(log.event, codes) & (log.qid >= 0) & (log.node >= 0) & (log.rcpt < 0)
    rows = np.flatnonzero(mask)
    fkey = log.node[rows].astype(np.int64) * queue_ids + log.qid[rows]
    order = np.lexsort((rows, fkey))
    rows, fkey = rows[order], fkey[order]
    state = lookup[log.event[rows]]
    prev = np.empty_like(state)
    if len(state):
        prev[1:] = state[:-1]
    prev[group_starts(fkey)] = GONE
    keep = prev != state
    return pd.DataFrame(
        {
            "node": log.node[rows][keep].astype(np.int64),
            "fkey": fkey[keep],
            "row": rows[keep].astype(np.int64),
            "t": log.t[rows][keep],
            "prev": prev[keep],
            "state": state[keep],
        }
    )


def _states(changes: pd.DataFrame) -> pd.DataFrame:
    """Turn state changes into runs [t_start, t_end) of one state per file (inf: still there)."""
    fkey = changes["fkey"].to_numpy()
    t = changes["t"].to_numpy()
    end = np.full(len(t), np.inf)
    if len(t) > 1:
        end[:-1] = t[1:]
    last = np.ones(len(t), dtype=bool)
    if len(t) > 1:
        last[:-1] = fkey[1:] != fkey[:-1]
    end[last] = np.inf
    runs = pd.DataFrame(
        {
            "fkey": fkey,
            "node": changes["node"].to_numpy(),
            "state": changes["state"].to_numpy(),
            "t_start": t,
            "t_end": end,
        }
    )
    return runs[runs["state"] != GONE].reset_index(drop=True)
