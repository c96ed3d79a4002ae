"""Charts of a run: throughput, queue depth, latency, delivery paths.

Each function takes a :class:`~mailsim.analysis.run.Run` and an optional matplotlib ``ax`` and
returns the ``ax`` it drew on, so notebooks can compose figures. Without ``ax`` a new
:class:`matplotlib.figure.Figure` is made directly (no pyplot, no global state, no display
needed); ``ax.figure.savefig(...)`` writes it. Every chart has a title and axis labels with units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mailsim.analysis.paths import layered_layout
from mailsim.analysis.visit import QUEUES

if TYPE_CHECKING:
    from mailsim.analysis.run import Run

__all__ = [
    "plot_delivery_paths",
    "plot_latency",
    "plot_mail_problems",
    "plot_mail_traffic",
    "plot_queue_depth",
    "plot_throughput",
]

_KIND_COLOURS = {
    "client": "#8fbc8f",
    "mta": "#6495ed",
    "mailbox": "#f0c060",
    "external": "#c0c0c0",
    "sink": "#e07070",
}


class ChartFigure(Figure):
    """A free-standing Figure that Jupyter shows as a PNG (IPython's ``_repr_png_`` protocol),
    so ``plot_x(run).figure`` displays inline without pyplot or a backend switch."""

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _axes(ax: Axes | None, size: tuple[float, float] = (9.0, 4.5)) -> Axes:
    """Return ``ax``, or the axes of a new free-standing ChartFigure."""
    if ax is not None:
        return ax
    figure = ChartFigure(figsize=size, layout="constrained")
    return figure.add_subplot()


def time_unit(span_s: float) -> tuple[float, str]:
    """Return (seconds per unit, unit name) that keeps a time axis of ``span_s`` readable."""
    if span_s <= 2 * 3600:
        return 60.0, "min"
    if span_s <= 3 * 86400:
        return 3600.0, "h"
    return 86400.0, "d"


def auto_interval(span_s: float, bins: int = 150) -> float:
    """Return a round bin width (s) that cuts ``span_s`` into at most ``bins`` bins."""
    for width in (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0):
        if span_s / width <= bins:
            return width
    return 86400.0 * float(np.ceil(span_s / 86400.0 / bins))


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", ha="center", va="center", transform=ax.transAxes)


def plot_throughput(
    run: Run,
    ax: Axes | None = None,
    interval: float | None = None,
    event: str = "delivered",
    per_node: bool = True,
) -> Axes:
    """Draw ``event`` rows per minute over time, per node (step lines) and in total.

    ``interval`` is the bin width in seconds; by default the smallest of 1, 5, 15, 60 minutes
    (then hours, days) that gives at most 150 bins, so a long run is not drawn as noise.
    """
    ax = _axes(ax)
    if interval is None:
        interval = auto_interval(run.t_end)
    table = run.throughput(interval, event)
    scale, unit = time_unit(run.t_end)
    starts = table.index.to_numpy()
    x = np.append(starts, starts[-1] + interval if len(starts) else 0.0) / scale
    per_minute = 60.0 / interval

    def rate(column: str) -> np.ndarray:
        counts = table[column].to_numpy() * per_minute
        return np.append(counts, counts[-1:])  # repeat the last bin so it is drawn full width

    columns = [c for c in table.columns if c != "total"] if per_node else []
    for column in columns:
        ax.step(x, rate(column), where="post", label=column)
    if len(columns) != 1:
        ax.step(x, rate("total"), where="post", label="total", color="black", linewidth=1.5)
    if not int(table["total"].sum()):
        _no_data(ax, f"'{event}' events")
    ax.set_title(f"Throughput: '{event}' per minute ({interval:g} s bins)")
    ax.set_xlabel(f"time since start ({unit})")
    ax.set_ylabel("messages per minute")
    ax.set_ylim(bottom=0)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax


def plot_queue_depth(
    run: Run,
    ax: Axes | None = None,
    nodes: Iterable[str] | None = None,
    queues: Iterable[str] = QUEUES,
    max_steps: int = 2000,
) -> Axes:
    """Draw the depth of each chosen queue of each node over time, as step lines.

    A series with more than ``max_steps`` changes (a long run where every message passes in a
    fraction of a second) is drawn as its maximum per bin of :func:`auto_interval` width: the
    exact step line would be a solid block, the envelope still shows every peak.
    """
    ax = _axes(ax)
    wanted = set(queues)
    unknown = wanted - set(QUEUES)
    if unknown:
        raise ValueError(f"unknown queue(s) {sorted(unknown)}; expected some of {QUEUES}")
    table = run.queue_depth(nodes)
    scale, unit = time_unit(run.t_end)
    width = auto_interval(run.t_end, bins=300)
    drawn, binned = 0, False
    for (node, queue), group in table.groupby(["node", "queue"], observed=True, sort=True):
        if queue not in wanted:
            continue
        t = group["t"].to_numpy()
        depth = group["depth"].to_numpy()
        if len(t) > max_steps:
            t, depth = _envelope(t, depth, run.t_end, width)
            binned = True
        t = np.concatenate([[0.0], t, [run.t_end]]) / scale
        depth = np.concatenate([[0], depth, depth[-1:]])
        ax.step(t, depth, where="post", label=f"{node} {queue}")
        drawn += 1
    if not drawn:
        _no_data(ax, "queued messages")
    how = f", maximum per {width / 60:g} min" if binned else ""
    ax.set_title(f"Queue depth per node (incoming / active / deferred{how})")
    ax.set_xlabel(f"time since start ({unit})")
    ax.set_ylabel("messages in queue")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if drawn:
        ax.legend(fontsize="small")
    return ax


def _envelope(
    t: np.ndarray, depth: np.ndarray, t_end: float, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return (bin starts, maximum depth within each bin) of a step function."""
    count = int(t_end // width) + 1
    slot = np.minimum((t // width).astype(np.int64), count - 1)
    peak = np.zeros(count, dtype=np.int64)
    np.maximum.at(peak, slot, depth)
    last = np.full(count, -1, dtype=np.int64)
    last[slot] = depth  # rows are in time order: the last write per bin wins
    carried = pd.Series(np.where(last >= 0, last, np.nan)).ffill().fillna(0.0).to_numpy()
    entering = np.concatenate([[0], carried[:-1]]).astype(np.int64)
    return np.arange(count) * width, np.maximum(peak, entering)


def plot_latency(
    run: Run,
    ax: Axes | None = None,
    status: str = "delivered",
    log_x: bool = False,
    bins: int = 50,
) -> Axes:
    """Draw the end-to-end latency histogram of ``status`` recipients, its CDF and p50/p95/p99.

    ``log_x`` spreads latencies that span orders of magnitude (a retried message waits minutes,
    a direct one under a second).
    """
    ax = _axes(ax)
    recipients = run.recipients()
    latency = recipients.loc[recipients["status"] == status, "latency"].dropna().to_numpy()
    ax.set_title(f"End-to-end latency of {status} recipients (submit to outcome)")
    ax.set_xlabel("latency (s)" + (", log scale" if log_x else ""))
    ax.set_ylabel("recipients")
    if not len(latency):
        _no_data(ax, f"{status} recipients")
        return ax
    if log_x:
        low = float(latency[latency > 0].min()) if (latency > 0).any() else 1e-3
        latency = np.maximum(latency, low)
        edges = np.geomspace(low, max(float(latency.max()), low * 10), bins + 1)
        ax.set_xscale("log")
    else:
        edges = np.linspace(0.0, max(float(latency.max()), 1e-9), bins + 1)
    ax.hist(latency, bins=edges.tolist(), color="#6495ed", alpha=0.7, label="recipients")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    cdf = ax.twinx()
    ordered = np.sort(latency)
    cdf.step(ordered, np.arange(1, len(ordered) + 1) / len(ordered), where="post", color="black")
    cdf.set_ylim(0, 1.02)
    cdf.set_ylabel("cumulative fraction of recipients")
    for p, style in ((50, "-"), (95, "--"), (99, ":")):
        value = float(np.percentile(latency, p))
        ax.axvline(value, color="#c03030", linestyle=style, label=f"p{p} = {value:.3g} s")
    ax.legend(fontsize="small", loc="center right")
    return ax


def _mailgraph_axis(
    run: Run, interval: float | None, nodes: Iterable[str] | None
) -> tuple[pd.DataFrame, np.ndarray, float, str]:
    """Counts of mail-log lines per bin (:func:`~mailsim.analysis.logreport.traffic`), the
    bin edges on a time-of-day axis in hours, the factor to messages per minute, and the
    axis label."""
    from mailsim.analysis.logreport import run_start, traffic

    width = auto_interval(run.t_end) if interval is None else float(interval)
    table = traffic(run, width, nodes)
    start = run_start(run)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = (start - midnight).total_seconds()
    starts = table.index.to_numpy(dtype=np.float64)
    edges = (np.append(starts, starts[-1] + width) + offset) / 3600.0
    label = f"time of day (UTC, from {midnight:%Y-%m-%d})"
    return table, edges, 60.0 / width, label


def _clock(hours: float, _position: object = None) -> str:
    """Format hours since midnight as HH:MM (days beyond the first as +Nd)."""
    minutes = round(hours * 60.0)
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{text} +{days}d" if days else text


def _stepped(values: np.ndarray) -> np.ndarray:
    """Repeat the last bin so a step drawing reaches the end of the axis."""
    return np.append(values, values[-1:]).astype(np.float64)


def plot_mail_traffic(
    run: Run,
    ax: Axes | None = None,
    interval: float | None = None,
    nodes: Iterable[str] | None = None,
) -> Axes:
    """mailgraph's "sent/received" graph: delivered lines (sent: local deliveries and
    hand-offs to the next MTA) as a filled area, received messages (smtpd) as a line, in
    messages per minute over the time of day. Counted as the pflogsumm-style report counts
    them (:func:`~mailsim.analysis.logreport.traffic`), so the areas add up to its totals.
    """
    ax = _axes(ax)
    table, edges, per_minute, label = _mailgraph_axis(run, interval, nodes)
    sent = _stepped(table["delivered"].to_numpy()) * per_minute
    received = _stepped(table["received"].to_numpy()) * per_minute
    ax.fill_between(edges, sent, step="post", color="#000099", alpha=0.85, label="sent")
    ax.step(edges, received, where="post", color="#00aa00", linewidth=1.8, label="received")
    if not int(table[["delivered", "received"]].to_numpy().sum()):
        _no_data(ax, "received or delivered mail")
    width = (edges[1] - edges[0]) * 60.0 if len(edges) > 1 else 0.0
    ax.set_title(f"Mail traffic, mailgraph style: sent and received ({width:g} min bins)")
    ax.set_xlabel(label)
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_ylabel("messages per minute")
    ax.set_ylim(bottom=0)
    ax.set_xlim(edges[0], edges[-1])
    ax.legend(fontsize="small", loc="upper right")
    return ax


def plot_mail_problems(
    run: Run,
    ax: Axes | None = None,
    interval: float | None = None,
    nodes: Iterable[str] | None = None,
) -> Axes:
    """mailgraph's "bounced/rejected" graph: smtpd rejects and bounced recipients stacked,
    in messages per minute over the time of day; deferrals (not in mailgraph) as a dashed
    line on top of the same axis."""
    ax = _axes(ax)
    table, edges, per_minute, label = _mailgraph_axis(run, interval, nodes)
    rejected = _stepped(table["rejected"].to_numpy()) * per_minute
    bounced = _stepped(table["bounced"].to_numpy()) * per_minute
    deferred = _stepped(table["deferred"].to_numpy()) * per_minute
    ax.fill_between(edges, rejected, step="post", color="#aa0000", label="rejected")
    ax.fill_between(
        edges, rejected, rejected + bounced, step="post", color="#000000", label="bounced"
    )
    ax.step(
        edges, deferred, where="post", color="#dd8800", linestyle="--", label="deferred (lines)"
    )
    if not int(table[["rejected", "bounced", "deferred"]].to_numpy().sum()):
        _no_data(ax, "rejected, bounced or deferred mail")
    width = (edges[1] - edges[0]) * 60.0 if len(edges) > 1 else 0.0
    ax.set_title(f"Mail problems, mailgraph style: rejected and bounced ({width:g} min bins)")
    ax.set_xlabel(label)
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_ylabel("messages per minute")
    ax.set_ylim(bottom=0)
    ax.set_xlim(edges[0], edges[-1])
    ax.legend(fontsize="small", loc="upper right")
    return ax


def plot_delivery_paths(run: Run, ax: Axes | None = None, aggregate_mailboxes: bool = True) -> Axes:
    """Draw the delivery-path graph left to right, edge widths by message count."""
    ax = _axes(ax, size=(10.0, 5.0))
    graph = run.delivery_graph(aggregate_mailboxes=aggregate_mailboxes)
    ax.set_title("Delivery paths (edge width and label = messages)")
    ax.set_xlabel("hop along the path (0 = submitting clients)")
    ax.set_ylabel("nodes of each hop")
    if not graph.number_of_nodes():
        _no_data(ax, "messages")
        return ax
    position = layered_layout(graph)
    crowd = max(Counter(layer for _, layer in graph.nodes(data="layer")).values())
    size = float(min(900, max(120, 4500 // crowd)))
    weights = [int(data["weight"]) for _, _, data in graph.edges(data=True)]
    top = max(weights, default=1)
    colours = [_KIND_COLOURS.get(kind, "#c0c0c0") for _, kind in graph.nodes(data="kind")]
    nx.draw_networkx_nodes(graph, position, ax=ax, node_color=colours, node_size=size)
    layer = dict(graph.nodes(data="layer"))
    for same_layer, bend in ((False, 0.08), (True, 0.35)):
        chosen = [(u, v) for u, v in graph.edges if (layer[u] == layer[v]) == same_layer]
        style = f"arc3,rad={bend}"
        nx.draw_networkx_edges(
            graph,
            position,
            edgelist=chosen,
            ax=ax,
            width=[1.0 + 6.0 * graph.edges[e]["weight"] / top for e in chosen],
            edge_color="#555555",
            arrows=True,
            arrowsize=12,
            node_size=size,
            connectionstyle=style,
        )
        labels = {e: str(graph.edges[e]["weight"]) for e in chosen}
        nx.draw_networkx_edge_labels(
            graph, position, edge_labels=labels, ax=ax, font_size=7, connectionstyle=style
        )
    nx.draw_networkx_labels(graph, position, ax=ax, font_size=7 if crowd > 8 else 8)
    layers = sorted({int(layer) for _, layer in graph.nodes(data="layer")})
    ax.set_xticks(layers)
    ax.set_xticklabels([str(layer) for layer in layers])
    ax.tick_params(axis="x", bottom=True, labelbottom=True)
    ax.set_yticks([])
    low, high = min(layers), max(layers)
    ax.set_xlim(low - 0.5, high + 0.5)
    return ax


def figure_of(ax: Axes) -> Figure:
    """Return the Figure an axes belongs to (for ``savefig``)."""
    figure = ax.get_figure()
    if not isinstance(figure, Figure):
        raise ValueError(f"axes {ax!r} belongs to no figure")
    return figure
