"""The delivery-path graph: where mail came from, which MTAs carried it, where it ended.

Nodes carry ``kind`` (client, mta, mailbox, external, sink) and ``layer`` (0 for clients, the
hop count from a client for MTAs, one more for mailboxes and outside hosts, the last layer for
the sinks ``rejected``, ``bounced`` and ``expired``), so a drawing can go left to right. Edges
carry ``weight`` (distinct messages) and ``recipients`` (recipient deliveries) along them:

- client -> first MTA: the MTA whose smtpd took the submission;
- MTA -> MTA: a ``sent`` to an MTA of the run (the next hop of the recipient's path);
- MTA -> outside host: a ``sent`` to a host that logs nothing (status ``relayed``);
- MTA -> ``mailboxes@<host>`` (or ``mailbox:<address>``): ``delivered``;
- MTA -> ``rejected``/``bounced``/``expired``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from mailsim.analysis.run import Run

__all__ = ["SINKS", "delivery_graph", "layered_layout"]

SINKS: tuple[str, ...] = ("rejected", "bounced", "expired")


def delivery_graph(run: Run, aggregate_mailboxes: bool = True) -> nx.DiGraph:
    """Return the delivery-path graph of ``run`` (see the module docstring).

    With ``aggregate_mailboxes`` (the default) all mailboxes of a host are one node
    ``mailboxes@<host>``, which keeps a run with thousands of users readable; otherwise each
    recipient gets ``mailbox:<address>``.
    """
    model = run.model
    log = model.log
    nodes = log.labels["node"].astype(str)
    recipients = run.recipients()
    final = model.paths.final
    chain = model.paths.chain
    steps: list[pd.DataFrame] = []

    def step(src: np.ndarray, dst: np.ndarray, msg: np.ndarray) -> None:
        steps.append(pd.DataFrame({"src": src, "dst": dst, "msg": msg}))

    # Client -> first MTA of each recipient (its first hop, else the message's first visit).
    first_node = np.full(log.count("msg"), -1, dtype=np.int64)
    table = model.visits.table
    firsts = table[table["first"]]
    first_node[firsts["msg"].to_numpy()] = firsts["node"].to_numpy()
    hop1 = chain[chain["hop"] == 1]
    key_first = pd.Series(hop1["node"].to_numpy(), index=hop1["key"].to_numpy())
    msg = final["msg"].to_numpy()
    entry = key_first.reindex(final["key"].to_numpy()).to_numpy(dtype=np.float64)
    entry = np.where(np.isnan(entry), first_node[msg], entry).astype(np.int64)
    client = model.messages.client[msg]
    ok = (client >= 0) & (entry >= 0)
    step(nodes[client[ok]], nodes[entry[ok]], msg[ok])

    # MTA -> MTA along each recipient's chain.
    keys = chain["key"].to_numpy()
    onward = np.flatnonzero(keys[1:] == keys[:-1]) if len(keys) else np.zeros(0, np.int64)
    hop_node = chain["node"].to_numpy()
    step(nodes[hop_node[onward]], nodes[hop_node[onward + 1]], chain["msg"].to_numpy()[onward])

    # Last hop -> where the recipient ended.
    status = recipients["status"].astype(str).to_numpy()
    where = _per_category(recipients["node"], lambda name: name)
    relay_host = _per_category(recipients["relay"], lambda relay: relay.split("[", 1)[0])
    mta_names = set(run.nodes)
    if aggregate_mailboxes:
        mailbox = _per_category(recipients["node"], lambda host: f"mailboxes@{host}")
    else:
        mailbox = _per_category(recipients["recipient"], lambda address: f"mailbox:{address}")
    target = np.full(len(status), "", dtype=object)
    target[status == "delivered"] = mailbox[status == "delivered"]
    for sink in SINKS:
        target[status == sink] = sink
    target[status == "relayed"] = relay_host[status == "relayed"]
    # A pending recipient already handed to another MTA of the run waits there: draw that hop.
    onward = final["onward"].to_numpy()
    handed = (status == "pending") & (onward >= 0)
    next_node = table["node"].to_numpy()[np.maximum(onward, 0)] if len(table) else onward
    target[handed] = nodes[next_node[handed]]
    done = target != ""
    step(where[done], target[done], msg[done])

    edges = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame()
    graph = nx.DiGraph(name=run.name)
    if len(edges):
        grouped = edges.groupby(["src", "dst"], sort=True)["msg"]
        counted = pd.DataFrame({"weight": grouped.nunique(), "recipients": grouped.size()})
        for (src, dst), weight, count in zip(
            counted.index, counted["weight"], counted["recipients"], strict=True
        ):
            graph.add_edge(src, dst, weight=int(weight), recipients=int(count))
    clients = {str(name) for name in nodes[np.unique(client[client >= 0])]}
    _label(graph, clients, mta_names)
    return graph


def _per_category(column: pd.Series, func: Callable[[str], str]) -> npt.NDArray[np.object_]:
    """Apply ``func`` once per category of a categorical column and spread it to the rows."""
    categories = np.array([func(str(c)) for c in column.cat.categories], dtype=object)
    codes = column.cat.codes.to_numpy()
    return categories[codes] if len(categories) else np.full(len(codes), "", dtype=object)


def _label(graph: nx.DiGraph, clients: set[str], mtas: set[str]) -> None:
    """Set each node's ``kind`` and ``layer`` (breadth-first hop count from the clients)."""
    for name in graph.nodes:
        if name in clients:
            kind = "client"
        elif name in mtas:
            kind = "mta"
        elif name in SINKS:
            kind = "sink"
        elif name.startswith(("mailboxes@", "mailbox:")):
            kind = "mailbox"
        else:
            kind = "external"
        graph.nodes[name]["kind"] = kind
    layer: dict[str, int] = {name: 0 for name in graph.nodes if name in clients}
    todo = deque(layer)
    while todo:
        here = todo.popleft()
        for there in graph.successors(here):
            if graph.nodes[there]["kind"] == "mta" and there not in layer:
                layer[there] = layer[here] + 1
                todo.append(there)
    for name in graph.nodes:
        if graph.nodes[name]["kind"] == "mta":
            layer.setdefault(name, 1)
    for name in graph.nodes:
        if graph.nodes[name]["kind"] in ("mailbox", "external"):
            layer[name] = 1 + max((layer.get(p, 0) for p in graph.predecessors(name)), default=0)
    last = 1 + max(layer.values(), default=0)
    for name in graph.nodes:
        graph.nodes[name]["layer"] = layer.get(name, last)


def layered_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Place nodes left to right by ``layer``; each layer spread over the same height, by name.

    Spreading every layer over the full height keeps a layer of three MTAs as readable as one
    of thirty clients next to it.
    """
    by_layer: dict[int, list[str]] = {}
    for name, data in graph.nodes(data=True):
        by_layer.setdefault(int(data.get("layer", 0)), []).append(str(name))
    height = float(max((len(names) for names in by_layer.values()), default=1) - 1)
    position: dict[str, tuple[float, float]] = {}
    for layer, names in by_layer.items():
        names.sort()
        gap = height / (len(names) - 1) if len(names) > 1 else 0.0
        for index, name in enumerate(names):
            y = height / 2.0 - index * gap if len(names) > 1 else 0.0
            position[name] = (float(layer), y)
    return position
