"""The tables a run is read through: recipients, messages, throughput, summary, smtpd waits.

Each function takes the :class:`~mailsim.analysis.model.LogModel` of a run and returns a
DataFrame; :class:`~mailsim.analysis.run.Run` calls them and caches the result. Times are
scenario seconds. Queue-depth functions live in :mod:`mailsim.analysis.queue` and are re-exported
here, so everything tabular is ``tables.<name>``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mailsim.analysis.frame import event_code
from mailsim.analysis.hop import STAGES
from mailsim.analysis.model import LogModel
from mailsim.analysis.outcome import STATUSES
from mailsim.analysis.queue import in_system, node_code, queue_depth, sojourns, time_average_depth

__all__ = [
    "PERCENTILES",
    "in_system",
    "latency_table",
    "messages",
    "queue_depth",
    "recipients",
    "sojourns",
    "stage_waits",
    "summary",
    "throughput",
    "time_average_depth",
]

#: Latency percentiles reported everywhere (summary, report, terminal).
PERCENTILES: tuple[int, ...] = (50, 95, 99)
_NODE_EVENTS = ("connect", "received", "reject", "delivered", "sent", "deferred", "bounced")
_NUMBER = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_DELAYS = rf" delays={_NUMBER}/{_NUMBER}/{_NUMBER}/{_NUMBER}(?:\s|$)"


def recipients(model: LogModel) -> pd.DataFrame:
    """Return one row per (message, final recipient) with its outcome and latency split.

    Columns: msg, sender, recipient, size, node (where the outcome happened), status
    (delivered/relayed/bounced/rejected/expired/pending), dsn, relay, t_submit, t_done,
    latency (t_done - t_submit), hops, then the stages smtpd_wait, smtpd, cleanup, incoming,
    deferred, delivery (summed over hops; they add up to latency), t_fetched, fetch_wait
    (t_fetched - t_done, NaN if never fetched), then delay_a, delay_b, delay_c, delay_d: the
    Postfix ``delays=a/b/c/d`` split (s) its outcome row logged (the last hop's; NaN where the
    row has none, as for an smtpd reject). ``relayed`` means handed by ``sent`` to a host
    that logs nothing (outside the lab); ``pending`` recipients have NaN t_done and stages, their
    dsn/relay/node are those of their last attempt. See :mod:`mailsim.analysis.hop` for how
    paths and stages are defined.
    """
    log = model.log
    info = model.messages
    final = model.paths.final
    msg = final["msg"].to_numpy()
    row = final["row"].to_numpy()
    status = final["status"].to_numpy()
    t_submit = info.t_arrival[msg]
    t_done = final["t_done"].to_numpy()
    table = pd.DataFrame(
        {
            "msg": log.label("msg", msg),
            "sender": log.label("sender", info.sender[msg]),
            "recipient": log.label("recipient", final["rcpt"].to_numpy()),
            "size": info.size[msg],
            "node": log.label("node", np.where(row >= 0, log.node[np.maximum(row, 0)], -1)),
            "status": pd.Categorical.from_codes(status, categories=pd.Index(STATUSES)),
            "dsn": log.take("dsn", final["reason_row"].to_numpy()),
            "relay": log.take("relay", final["reason_row"].to_numpy()),
            "t_submit": t_submit,
            "t_done": t_done,
            "latency": t_done - t_submit,
            "hops": final["hops"].to_numpy(),
        }
    )
    for stage in STAGES:
        table[stage] = final[stage].to_numpy()
    fetched = final["t_fetched"].to_numpy()
    table["t_fetched"] = fetched
    table["fetch_wait"] = np.where(status == STATUSES.index("delivered"), fetched - t_done, np.nan)
    delays = _delays(model, final["reason_row"].to_numpy())
    for index, letter in enumerate("abcd"):
        table[f"delay_{letter}"] = delays[:, index]
    return table


def _delays(model: LogModel, rows: np.ndarray) -> np.ndarray:
    """Return the ``delays=a/b/c/d`` of each row's detail as an (n, 4) array (NaN: none).

    Parsed once per distinct detail text (docs/design.md section 3: every per-recipient
    outcome ends its detail with it); the detail itself is left as it is.
    """
    detail = model.log.take("detail", rows)
    found = pd.Series(np.asarray(detail.categories, dtype=object), dtype=object).str.extract(
        _DELAYS
    )
    values = found.astype(np.float64).to_numpy().reshape(-1, 4)
    if not len(values):
        return np.full((len(rows), 4), np.nan)
    return values[np.asarray(detail.codes)]


def messages(model: LogModel) -> pd.DataFrame:
    """Return one row per message, in order of first appearance in the log.

    Columns: msg, sender, size, nrcpt (named recipients), t_submit, t_first_delivery,
    t_last_outcome, latency (t_last_outcome - t_submit once no recipient is pending, else NaN),
    n_delivered, n_relayed, n_bounced, n_rejected, n_expired, n_pending, n_deferred_attempts
    (recipient-level ``deferred`` rows), hops (queue files the message occupied, over all MTAs).
    """
    log = model.log
    info = model.messages
    final = model.paths.final
    order = info.present[np.argsort(info.first_row[info.present], kind="stable")]
    slot = np.full(log.count("msg"), -1, dtype=np.int64)
    slot[order] = np.arange(len(order))
    where = slot[final["msg"].to_numpy()]
    count = len(order)
    status = final["status"].to_numpy()
    t_done = final["t_done"].to_numpy()
    table = pd.DataFrame(
        {
            "msg": log.label("msg", order),
            "sender": log.label("sender", info.sender[order]),
            "size": info.size[order],
            "nrcpt": np.bincount(where, weights=final["rcpt"].to_numpy() >= 0, minlength=count),
            "t_submit": info.t_arrival[order],
            "t_first_delivery": _reduce(np.fmin, where, t_done, status == 0, count),
            "t_last_outcome": _reduce(np.fmax, where, t_done, ~np.isnan(t_done), count),
        }
    )
    table["nrcpt"] = table["nrcpt"].astype(np.int64)
    for code, name in enumerate(STATUSES):
        counts = np.bincount(where[status == code], minlength=count)
        table[f"n_{name}"] = counts.astype(np.int64)
    done = table["n_pending"].to_numpy() == 0
    table.insert(7, "latency", np.where(done, table["t_last_outcome"] - table["t_submit"], np.nan))
    rows = np.flatnonzero(log.is_event("deferred") & (log.rcpt >= 0) & (log.msg >= 0))
    table["n_deferred_attempts"] = _per_message(slot, log.msg[rows], count)
    visits = model.visits.table
    files = visits[visits["fkey"] >= 0]["msg"].to_numpy(np.int64)
    table["hops"] = _per_message(slot, files, count)
    return table


def _reduce(
    func: np.ufunc, slot: np.ndarray, values: np.ndarray, mask: np.ndarray, count: int
) -> np.ndarray:
    """Return func (fmin/fmax) of ``values[mask]`` per slot; NaN for slots with none."""
    out = np.full(count, np.nan)
    func.at(out, slot[mask], values[mask])
    return out


def _per_message(slot: np.ndarray, msg: np.ndarray, count: int) -> np.ndarray:
    """Count occurrences of each message code, by output slot."""
    where = slot[msg]
    return np.bincount(where[where >= 0], minlength=count).astype(np.int64)


def throughput(model: LogModel, interval: float = 60.0, event: str = "delivered") -> pd.DataFrame:
    """Return how many ``event`` rows each node logged per interval, plus a ``total`` column.

    The index ``t`` is the start of each interval (s), from 0 to the end of the log, including
    empty intervals. ``event="delivered"`` counts recipients delivered to mailboxes,
    ``"received"`` messages accepted by smtpd, ``"sent"`` relay hand-offs.
    """
    if not interval > 0:
        raise ValueError(f"interval must be positive seconds, got {interval!r}")
    code = event_code(event)
    log = model.log
    rows = np.flatnonzero((log.event == code) & (log.node >= 0))
    bins = int(model.t_end // interval) + 1
    slot = (log.t[rows] // interval).astype(np.int64)
    node = log.node[rows]
    names = sorted(str(label) for label in log.labels["node"][np.unique(node)])
    table = pd.DataFrame(index=pd.Index(np.arange(bins) * float(interval), name="t"))
    for name in names:
        mine = node == node_code(model, name)
        table[name] = np.bincount(slot[mine], minlength=bins).astype(np.int64)
    table["total"] = np.bincount(slot, minlength=bins).astype(np.int64)
    return table


def stage_waits(model: LogModel, node: str, daemon: str = "smtpd") -> pd.DataFrame:
    """Return one row per smtpd session at ``node``: how long it waited and was served.

    Columns: msg, first_hop, t_arrival, t_connect, t_end, wait (t_connect - t_arrival), service
    (t_end - t_connect), outcome (received/rejected/open). Arrival is known only for a message's
    first session, from its ``submit``: a relayed message's remote ``connect`` comes before the
    sender logs ``sent``, so its wait is NaN. t_end is ``received``, else the last ``reject``.
    Sorted by t_connect. These are the waits an M/M/c (Erlang C) check compares with theory.
    """
    if daemon != "smtpd":
        raise ValueError(f"stage waits are defined for daemon 'smtpd' only, got {daemon!r}")
    code = node_code(model, node)
    sessions = model.visits.sessions
    order = np.lexsort((np.arange(len(sessions)), sessions["t_first"], sessions["msg"]))
    first = np.zeros(len(sessions), dtype=bool)
    msg_sorted = sessions["msg"].to_numpy()[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = msg_sorted[1:] != msg_sorted[:-1]
    first[order[starts]] = True
    mine = (sessions["node"].to_numpy() == code) & sessions["t_connect"].notna().to_numpy()
    chosen = sessions[mine]
    msg = chosen["msg"].to_numpy(np.int64)
    connect = chosen["t_connect"].to_numpy()
    submit = model.messages.t_submit[msg]
    first_hop = first[mine] & (submit <= connect)
    received = chosen["t_received"].to_numpy()
    rejected = chosen["t_last_reject"].to_numpy()
    end = np.where(np.isnan(received), rejected, received)
    outcome = np.where(~np.isnan(received), 0, np.where(np.isnan(rejected), 2, 1))
    arrival = np.where(first_hop, submit, np.nan)
    table = pd.DataFrame(
        {
            "msg": model.log.label("msg", msg),
            "first_hop": first_hop,
            "t_arrival": arrival,
            "t_connect": connect,
            "t_end": end,
            "wait": connect - arrival,
            "service": end - connect,
            "outcome": pd.Categorical.from_codes(
                outcome, pd.Index(["received", "rejected", "open"])
            ),
        }
    )
    return table.iloc[np.argsort(connect, kind="stable")].reset_index(drop=True)


def latency_table(recipient_table: pd.DataFrame) -> pd.DataFrame:
    """Return latency statistics per (node of the outcome, status): count, mean, p50/95/99, max."""
    done = recipient_table[recipient_table["status"] != "pending"]
    groups = done.groupby(["node", "status"], observed=True)["latency"]
    table = groups.agg(["count", "mean"])
    for p in PERCENTILES:
        table[f"p{p}"] = groups.quantile(p / 100)
    table["max"] = groups.max()
    return table.reset_index()


def summary(model: LogModel, recipient_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return a tidy summary: one row per (scope, metric, value), pflogsumm-like.

    Scope ``run`` has messages_submitted, messages_received (by any MTA), recipients, one count
    per status, ``rejected <dsn>`` per reply code, sent (relay hand-offs), deferred_attempts,
    still_queued (queue files left at the end), bytes_submitted, and latency_mean_s,
    latency_p50_s, latency_p95_s, latency_p99_s, latency_max_s over delivered recipients. Each MTA
    node then has its own counts of connect, received, reject, delivered, sent, deferred,
    bounced, expired events and bytes_received.
    """
    log = model.log
    table = recipients(model) if recipient_table is None else recipient_table
    info = model.messages
    rows: list[tuple[str, str, float]] = []

    def add(metric: str, value: float, scope: str = "run") -> None:
        rows.append((scope, metric, float(value)))

    submitted = np.unique(log.msg[log.is_event("submit") & (log.msg >= 0)])
    add("messages_submitted", len(submitted))
    add("messages_received", len(np.unique(log.msg[log.is_event("received") & (log.msg >= 0)])))
    add("recipients", int((table["recipient"] != "").sum()))
    counts = table["status"].value_counts()
    for status in STATUSES:
        add(status, int(counts.get(status, 0)))
    refused = table.loc[table["status"] == "rejected", "dsn"].astype(str).value_counts()
    for dsn in sorted(refused.index):
        add(f"rejected {dsn or '(none)'}", int(refused[dsn]))
    add("sent", int(log.is_event("sent").sum()))
    add("deferred_attempts", int((log.is_event("deferred") & (log.rcpt >= 0)).sum()))
    visits = model.visits.table
    add("still_queued", int(((visits["fkey"] >= 0) & visits["t_end"].isna()).sum()))
    add("bytes_submitted", int(info.size[info.present].sum()))
    latency = table.loc[table["status"] == "delivered", "latency"].to_numpy()
    if len(latency):
        add("latency_mean_s", float(np.mean(latency)))
        for p in PERCENTILES:
            add(f"latency_p{p}_s", float(np.percentile(latency, p)))
        add("latency_max_s", float(np.max(latency)))
    rows.extend(_node_counts(model))
    return pd.DataFrame(rows, columns=["scope", "metric", "value"])


def _node_counts(model: LogModel) -> list[tuple[str, str, float]]:
    """Return (node, metric, value) counts for every MTA node, from one bincount per metric."""
    log = model.log
    nodes = np.unique(model.visits.table["node"].to_numpy())
    width = log.count("node")
    counted = (log.node >= 0) & (log.event >= 0)
    per_event = np.bincount(
        log.node[counted].astype(np.int64) * 256 + log.event[counted], minlength=width * 256
    ).reshape(width, 256)
    deferred = log.is_event("deferred") & (log.rcpt >= 0) & (log.node >= 0)
    per_node_deferred = np.bincount(log.node[deferred], minlength=width)
    received = log.is_event("received") & (log.node >= 0) & (log.msg >= 0)
    size = model.messages.size[log.msg[received]]
    received_bytes = np.bincount(log.node[received], weights=size, minlength=width)
    out: list[tuple[str, str, float]] = []
    for code in sorted(nodes, key=lambda c: str(log.labels["node"][c])):
        name = str(log.labels["node"][code])
        for event in (*_NODE_EVENTS, "expired"):
            value = per_event[code, event_code(event)]
            if event == "deferred":
                value = per_node_deferred[code]
            out.append((name, event, float(value)))
        out.append((name, "bytes_received", float(received_bytes[code])))
    return out
