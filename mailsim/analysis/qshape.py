"""Postfix's qshape(1): a node's queue as a domain x age table at any instant of the run.

What qshape shows (QSHAPE_README, "Introducing the qshape tool"; qshape.pl in Postfix's
``auxiliary/qshape``), and how the table here is built from the event log:

- **Queues.** By default the union of the ``incoming`` and ``active`` queues; any list of queues
  can be asked for (``deferred``; ``incoming active deferred``). A queue file is in a queue from
  the message-level transition that put it there (cleanup ``queued``, qmgr ``active``/
  ``deferred``) up to the next one (:mod:`mailsim.analysis.visit`); at the instant of a
  transition it is already in the new queue. ``hold`` holds what postsuper -h put there;
  Postfix's ``maildrop`` queue (local sendmail submissions) is not modelled.
- **Age.** qshape takes the queue file's arrival time (its ``T`` record, written when the
  message arrived) and counts ``now - arrival``, whatever queue the file is in now; here the
  arrival is the start of the visit (smtpd ``connect``, else the file's first row), the same
  instant Postfix's ``delays=a/b/c/d`` start from.
- **Buckets.** ``bucket_time`` minutes (5) for the first; each later one twice as long (``-l``:
  as long) as the one before, ``buckets`` (10) in all, the last without limit. Columns are
  headed by their upper limit: ``5 10 20 40 80 160 320 640 1280 1280+``, a message 5 minutes
  old counting under ``10``. Column ``T`` is the row's total.
- **Rows.** Recipient domains by default: every recipient still to be delivered from the file
  counts once (there can be more recipients than messages). ``by="sender"`` (``-s``) counts
  each message once under its sender's domain, the null sender as ``MAILER-DAEMON``. Domains
  are lower case, with ``..`` collapsed and one leading or trailing dot removed. The row
  ``TOTAL`` sums all; rows are sorted by total, largest first, then by the length of the name,
  as qshape sorts them (``TOTAL`` included, so it leads unless a shorter name ties with it).

Recipients are those the log names at this queue file: each one is pending until its first
``sent``, ``delivered`` or ``bounced`` there. Aliases are counted as local(8) expanded them
(Postfix counts the file's recipient records, before expansion), and a file none of whose
recipients the log ever names (still waiting when the log ends) counts only with ``-s``.

:func:`format_qshape` prints the table as qshape.pl does: right-justified to the terminal
width (80), each column as wide as its heading or the TOTAL count, plus one space (at least 3),
the domain column taking the rest (at least 18), a longer name cut to its last characters
after a ``+``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mailsim.analysis.frame import FloatArray, IntArray, event_code
from mailsim.analysis.model import LogModel
from mailsim.analysis.queue import node_code
from mailsim.analysis.visit import QUEUES, group_ends

__all__ = ["DEFAULT_QUEUES", "bucket_labels", "format_qshape", "qshape"]

#: What qshape looks at without queue arguments.
DEFAULT_QUEUES: tuple[str, ...] = ("incoming", "active")
_DONE = ("sent", "delivered", "bounced")
_MIN_DOMAIN_WIDTH = 18  # qshape.pl $dwidth


def bucket_labels(buckets: int = 10, bucket_time: float = 5.0, linear: bool = False) -> list[str]:
    """Return qshape's column headings: ``T``, then each bucket's upper limit in minutes, the
    last one with ``+`` (``T 5 10 20 ... 1280 1280+`` by default)."""
    if buckets < 1 or not bucket_time > 0:
        raise ValueError(f"need buckets >= 1 and bucket_time > 0, got {buckets}, {bucket_time}")
    limits: list[float] = []
    limit = bucket_time
    for _ in range(buckets - 1):
        limits.append(limit)
        limit = limit + bucket_time if linear else limit * 2
    last = limits[-1] if limits else 0.0
    return ["T", *(f"{value:g}" for value in limits), f"{last:g}+"]


def _bucket(age_s: FloatArray, buckets: int, bucket_time: float, linear: bool) -> IntArray:
    """Return the bucket (1..buckets) of each age, as qshape.pl's bucket() computes it."""
    units = age_s / (60.0 * bucket_time)
    with np.errstate(divide="ignore"):
        later = units + 1 if linear else 2 + np.log2(np.maximum(units, 1.0))
    index = np.where(units < 1, 1, np.floor(later)).astype(np.int64)
    return np.minimum(index, buckets)


def _domain(address: str) -> str:
    """Return the domain qshape files an address under (qshape.pl wanted())."""
    name = address.lower() or "MAILER-DAEMON"
    name = name.rpartition("@")[2]
    while ".." in name:
        name = name.replace("..", ".")
    if len(name) > 1 and name.startswith("."):
        name = name[1:]
    if len(name) > 1 and name.endswith("."):
        name = name[:-1]
    return name


def _files_in_queues(model: LogModel, node: int, queues: Sequence[str], at: float) -> pd.DataFrame:
    """Return the queue files of ``node`` in one of ``queues`` at ``at``: fkey and the row of
    the transition that put each there."""
    changes = model.visits.changes
    mine = changes[(changes["node"].to_numpy() == node) & (changes["t"].to_numpy() <= at)]
    last = mine[group_ends(mine["fkey"].to_numpy())]
    wanted = [QUEUES.index(name) + 1 for name in queues]
    found: pd.DataFrame = last[np.isin(last["state"].to_numpy(), wanted)]
    return found


def _pending_recipients(model: LogModel, node: int, at: float) -> pd.DataFrame:
    """Return (fkey, rcpt) of every recipient of a file of ``node`` not yet done at ``at``."""
    log = model.log
    rows = np.flatnonzero(
        (log.node == node) & (log.qid >= 0) & (log.rcpt >= 0) & log.is_event(*_DONE, "deferred")
    )
    queue_ids = np.int64(model.visits.queue_ids)
    done = np.isin(log.event[rows], [event_code(name) for name in _DONE])
    table = pd.DataFrame(
        {
            "fkey": np.int64(node) * queue_ids + log.qid[rows],
            "rcpt": log.rcpt[rows].astype(np.int64),
            "t_done": np.where(done, log.t[rows], np.inf),
        }
    )
    first = table.groupby(["fkey", "rcpt"], sort=False)["t_done"].min().reset_index()
    return first[first["t_done"].to_numpy() > at]


def qshape(
    model: LogModel,
    node: str,
    queues: Sequence[str] = DEFAULT_QUEUES,
    at: float | None = None,
    by: str = "recipient",
    buckets: int = 10,
    bucket_time: float = 5.0,
    linear: bool = False,
) -> pd.DataFrame:
    """Return qshape's table of ``queues`` of ``node`` at time ``at`` (default: end of log).

    Index: ``TOTAL`` and the domains, in qshape's order; columns :func:`bucket_labels`, counts
    of recipients (``by="recipient"``) or messages (``by="sender"``). ``frame.attrs`` keeps
    node, queues, at and by. See the module docstring for every rule.
    """
    labels = bucket_labels(buckets, bucket_time, linear)
    unknown = [name for name in queues if name not in QUEUES]
    if unknown or not queues:
        raise ValueError(f"unknown queue {unknown}; expected some of {', '.join(QUEUES)}")
    if by not in ("recipient", "sender"):
        raise ValueError(f"by must be 'recipient' or 'sender', got {by!r}")
    code = node_code(model, node)
    when = model.t_end if at is None else float(at)
    files = _files_in_queues(model, code, queues, when)
    log = model.log
    if by == "sender":
        keys = files["fkey"].to_numpy()
        names = log.label("sender", log.sender[files["row"].to_numpy()])
    else:
        pending = _pending_recipients(model, code, when)
        pending = pending[np.isin(pending["fkey"].to_numpy(), files["fkey"].to_numpy())]
        keys = pending["fkey"].to_numpy()
        names = log.label("recipient", pending["rcpt"].to_numpy())
    # queue files are visits 0..n-1, in file-key order
    visit = np.searchsorted(model.visits.file_keys, keys)
    arrival = model.visits.table["t_start"].to_numpy()[visit]
    bucket = _bucket(when - arrival, buckets, bucket_time, linear)
    domain_of = np.array([_domain(str(name)) for name in names.categories], dtype=object)
    domain_codes, domains = pd.factorize(domain_of[names.codes])
    counts = np.zeros((len(domains) + 1, buckets + 1), dtype=np.int64)
    np.add.at(counts, (domain_codes, bucket), 1)
    counts[:, 0] = counts[:, 1:].sum(axis=1)
    counts[-1] = counts[:-1].sum(axis=0)
    names_all = [str(name) for name in domains] + ["TOTAL"]
    order = sorted(
        range(len(names_all)), key=lambda i: (-counts[i, 0], len(names_all[i]), names_all[i])
    )
    frame = pd.DataFrame(
        counts[order],
        index=pd.Index([names_all[i] for i in order], name="domain"),
        columns=pd.Index(labels),
    )
    frame.attrs.update(node=node, queues=tuple(queues), at=when, by=by)
    return frame


def format_qshape(frame: pd.DataFrame, width: int = 80) -> str:
    """Return ``frame`` (from :func:`qshape`) printed as qshape(1) prints it (``-w width``)."""
    heads = [str(column) for column in frame.columns]
    values = frame.to_numpy()
    total = values[list(frame.index).index("TOTAL")] if "TOTAL" in frame.index else values.sum(0)
    widths = []
    for head, count in zip(heads, total.tolist(), strict=True):
        size = max(len(str(count)), len(head))
        widths.append(size + 1 if size > 2 else 3)
    domain_width = max(width - sum(widths), _MIN_DOMAIN_WIDTH)

    def line(name: str, cells: Sequence[object]) -> str:
        if len(name) > domain_width:
            keep = domain_width - 2 if name.startswith(".") else domain_width - 1
            name = (".+" if name.startswith(".") else "+") + name[len(name) - keep :]
        text = "".join(f"{cell!s:>{w}}" for cell, w in zip(cells, widths, strict=True))
        return f"{name:>{domain_width}}{text}"

    lines = [line("", heads)]
    lines += [line(str(name), row) for name, row in zip(frame.index, values.tolist(), strict=True)]
    return "\n".join(lines) + "\n"
