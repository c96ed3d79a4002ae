"""Follow every recipient along its path of MTAs, and split its latency by stage.

Theory of operation. A recipient's *path* is the chain of visits where it was handed on: one per
``sent`` row (the last one per visit), then the visit of its outcome (see
:mod:`mailsim.analysis.outcome`). An address expanded from an alias first inherits the hops of the
original address before the expansion. Hop k lasts from S_k to E_k:

- S_1 is the message's arrival (``submit``; the start of its first visit if there is none), and
  S_k = E_(k-1) = the start (``connect``) of visit k for k > 1;
- E_K is the outcome's time.

Inside a hop the milestones connect <= received <= queued <= first active cut it into
``smtpd_wait``, ``smtpd``, ``cleanup``, ``incoming`` and the rest, which is ``deferred`` (time the
queue file spent in the deferred queue) plus ``delivery``. A missing milestone takes the value of
the next one (a rejected recipient has only smtpd time), so the stages always add up to E_K - S_1,
the latency. Why the remote ``connect`` and not the sender's ``sent``: the sender logs ``sent`` when
the remote has already replied, i.e. after the remote's smtpd has worked, so the wait for an smtpd
process at hop k > 1 is inside the previous hop's ``delivery`` and hop k's ``smtpd_wait`` is 0.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mailsim.analysis.frame import CodedLog, FloatArray, IntArray, event_code
from mailsim.analysis.outcome import PENDING, MessageInfo, Outcomes
from mailsim.analysis.visit import QUEUES, Visits, group_ends, group_starts

__all__ = ["STAGES", "RecipientPaths"]

STAGES: tuple[str, ...] = ("smtpd_wait", "smtpd", "cleanup", "incoming", "deferred", "delivery")
_DEFERRED_STATE = QUEUES.index("deferred") + 1
_MILESTONES = ("t_connect", "t_received", "t_queued", "t_active")


@dataclass(frozen=True, eq=False)
class RecipientPaths:
    """Outcome, path and latency split of every (message, recipient).

    ``final``: one row per recipient, in order of first appearance: key, msg, rcpt (codes, -1 for
    the ``""`` recipient), row (of the outcome, -1 if none), status (index into
    :data:`~mailsim.analysis.outcome.STATUSES`), onward (visit a final ``sent`` went to, -1),
    reason_row (row whose dsn/relay explain the outcome),
    t_done, hops, one column per stage of :data:`STAGES`, visit (of the last hop), t_fetched.
    ``chain``: one row per hop: key, msg, rcpt, hop (1-based), row, visit, node, kind (event code).
    """

    final: pd.DataFrame
    chain: pd.DataFrame

    @classmethod
    def build(cls, log: CodedLog, visits: Visits, info: MessageInfo) -> RecipientPaths:
        """Follow every recipient of ``log``."""
        outcomes = Outcomes.build(log, visits, info)
        keys, width, final_row = outcomes.keys, outcomes.width, outcomes.final_row
        chain = _chain(log, visits, info, outcomes)
        final = pd.DataFrame(
            {
                "key": keys,
                "msg": (keys // width).astype(np.int64),
                "rcpt": (keys % width - 1).astype(np.int64),
                "row": final_row,
                "status": outcomes.status,
                "onward": outcomes.onward,
                "reason_row": outcomes.reason_row,
            }
        )
        pending = outcomes.status == PENDING
        final["t_done"] = np.where(pending, np.nan, log.t[np.maximum(final_row, 0)])
        position = np.searchsorted(keys, chain["key"].to_numpy())
        final["hops"] = np.bincount(position, minlength=len(keys)).astype(np.int64)
        for stage in STAGES:
            sums = np.bincount(position, weights=chain[stage].to_numpy(), minlength=len(keys))
            final[stage] = np.where(pending, np.nan, sums)
        visit = np.full(len(keys), -1, dtype=np.int64)
        last = group_ends(position)
        visit[position[last]] = chain["visit"].to_numpy()[last]
        final["visit"] = visit
        final["t_fetched"] = _fetched(log, keys, width)
        order = np.argsort(outcomes.first_row, kind="stable")
        final = final.iloc[order].reset_index(drop=True)
        return cls(final=final, chain=chain.drop(columns=list(STAGES)))


def _fetched(log: CodedLog, keys: IntArray, width: np.int64) -> FloatArray:
    """Return, per recipient key, when its mail client first fetched the message (NaN: never)."""
    rows = np.flatnonzero(log.is_event("fetched") & (log.msg >= 0) & (log.rcpt >= 0))
    out = np.full(len(keys), np.nan)
    if not len(rows) or not len(keys):
        return out
    key = log.msg[rows].astype(np.int64) * width + log.rcpt[rows] + 1
    found = np.searchsorted(keys, key).clip(0, len(keys) - 1)
    ok = keys[found] == key
    unique, index = np.unique(found[ok], return_index=True)
    out[unique] = log.t[rows[ok]][index]
    return out


def _at(values: FloatArray, index: IntArray) -> FloatArray:
    """Return ``values[index]``, NaN where index is -1."""
    if not len(values):
        return np.full(len(index), np.nan)
    return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)


def _hand_offs(
    log: CodedLog, visits: Visits, outcomes: Outcomes
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Return (row, key, visit, order) of the last ``sent`` per (recipient, visit).

    An address expanded from an alias also gets the hand-offs of the original before it (one
    per visit: an address sent both directly and through an alias passed each MTA once).
    """
    sent = log.event[outcomes.rows] == event_code("sent")
    rows, keys, order = outcomes.rows[sent], outcomes.row_keys[sent], outcomes.order[sent]
    visit = visits.of_rows(log, rows)
    links = outcomes.links
    if len(links) and len(rows):
        hops = pd.DataFrame({"source": keys, "at": rows, "visit": visit, "order": order})
        inherited = hops.merge(links, on="source")
        inherited = inherited[inherited["order"] < inherited["row"]]
        rows = np.concatenate([rows, inherited["at"].to_numpy(np.int64)])
        keys = np.concatenate([keys, inherited["key"].to_numpy(np.int64)])
        visit = np.concatenate([visit, inherited["visit"].to_numpy(np.int64)])
        order = np.concatenate([order, inherited["order"].to_numpy(np.int64)])
    index = np.lexsort((rows, order, visit, keys))
    rows, keys, visit, order = rows[index], keys[index], visit[index], order[index]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = (keys[1:] != keys[:-1]) | (visit[1:] != visit[:-1])
    return rows[last], keys[last], visit[last], order[last]


def _chain(log: CodedLog, visits: Visits, info: MessageInfo, outcomes: Outcomes) -> pd.DataFrame:
    """Return one row per hop of every recipient, with the hop's stage durations."""
    hop_rows, hop_keys, hop_visit, hop_order = _hand_offs(log, visits, outcomes)
    final_row = outcomes.final_row
    ending = final_row >= 0
    ending[ending] = log.event[final_row[ending]] != event_code("sent")
    end_rows = final_row[ending]
    all_rows = np.concatenate([hop_rows, end_rows])
    all_keys = np.concatenate([hop_keys, outcomes.keys[ending]])
    visit = np.concatenate([hop_visit, visits.of_rows(log, end_rows)])
    story = np.concatenate([hop_order, end_rows])  # only a sent's order differs from its row
    # Hops of addresses that are no final recipient (expanded aliases) are not part of any path.
    known = np.isin(all_keys, outcomes.keys)
    all_rows, all_keys, visit, story = all_rows[known], all_keys[known], visit[known], story[known]
    index = np.lexsort((all_rows, story, all_keys))
    all_rows, all_keys, visit = all_rows[index], all_keys[index], visit[index]

    width = outcomes.width
    starts = group_starts(all_keys)
    index = np.arange(len(all_keys))
    hop = index - np.maximum.accumulate(np.where(starts, index, 0)) + 1
    has_next = np.append(~starts[1:], False) if len(starts) else starts
    next_visit = np.where(has_next, np.append(visit[1:], -1), -1)
    table = visits.table
    msg = (all_keys // width).astype(np.int64)
    start = _at(table["t_start"].to_numpy(), visit)
    begin = np.where(hop == 1, info.t_arrival[msg], start)
    end = np.where(has_next, _at(table["t_start"].to_numpy(), next_visit), log.t[all_rows])
    # Milestones begin <= connect <= received <= queued <= active <= end; a missing one takes
    # the value of the next, so the stages telescope to end - begin whatever is missing.
    points = [_at(table[name].to_numpy(), visit) for name in _MILESTONES]
    later = end
    for at in reversed(range(len(points))):
        points[at] = np.where(np.isnan(points[at]), later, points[at])
        later = points[at]
    clipped = [begin]
    for value in points:
        clipped.append(np.minimum(np.maximum(value, clipped[-1]), end))
    out = pd.DataFrame(
        {
            "key": all_keys,
            "msg": msg,
            "rcpt": (all_keys % width - 1).astype(np.int64),
            "hop": hop.astype(np.int64),
            "row": all_rows,
            "visit": visit,
            "node": np.where(
                visit >= 0, _at(table["node"].to_numpy(np.float64), visit), log.node[all_rows]
            ).astype(np.int64),
            "kind": log.event[all_rows].astype(np.int64),
        }
    )
    for stage, (lo, hi) in zip(STAGES[:4], itertools.pairwise(clipped), strict=True):
        out[stage] = hi - lo
    active = clipped[-1]
    waited = _deferred_time(visits, visit, active, end)
    out["deferred"] = waited
    out["delivery"] = end - active - waited
    return out


def _deferred_time(visits: Visits, visit: IntArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Return the time each hop's queue file spent in the deferred queue within [lo, hi]."""
    fkey = np.where(visit >= 0, _at(visits.table["fkey"].to_numpy(np.float64), visit), -1)
    runs = visits.states[visits.states["state"] == _DEFERRED_STATE]
    out = np.zeros(len(visit))
    hit = np.flatnonzero(np.isin(fkey, runs["fkey"].to_numpy()))
    if not len(hit):
        return out
    hops = pd.DataFrame(
        {"hop": hit, "fkey": fkey[hit].astype(np.int64), "lo": lo[hit], "hi": hi[hit]}
    )
    pairs = hops.merge(runs[["fkey", "t_start", "t_end"]], on="fkey")
    high = np.minimum(pairs["t_end"].to_numpy(), pairs["hi"].to_numpy())
    low = np.maximum(pairs["t_start"].to_numpy(), pairs["lo"].to_numpy())
    weights = np.clip(high - low, 0.0, None)
    return out + np.bincount(pairs["hop"].to_numpy(), weights=weights, minlength=len(visit))
