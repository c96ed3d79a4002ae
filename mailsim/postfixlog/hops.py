"""Join one message's queue files across MTAs: the run-wide ``msg`` of a multi-host log.

Each Postfix logs only its own queue files, but an smtp(8) delivery names the next MTA's file:
``to=<r>, relay=mx.firma2.intr[192.0.2.25]:25, ..., status=sent (250 2.0.0 Ok: queued as
4F2A1C03)``. When the log (one file, or several read together) also holds the next MTA's
lines, that queue file is the same message one hop on, so it gets the same ``msg``: this is
the event log's contract (DESIGN.md section 3: ``msg`` is stable across hops), and what lets
the analysis split a message's latency hop by hop, as it does for a simulated run.

The next MTA is the relay's host name, matched to a node of the log by full name, else by
first label (an exported log names hosts ``mx`` and relays ``mx.firma2.intr``); messages that
join get the smallest of their numbers (the first hop's, usually). Copies and notifications
already share or link numbers within one MTA (:mod:`mailsim.postfixlog.parse`).
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["hop_links", "join_hops"]

_QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]+)")
_RELAY_HOST = re.compile(r"^([^\[\s]+)\[")


def hop_links(events: pd.DataFrame) -> dict[str, str]:
    """Return {msg of a next hop's queue file: msg of the file that handed it on}, from the
    ``sent`` rows whose reply names a queue file of another node in ``events``."""
    nodes = [str(node) for node in events["node"].unique()]
    by_label: dict[str, str] = {}
    for node in nodes:
        by_label.setdefault(node.split(".")[0], node)
    with_file = events[events["queue_id"].astype(str) != ""]
    file_msg = dict(
        zip(
            zip(with_file["node"].astype(str), with_file["queue_id"].astype(str), strict=True),
            with_file["msg"].astype(str),
            strict=True,
        )
    )
    sent = events[
        (events["event"] == "sent")
        & events["detail"].astype(str).str.contains("queued as", regex=False)
    ]
    links: dict[str, str] = {}
    for relay, detail, msg in zip(
        sent["relay"].astype(str), sent["detail"].astype(str), sent["msg"].astype(str), strict=True
    ):
        host, queued = _RELAY_HOST.match(relay), _QUEUED_AS.search(detail)
        if host is None or queued is None:
            continue
        name = str(host.group(1))
        target = name if name in nodes else by_label.get(name.split(".")[0])
        child = file_msg.get((target, str(queued.group(1)))) if target is not None else None
        if child is not None and child != msg:
            links[child] = msg
    return links


def join_hops(events: pd.DataFrame, *tables: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Renumber ``msg`` (and ``parent_msg``) so one message's files on every MTA share the
    smallest of their numbers; return ``events`` and ``tables`` renumbered (copies)."""
    parent = hop_links(events)
    if not parent:
        return (events, *tables)
    groups: dict[str, list[str]] = {}
    for child in parent:
        groups.setdefault(_first_hop(child, parent), []).append(child)
    renumber: dict[str, str] = {}
    for top, members in groups.items():
        smallest = min([top, *members], key=_number)
        renumber.update({member: smallest for member in (top, *members)})
    out = []
    for frame in (events, *tables):
        frame = frame.copy()
        for column in ("msg", "parent_msg"):
            if column in frame.columns:
                joined = frame[column].astype(str).map(lambda m: renumber.get(m, m))
                categorical = isinstance(frame[column].dtype, pd.CategoricalDtype)
                frame[column] = joined.astype("category") if categorical else joined
        out.append(frame)
    return tuple(out)


def _first_hop(msg: str, parent: dict[str, str]) -> str:
    """Follow ``msg`` back hop by hop to the file that started it; in a mail loop (MTAs
    handing the message round in a circle) the walk ends where it started, at the loop's
    smallest number, the same from wherever in the loop it began."""
    walk: list[str] = []
    while msg in parent:
        if msg in walk:  # the loop is the walk from msg's first visit on
            return min(walk[walk.index(msg) :], key=_number)
        walk.append(msg)
        msg = parent[msg]
    return msg


def _number(msg: str) -> int:
    return int(msg[1:]) if msg[1:].isdigit() else 1 << 62
