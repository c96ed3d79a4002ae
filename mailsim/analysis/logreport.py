"""A pflogsumm-style report of a run: what an administrator reads from a Postfix mail log.

:func:`summarise` counts the lines the run's Postfix mail log has (the log
:func:`mailsim.postfixlog.export.write_postfix_log` writes, or the one a parsed real log came
from) with the definitions of pflogsumm 1.1.5 (Debian's ``/usr/sbin/pflogsumm``), so its
**Grand Totals** agree with pflogsumm run on that log:

- *received*: smtpd ``QID: client=...`` lines (a message accepted by smtpd; at every MTA it
  passes, so a message relayed through two MTAs of the run counts twice, as pflogsumm counts
  the two hosts' logs) and pickup's ``QID: uid=N from=<s>`` (local submissions, in a parsed
  log); messages an MTA made itself (bounce notices, forwarded copies) are not received;
- *delivered*: ``status=sent`` lines, one per recipient, by local(8) into a mailbox and by
  smtp(8) to the next hop alike, except *forwarded* ones (``status=sent (forwarded as QID)``);
- *deferred*: queue files with at least one ``status=deferred`` line, and the number of such
  lines (*deferrals*); *bounced*: ``status=bounced`` lines (an expired message is logged by
  qmgr as ``status=expired`` instead, and is not a bounce here either);
- *rejected*: smtpd ``reject:`` lines (one per refused recipient or command, 4xx and 5xx
  alike, so a greylisting MX counts each greylisted attempt), and its share of delivered +
  rejected + discarded; *reject warnings*, *held*, *discarded* count smtpd/cleanup
  ``reject_warning:``/``hold:``/``discard:`` actions, which the run does not model (always 0:
  postsuper's hold and an MDA recipe's discard are other things);
- *bytes received*: the ``size=`` of received messages, taken from qmgr's first ``from=<...>,
  size=N`` line of the queue file; *bytes delivered*: that size once per delivered line;
- *senders*: distinct envelope senders of received messages (domain part lower-cased, the null
  sender as ``from=<>``), *sending hosts/domains*: their domains (for a sender without one, the
  client's host or address as pflogsumm's gimme_domain shortens it); *recipients* and
  *recipient hosts/domains*: distinct addresses and domains of delivered lines.

Queue files are keyed by (node, queue id), where pflogsumm keys by queue id alone: the same
on a one-host log; on a log of several hosts it differs only if two hosts used the same queue
id. Per hour, per recipient domain (pflogsumm's "Host/Domain Summary: Message Delivery") and
per reason (deferral, bounce, reject detail, with pflogsumm's own shortening of the reason
texts) the tables follow the same definitions; the delays are exact where pflogsumm reads
the rounded ``delay=`` values.

What pflogsumm lacks is added: delivery latency percentiles (end to end, submit to mailbox,
and per MTA, ``delay=``), the per-stage split of Postfix's ``delays=a/b/c/d``, and each MTA's
deferred queue at its deepest as qshape(1) shows it. :class:`LogReport` holds the tables as
DataFrames; :meth:`LogReport.to_text` prints them as pflogsumm does (same headings, columns
and number units).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mailsim.analysis.qshape import format_qshape
from mailsim.analysis.tables import PERCENTILES
from mailsim.postfixlog.export import (
    DEFAULT_START,
    NON_POSTFIX_DAEMONS,
    client_label,
    outcome_delays,
    reject_reply,
)

if TYPE_CHECKING:
    from mailsim.analysis.run import Run

__all__ = [
    "TOTALS",
    "LogReport",
    "bounce_reason",
    "deferral_reason",
    "deferred_peaks",
    "gimme_domain",
    "reject_reason",
    "run_start",
    "said_string_trimmer",
    "summarise",
    "traffic",
]

#: pflogsumm's Grand Totals, in its order (the names are its labels).
TOTALS: tuple[str, ...] = (
    "received",
    "delivered",
    "forwarded",
    "deferred",
    "deferrals",
    "bounced",
    "rejected",
    "reject warnings",
    "held",
    "discarded",
    "bytes received",
    "bytes delivered",
    "senders",
    "sending hosts/domains",
    "recipients",
    "recipient hosts/domains",
)
#: The per-hour (per-interval) columns, as pflogsumm's Per-Hour Traffic Summary.
TRAFFIC: tuple[str, ...] = ("received", "delivered", "deferred", "bounced", "rejected")
STAGE_NAMES: dict[str, str] = {
    "a": "a: arrival to the active queue (incl. deferred queue)",
    "b": "b: in the active queue, waiting for a delivery agent",
    "c": "c: connection set-up (incl. DNS, HELO, TLS)",
    "d": "d: transmission (or local delivery)",
    "delay": "delay: all of it (time in this MTA)",
}
_SUMMARY_STATS = ["count", "mean", *(f"p{p}" for p in PERCENTILES), "max"]
_DOMAIN_SHORTEN = re.compile(r"^(.*)\.([^\.]+)\.([^\.]{3}|[^\.]{2,3}\.[^\.]{2})$")


def run_start(run: Run, start: datetime | str | None = None) -> datetime:
    """Return the wall-clock instant of t = 0: ``start``, else the run's ``meta["start"]``
    (a datetime or ISO 8601 text), else :data:`~mailsim.postfixlog.export.DEFAULT_START`;
    naive times are UTC."""
    chosen: Any = start if start is not None else run.meta.get("start", DEFAULT_START)
    if isinstance(chosen, str):
        chosen = datetime.fromisoformat(chosen)
    if not isinstance(chosen, datetime):
        raise ValueError(f"start must be a datetime or ISO 8601 text, not {chosen!r}")
    return chosen if chosen.tzinfo is not None else chosen.replace(tzinfo=UTC)


def gimme_domain(client: str) -> str:
    """pflogsumm's gimme_domain(): the client's domain (``mail.example.com[1.2.3.4]`` ->
    ``example.com``; a name whose last label is not 2-3 letters stays whole), or its address
    when the name is ``unknown``."""
    found = re.match(r"^([^\[]*)\[((?:\d{1,3}\.){3}\d{1,3})\]", client) or re.match(
        r"^([^/]*)/([0-9a-f.:]+)", client, re.IGNORECASE
    )
    if found is None:
        found = re.match(r"^([^\[\(/]*)[\[\(/]([^\]\)]+)[\]\)]:?\d*$", client)
    domain, address = found.groups() if found else ("", "")
    if domain in ("", "unknown"):
        return address
    return _DOMAIN_SHORTEN.sub(lambda m: f"{m.group(2)}.{m.group(3)}".lower(), domain, count=1)


def said_string_trimmer(text: str, width: int) -> str:
    """pflogsumm's said_string_trimmer(): drop ``... said: `` and leading ``xxx: `` parts until
    the text fits ``width``, else cut it with ``...``."""
    while len(text) > width:
        if re.match(r"^.* said: ", text):
            text = re.sub(r"^.* said: ", "", text, count=1)
        elif re.match(r"^.*: *", text):
            text = re.sub(r"^.*?: *", "", text, count=1)
        else:
            return text[: width - 3] + "..."
    return text


def _address(addr: str) -> str:
    """pflogsumm's address key: the part from the first ``@`` lower-cased."""
    local, at, domain = addr.partition("@")
    return local + at + domain.lower()


def _domain(addr: str) -> str:
    """pflogsumm's ``s/^[^@]+\\@//``: the domain of an address (the address if it has none)."""
    found = re.match(r"^[^@]+@(.*)$", addr, re.DOTALL)
    return found.group(1) if found else addr


def reject_reason(command: str, rest: str) -> str:
    """pflogsumm's proc_smtpd_reject() reason text for one reject line's remainder."""
    reason = rest
    if command in ("RCPT", "DATA", "CONNECT"):
        reason = re.sub(r"^(\d{3} <).*?(>:)", r"\1\2", reason, count=1)
        reason = re.sub(r"^(?:\d{3} \d\.\d\.\d )(Protocol error);.*$", r"\1", reason, count=1)
        reason = re.sub(r"^(?:.*?[:;] )(?:\[[^\]]+\] )?([^;,]+)[;,].*$", r"\1", reason, count=1)
        reason = re.sub(r"^((?:Sender|Recipient) address rejected: [^:]+):.*$", r"\1", reason)
        reason = re.sub(r"(client|Client host|Sender address) .+? blocked", "blocked", reason)
    elif command == "MAIL":
        reason = re.sub(r"^\d{3} (?:<.+>: )?([^;:]+)[;:]?.*$", r"\1", reason, count=1)
    else:
        reason = re.sub(r"^(?:.*[:;] )?([^,]+).*$", r"\1", reason, count=1)
    for pattern, replacement in (
        (r"^.*?\d{3} (Improper use of SMTP command pipelining);.*$", r"\1"),
        (r"^.*?\d{3} (Message size exceeds fixed limit);.*$", r"\1"),
        (r"^.*?\d{3} (Server configuration (?:error|problem));.*$", r"(Local) \1"),
    ):
        reason, done = re.subn(pattern, replacement, reason, count=1)
        if done:
            break
    return reason


def _strip_timing(detail: str) -> str:
    """A status line's reason: the detail without DESIGN.md's orig_to and delays suffixes."""
    text = re.sub(r"\s*\bdelays=[0-9./eE+-]+\s*$", "", detail)
    return re.sub(r" ?\(orig_to=<[^>]*>\)", "", text).strip()


def _per_label(values: pd.Series, func: Any) -> np.ndarray:
    """Apply ``func`` once per distinct value of a text column; return the per-row results."""
    column = values.astype("category")
    labels = np.array([func(str(v)) for v in column.cat.categories] + [func("")], dtype=object)
    codes = column.cat.codes.to_numpy()
    return labels[np.where(codes >= 0, codes, len(labels) - 1)]


@dataclass(frozen=True, eq=False)
class _Lines:
    """The rows of a log that are mail-log lines pflogsumm counts, as small frames."""

    received: pd.DataFrame  # t, node, qid, client
    files: pd.DataFrame  # first qmgr line per (node, qid): t, size, sender, received, client
    delivered: pd.DataFrame  # t, node, qid, recipient, size, delay, a..d, forwarded
    deferred: pd.DataFrame  # t, node, qid, daemon, recipient, reason, delay
    bounced: pd.DataFrame  # t, node, qid, relay, recipient, reason
    rejected: pd.DataFrame  # t, node, command, reason

    @classmethod
    def build(cls, events: pd.DataFrame, nodes: Iterable[str] | None) -> _Lines:
        frame = events
        # a row without size takes its message's (as the export prints it), from any row
        msg_size = frame.groupby("msg", observed=True)["size"].max()
        keep = ~frame["daemon"].isin(NON_POSTFIX_DAEMONS).to_numpy()
        if nodes is not None:
            keep &= frame["node"].isin(list(nodes)).to_numpy()
        frame = frame[keep].reset_index(drop=True)
        event = frame["event"]
        smtpd = (frame["daemon"] == "smtpd").to_numpy()
        pickup = (frame["daemon"] == "pickup").to_numpy()
        named = (frame["recipient"] != "").to_numpy()
        detail = frame["detail"].astype(str)
        size = frame["size"].to_numpy(np.int64)
        fallback = msg_size.reindex(frame["msg"]).fillna(0).to_numpy(np.int64)
        frame = frame.assign(size=np.where(size > 0, size, fallback))

        got = frame[(event == "received").to_numpy() & (smtpd | pickup)]
        clients = _per_label(got["relay"], lambda r: client_label(r)[0])
        received = pd.DataFrame(
            {
                "t": got["t"].to_numpy(),
                "node": got["node"].astype(str).to_numpy(),
                "qid": got["queue_id"].astype(str).to_numpy(),
                "client": np.where(got["daemon"] == "pickup", "pickup", clients),
            }
        )
        active = frame[(event == "active").to_numpy()]
        first = active.drop_duplicates(["node", "queue_id"], keep="first")
        files = pd.DataFrame(
            {
                "t": first["t"].to_numpy(),
                "node": first["node"].astype(str).to_numpy(),
                "qid": first["queue_id"].astype(str).to_numpy(),
                "size": first["size"].to_numpy(np.int64),
                "sender": first["sender"].astype(str).to_numpy(),
            }
        )
        came = received.drop_duplicates(["node", "qid"]).rename(columns={"t": "t_received"})
        files = files.merge(came, on=["node", "qid"], how="left")
        files["received"] = files["t_received"].to_numpy() <= files["t"].to_numpy()
        sizes = files.set_index(["node", "qid"])["size"]

        delays = outcome_delays(frame)
        outcome = named & ~frame["daemon"].isin(NON_POSTFIX_DAEMONS).to_numpy()
        sent = outcome & event.isin(["sent", "delivered"]).to_numpy()
        rows = frame[sent]
        keys = pd.MultiIndex.from_arrays([rows["node"].astype(str), rows["queue_id"].astype(str)])
        delivered = pd.DataFrame(
            {
                "t": rows["t"].to_numpy(),
                "node": rows["node"].astype(str).to_numpy(),
                "qid": rows["queue_id"].astype(str).to_numpy(),
                "recipient": _per_label(rows["recipient"], _address),
                "size": sizes.reindex(keys).fillna(0).to_numpy(np.int64),
                "forwarded": detail[sent].str.contains("forwarded as ", regex=False).to_numpy(),
            }
        )
        for column in ("delay", "a", "b", "c", "d"):
            delivered[column] = delays[column].to_numpy()[sent]

        late = outcome & (event == "deferred").to_numpy()
        rows = frame[late]
        deferred = pd.DataFrame(
            {
                "t": rows["t"].to_numpy(),
                "node": rows["node"].astype(str).to_numpy(),
                "qid": rows["queue_id"].astype(str).to_numpy(),
                "daemon": rows["daemon"].astype(str).to_numpy(),
                "recipient": _per_label(rows["recipient"], _address),
                "reason": _per_label(rows["detail"], deferral_reason),
                "delay": delays["delay"].to_numpy()[late],
            }
        )
        failed = outcome & (event == "bounced").to_numpy()
        failed &= ~detail.str.startswith("status=expired").to_numpy()
        rows = frame[failed]
        bounced = pd.DataFrame(
            {
                "t": rows["t"].to_numpy(),
                "node": rows["node"].astype(str).to_numpy(),
                "qid": rows["queue_id"].astype(str).to_numpy(),
                "relay": rows["relay"].astype(str).replace("", "none").to_numpy(),
                "recipient": _per_label(rows["recipient"], _address),
                "reason": _per_label(rows["detail"], bounce_reason),
            }
        )
        refused = frame[(event == "reject").to_numpy() & smtpd]
        commands, reasons = _reject_columns(refused)
        rejected = pd.DataFrame(
            {
                "t": refused["t"].to_numpy(),
                "node": refused["node"].astype(str).to_numpy(),
                "command": commands,
                "reason": reasons,
            }
        )
        return cls(received, files, delivered, deferred, bounced, rejected)


def deferral_reason(detail: str) -> str:
    """pflogsumm's deferral reason: up to the first ``)``, trimmed to 65, code and
    ``connect to`` dropped."""
    reason = _strip_timing(detail) or "temporary failure"
    reason = reason.split(")", 1)[0]
    reason = said_string_trimmer(reason, 65)
    reason = re.sub(r"^\d{3} ", "", reason, count=1)
    return re.sub(r"^connect to ", "", reason, count=1)


def bounce_reason(detail: str) -> str:
    """pflogsumm's bounce reason: the whole status text trimmed to 66, code dropped."""
    reason = said_string_trimmer(_strip_timing(detail) or "permanent failure", 66)
    return re.sub(r"^\d{3} ", "", reason, count=1)


def _sending_domain(sender: str, client: str) -> str:
    """pflogsumm's sending domain: the sender's, else (null sender, no domain) the client's as
    gimme_domain() shortens it, or the sender itself for a local submission (pickup)."""
    if re.match(r"^[^@]+@.+$", sender):
        return _domain(sender)
    return sender if client == "pickup" else gimme_domain(client)


def _reject_columns(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(command, pflogsumm reason) of each reject row, computed once per distinct row text."""
    keys = pd.DataFrame(
        {
            "detail": rows["detail"].astype(str).to_numpy(),
            "relay": rows["relay"].astype(str).to_numpy(),
            "recipient": rows["recipient"].astype(str).to_numpy(),
            "dsn": rows["dsn"].astype(str).to_numpy(),
        }
    )
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys))
    commands, reasons = [], []
    for detail, relay, recipient, dsn in uniques:
        command, reply = reject_reply(detail, client_label(relay)[0], recipient, dsn)
        rest = reply.split(": ", 1)[1] if ": " in reply else reply
        to = f" to=<{recipient}>" if recipient else ""
        commands.append(command)
        reasons.append(reject_reason(command, f"{rest}; from=<>{to} proto=ESMTP"))
    if not len(uniques):
        return np.array([], dtype=object), np.array([], dtype=object)
    return np.array(commands, dtype=object)[codes], np.array(reasons, dtype=object)[codes]


def grand_totals(lines: _Lines) -> dict[str, int]:
    """pflogsumm's Grand Totals of ``lines`` (see the module docstring)."""
    files = lines.files
    came = files[files["received"]]
    senders = np.array([_address(s) if s else "from=<>" for s in came["sender"]], dtype=object)
    domains = {
        _sending_domain(sender, client)
        for sender, client in zip(senders, came["client"], strict=True)
    }
    delivered = lines.delivered[~lines.delivered["forwarded"]]
    recipients = set(delivered["recipient"])
    return {
        "received": len(lines.received),
        "delivered": len(delivered),
        "forwarded": int(lines.delivered["forwarded"].sum()),
        "deferred": len(lines.deferred.drop_duplicates(["node", "qid"])),
        "deferrals": len(lines.deferred),
        "bounced": len(lines.bounced),
        "rejected": len(lines.rejected),
        "reject warnings": 0,
        "held": 0,
        "discarded": 0,
        "bytes received": int(came["size"].sum()),
        "bytes delivered": int(delivered["size"].sum()),
        "senders": len(set(senders)),
        "sending hosts/domains": len(domains),
        "recipients": len(recipients),
        "recipient hosts/domains": len({_domain(r) for r in recipients}),
    }


def traffic(run: Run, interval: float = 3600.0, nodes: Iterable[str] | None = None) -> pd.DataFrame:
    """Count received, delivered, deferred (deferral lines), bounced and rejected lines per
    ``interval`` seconds from t = 0 (pflogsumm's per-hour columns; mailgraph's rates).

    Index ``t``: the start of each interval (s), up to the end of the log, empty ones included.
    """
    return _traffic(_Lines.build(run.events, nodes), interval, run.t_end)


def _traffic(lines: _Lines, interval: float, t_end: float, offset: float = 0.0) -> pd.DataFrame:
    """Counts per bin of ``interval`` s; bins start ``offset`` s before t = 0 (so that hours
    can be the clock's), the index gives each bin's start in run time."""
    if not interval > 0:
        raise ValueError(f"interval must be positive seconds, got {interval!r}")
    bins = int((t_end + offset) // interval) + 1
    starts = np.arange(bins) * float(interval) - offset
    table = pd.DataFrame(index=pd.Index(starts, name="t"))
    delivered = lines.delivered[~lines.delivered["forwarded"]]
    for name, frame in zip(
        TRAFFIC,
        (lines.received, delivered, lines.deferred, lines.bounced, lines.rejected),
        strict=True,
    ):
        slot = ((frame["t"].to_numpy() + offset) // interval).astype(np.int64)
        table[name] = np.bincount(slot, minlength=bins)[:bins].astype(np.int64)
    return table


def _stats(values: np.ndarray) -> dict[str, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return {name: (0.0 if name == "count" else np.nan) for name in _SUMMARY_STATS}
    out = {"count": float(len(values)), "mean": float(np.mean(values))}
    for p in PERCENTILES:
        out[f"p{p}"] = float(np.percentile(values, p))
    out["max"] = float(np.max(values))
    return out


def deferred_peaks(run: Run) -> list[tuple[str, float, int]]:
    """Return (node, t, depth) of the first moment each node's deferred queue was deepest,
    for the nodes whose deferred queue was ever used, by node name."""
    depth = run.queue_depth()
    deferred = depth[(depth["queue"] == "deferred").to_numpy() & (depth["depth"] > 0).to_numpy()]
    peaks = []
    for node, rows in deferred.groupby("node", observed=True, sort=True):
        depths = rows["depth"].to_numpy()
        top = int(np.argmax(depths))  # the first moment of the maximum
        peaks.append((str(node), float(rows["t"].to_numpy()[top]), int(depths[top])))
    return peaks


@dataclass(frozen=True, eq=False)
class LogReport:
    """The tables of a pflogsumm-style report (see the module docstring); all DataFrames.

    ``totals``: metric, value (:data:`TOTALS`); ``latency``: count, mean, p50, p95, p99, max
    (s) of end-to-end latency and of per-MTA ``delay=``; ``stages``: the same statistics of
    ``delays=a/b/c/d`` over delivered lines, with each stage's share of the mean delay;
    ``per_hour``: received/delivered/deferred/bounced/rejected per clock hour, as pflogsumm's
    Per-Hour Traffic Summary (``hour``: 0 for the hour the run starts in, ``start``: the
    hour's wall-clock start, UTC); ``per_domain``: recipient domain, sent, bytes, defers, avg_delay,
    max_delay; ``sending_domains``: domain, messages, bytes; ``senders``/``recipients``:
    address, messages, bytes; ``defer_reasons`` (daemon, reason, count), ``bounce_reasons``
    (relay, reason, count), ``reject_reasons`` (command, reason, count); ``qshape``: node ->
    (t, qshape table of its deferred queue at its deepest).
    """

    name: str
    start: datetime
    t_end: float
    totals: pd.DataFrame
    latency: pd.DataFrame
    stages: pd.DataFrame
    per_hour: pd.DataFrame
    per_domain: pd.DataFrame
    sending_domains: pd.DataFrame
    senders: pd.DataFrame
    recipients: pd.DataFrame
    defer_reasons: pd.DataFrame
    bounce_reasons: pd.DataFrame
    reject_reasons: pd.DataFrame
    qshape: Mapping[str, tuple[float, pd.DataFrame]] = field(default_factory=dict)

    def total(self, metric: str) -> int:
        """Return one Grand Total by its pflogsumm name (``"bytes received"``)."""
        values = self.totals.set_index("metric")["value"]
        if metric not in values.index:
            raise KeyError(f"no total {metric!r}; expected one of {list(TOTALS)}")
        return int(values[metric])

    def to_text(self, top: int = 10) -> str:
        """Return the report as pflogsumm prints it, then what pflogsumm lacks (``top`` rows
        per ranking table; 0 for all)."""
        from mailsim.analysis.logtext import format_logreport

        return format_logreport(self, top)


def summarise(
    run: Run,
    nodes: Iterable[str] | None = None,
    start: datetime | str | None = None,
) -> LogReport:
    """Build the :class:`LogReport` of ``run`` (of its MTA ``nodes`` only, if given)."""
    chosen = None if nodes is None else sorted(set(nodes))
    lines = _Lines.build(run.events, chosen)
    totals = grand_totals(lines)
    when = run_start(run, start)
    hour = when.replace(minute=0, second=0, microsecond=0)
    per_hour = _traffic(lines, 3600.0, run.t_end, (when - hour).total_seconds())
    per_hour.insert(0, "start", [hour + timedelta(hours=k) for k in range(len(per_hour))])
    per_hour.insert(0, "hour", np.arange(len(per_hour), dtype=np.int64))
    per_hour = per_hour.reset_index(drop=True)
    delivered = lines.delivered[~lines.delivered["forwarded"]]
    return LogReport(
        name=run.name,
        start=when,
        t_end=run.t_end,
        totals=pd.DataFrame({"metric": list(totals), "value": list(totals.values())}),
        latency=_latency(run, delivered, chosen),
        stages=_stages(delivered),
        per_hour=per_hour,
        per_domain=_per_domain(delivered, lines.deferred),
        sending_domains=_sending_domains(lines.files),
        senders=_ranking(lines.files[lines.files["received"]], "sender"),
        recipients=_ranking(delivered, "recipient"),
        defer_reasons=_reasons(lines.deferred, "daemon"),
        bounce_reasons=_reasons(lines.bounced, "relay"),
        reject_reasons=_reasons(lines.rejected, "command"),
        qshape=_qshapes(run, chosen),
    )


def _latency(run: Run, delivered: pd.DataFrame, nodes: list[str] | None) -> pd.DataFrame:
    table = run.recipients()
    if nodes is not None:
        table = table[table["node"].isin(nodes)]
    rows = {
        "end to end: submit to mailbox (delivered)": table.loc[
            table["status"] == "delivered", "latency"
        ].to_numpy(np.float64),
        "end to end: submit to hand-off out of the run (relayed)": table.loc[
            table["status"] == "relayed", "latency"
        ].to_numpy(np.float64),
        "per MTA: delay= of delivered lines": delivered["delay"].to_numpy(np.float64),
    }
    frame = pd.DataFrame([_stats(values) for values in rows.values()], index=list(rows))
    frame.index.name = "latency (s)"
    frame["count"] = frame["count"].astype(np.int64)
    return frame.reset_index()


def _stages(delivered: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for column, meaning in STAGE_NAMES.items():
        rows.append({"stage": meaning, **_stats(delivered[column].to_numpy(np.float64))})
    frame = pd.DataFrame(rows)
    frame["count"] = frame["count"].astype(np.int64)
    total = frame["mean"].iloc[-1]
    frame["share"] = frame["mean"] / total if total and total == total else np.nan
    return frame


def _per_domain(delivered: pd.DataFrame, deferred: pd.DataFrame) -> pd.DataFrame:
    """pflogsumm's Host/Domain Summary: Message Delivery, sorted by count then bytes."""
    sent = delivered.assign(domain=delivered["recipient"].map(_domain))
    late = deferred.assign(domain=deferred["recipient"].map(_domain))
    table = sent.groupby("domain").agg(
        sent=("recipient", "size"),
        bytes=("size", "sum"),
        avg_delay=("delay", "mean"),
        max_delay=("delay", "max"),
    )
    defers = late.groupby("domain").agg(defers=("recipient", "size"), late_max=("delay", "max"))
    table = table.join(defers, how="outer")
    table["max_delay"] = table[["max_delay", "late_max"]].max(axis=1)
    table = table.drop(columns="late_max")
    for column in ("sent", "bytes", "defers"):
        table[column] = table[column].fillna(0).astype(np.int64)
    table["avg_delay"] = table["avg_delay"].fillna(0.0)
    table = table[["sent", "bytes", "defers", "avg_delay", "max_delay"]]
    table = table.sort_values(["sent", "bytes"], ascending=False, kind="stable")
    return table.reset_index()


def _sending_domains(files: pd.DataFrame) -> pd.DataFrame:
    """pflogsumm's Host/Domain Summary: Messages Received (by sender domain)."""
    came = files[files["received"]]
    domains = [
        _sending_domain(_address(s) if s else "from=<>", c)
        for s, c in zip(came["sender"], came["client"], strict=True)
    ]
    table = (
        came.assign(domain=domains)
        .groupby("domain")
        .agg(messages=("size", "size"), bytes=("size", "sum"))
    )
    table = table.sort_values(["messages", "bytes"], ascending=False, kind="stable")
    return table.reset_index()


def _ranking(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Messages and bytes per sender (of received files) or recipient (of delivered lines)."""
    keys = frame[column].map(lambda a: _address(a) if a else "from=<>")
    table = (
        frame.assign(address=keys)
        .groupby("address")
        .agg(messages=("size", "size"), bytes=("size", "sum"))
    )
    table = table.reset_index().sort_values(
        ["messages", "address"], ascending=[False, True], kind="stable"
    )
    return table.reset_index(drop=True)


def _reasons(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    table = frame.groupby([by, "reason"]).size().rename("count").reset_index()
    return table.sort_values(
        [by, "count", "reason"], ascending=[True, False, True], kind="stable"
    ).reset_index(drop=True)


def _qshapes(run: Run, nodes: list[str] | None) -> dict[str, tuple[float, pd.DataFrame]]:
    out = {}
    for node, t, _depth in deferred_peaks(run):
        if nodes is None or node in nodes:
            out[node] = (t, run.qshape(node, ("deferred",), at=t))
    return out


def qshape_text(report: LogReport) -> dict[str, str]:
    """Each node's deferred-queue qshape table at its peak, printed as qshape prints it."""
    return {node: format_qshape(table) for node, (_t, table) in report.qshape.items()}
