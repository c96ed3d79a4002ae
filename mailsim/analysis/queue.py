"""Queue depth over time, and time averages for Little's law (L = lambda W).

Depth is rebuilt from the message-level transitions of each queue file (DESIGN.md section 3):
cleanup ``queued`` -> incoming, qmgr ``active`` -> active, qmgr ``deferred`` without recipient ->
deferred, qmgr ``removed``/``expired`` -> gone. Each change is a -1 on the queue left and a +1 on
the queue entered; a cumulative sum per (node, queue) gives the depth, all in numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mailsim.analysis.frame import IntArray
from mailsim.analysis.model import LogModel
from mailsim.analysis.visit import QUEUES, group_starts

__all__ = ["in_system", "node_code", "queue_depth", "sojourns", "time_average_depth"]


def node_code(model: LogModel, node: str) -> int:
    """Return the code of ``node``; raise ValueError naming the nodes the log has."""
    labels = model.log.labels["node"]
    found = np.flatnonzero(labels == node)
    if not found.size or node == "":
        known = ", ".join(sorted(str(label) for label in labels if label))
        raise ValueError(f"unknown node {node!r}; the log has: {known}")
    return int(found[0])


def queue_depth(model: LogModel, nodes: Iterable[str] | None = None) -> pd.DataFrame:
    """Return the depth of every queue of every node after each change, as a step function.

    Columns: ``t`` (s), ``node``, ``queue`` (incoming/active/deferred), ``depth`` (messages after
    the changes at ``t``; 0 before a (node, queue)'s first row). Changes at the same instant are
    merged into one row, and instants where the depth ends where it was leave none, so within a
    (node, queue) ``t`` strictly increases and ``depth`` changes on every row. Sorted by node
    name, queue and time.
    """
    changes = model.visits.changes
    if nodes is not None:
        wanted = [node_code(model, node) for node in nodes]
        changes = changes[changes["node"].isin(wanted)]
    left = changes[changes["prev"] > 0]
    entered = changes[changes["state"] > 0]
    node = np.concatenate([left["node"].to_numpy(), entered["node"].to_numpy()])
    queue = np.concatenate([left["prev"].to_numpy(), entered["state"].to_numpy()])
    t = np.concatenate([left["t"].to_numpy(), entered["t"].to_numpy()])
    row = np.concatenate([left["row"].to_numpy(), entered["row"].to_numpy()])
    step = np.concatenate([-np.ones(len(left), np.int64), np.ones(len(entered), np.int64)])
    name_rank = np.argsort(np.argsort(model.log.labels["node"].astype(str)))
    order = np.lexsort((row, t, queue, name_rank[node] if len(node) else node))
    node, queue, t, step = node[order], queue[order], t[order], step[order]
    group = node.astype(np.int64) * (len(QUEUES) + 1) + queue
    total = np.cumsum(step)
    index = np.arange(len(group))
    first = np.maximum.accumulate(np.where(group_starts(group), index, 0))
    depth = total - (total - step)[first]
    last = np.ones(len(t), dtype=bool)
    last[:-1] = (group[1:] != group[:-1]) | (t[1:] != t[:-1])
    node, queue, t, depth, group = node[last], queue[last], t[last], depth[last], group[last]
    # Changes that cancel out at one instant (queued and active together) leave no step.
    before = np.zeros(len(depth), dtype=np.int64)
    before[1:] = depth[:-1]
    before[group_starts(group)] = 0
    step_at = depth != before
    return pd.DataFrame(
        {
            "t": t[step_at],
            "node": model.log.label("node", node[step_at]),
            "queue": pd.Categorical.from_codes(
                queue[step_at].astype(np.int64) - 1, pd.Index(QUEUES)
            ),
            "depth": depth[step_at].astype(np.int64),
        }
    )


def _window(model: LogModel, t0: float, t1: float | None) -> tuple[float, float]:
    """Return the averaging window, [t0, end of log] by default; reject an empty one."""
    end = model.t_end if t1 is None else float(t1)
    if not end > t0:
        raise ValueError(f"empty averaging window [{t0}, {end}]: t1 must be after t0")
    return float(t0), end


def _average(start: np.ndarray, stop: np.ndarray, t0: float, t1: float) -> float:
    """Return the time-average count of intervals [start, stop) open within [t0, t1]."""
    overlap = np.minimum(stop, t1) - np.maximum(start, t0)
    return float(np.clip(overlap, 0.0, None).sum() / (t1 - t0))


def time_average_depth(
    model: LogModel, node: str, queue: str, t0: float = 0.0, t1: float | None = None
) -> float:
    """Return the time-average number of messages in ``queue`` of ``node`` over [t0, t1].

    This is the L of Little's law for that queue; t1 defaults to the last event of the log.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    code = node_code(model, node)
    t0, t1 = _window(model, t0, t1)
    runs = model.visits.states
    runs = runs[(runs["node"] == code) & (runs["state"] == QUEUES.index(queue) + 1)]
    return _average(runs["t_start"].to_numpy(), runs["t_end"].to_numpy(), t0, t1)


def sojourns(model: LogModel, node: str) -> pd.DataFrame:
    """Return when each visit to ``node`` arrived and left: msg, t_arrival, t_departure (s).

    Arrival is the message's ``submit`` for its first visit, else the visit's smtpd ``connect``
    (the event log cannot tell when a relayed message started to wait for the remote smtpd).
    Departure is qmgr ``removed``/``expired`` for a visit that made a queue file (inf if it is
    still queued at the end), else the end of its smtpd session (refused messages).
    """
    code = node_code(model, node)
    table = model.visits.table
    visits = table[table["node"] == code]
    msg: IntArray = visits["msg"].to_numpy(np.int64)
    start = visits["t_start"].to_numpy()
    submit = model.messages.t_submit[msg] if len(msg) else start
    first = visits["first"].to_numpy() & ~np.isnan(submit) & (submit <= start)
    end = visits["t_end"].to_numpy()
    has_file = visits["fkey"].to_numpy() >= 0
    stays = np.where(np.isnan(end), np.inf, end)
    departure = np.where(has_file, stays, visits["t_session_end"].to_numpy())
    return pd.DataFrame(
        {
            "msg": model.log.label("msg", msg),
            "t_arrival": np.where(first, submit, start),
            "t_departure": departure,
        }
    )


def in_system(model: LogModel, node: str, t0: float = 0.0, t1: float | None = None) -> float:
    """Return the time-average number of messages present at ``node`` over [t0, t1].

    A message is present from its arrival to its departure as :func:`sojourns` defines them:
    waiting for and talking to smtpd, in cleanup, in any queue, being delivered. With a window
    that every visit starts and ends inside, this is exactly Little's L = lambda W.
    """
    visits = sojourns(model, node)
    t0, t1 = _window(model, t0, t1)
    return _average(visits["t_arrival"].to_numpy(), visits["t_departure"].to_numpy(), t0, t1)
