"""Write a run's report: four charts, the summary and recipient tables, one HTML page.

Besides the tables, the page shows each MTA's deferred queue at the moment it was deepest as
qshape(1) prints it (QSHAPE_README: "qshape deferred"), the view an administrator takes first
when mail is not leaving.

The page is self-contained apart from the images and CSV files next to it, referenced by
relative paths, so the whole directory can be zipped, mailed or served as it is. Charts are drawn
on free-standing Figures and saved as PNG (Agg), so no display is needed.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.axes import Axes

from mailsim.analysis.logreport import deferred_peaks
from mailsim.analysis.plots import (
    figure_of,
    plot_delivery_paths,
    plot_latency,
    plot_mail_problems,
    plot_mail_traffic,
    plot_queue_depth,
    plot_throughput,
)
from mailsim.analysis.qshape import format_qshape

if TYPE_CHECKING:
    from mailsim.analysis.run import Run

__all__ = ["CHARTS", "MAIL_LOG_CHARTS", "deferred_peaks", "format_summary", "write_report"]

#: The charts of a report: file name, drawing function, caption.
CHARTS: tuple[tuple[str, Callable[[Run], Axes], str], ...] = (
    (
        "throughput.png",
        lambda run: plot_throughput(run),
        "Recipients delivered to mailboxes per minute, per MTA and in total. A flat line at the "
        "arrival rate means the system keeps up; dips followed by bursts show retries.",
    ),
    (
        "queue_depth.png",
        lambda run: plot_queue_depth(run),
        "Messages in each queue of each MTA over time. Incoming and active stay small while "
        "delivery keeps up; the deferred queue grows while a destination is unreachable and "
        "drains at each retry (queue_run_delay, minimal/maximal_backoff_time).",
    ),
    (
        "latency.png",
        lambda run: plot_latency(run, log_x=True),
        "Histogram of end-to-end latency (submit to delivery) of delivered recipients, on a "
        "log scale, with its cumulative distribution (right axis) and the 50th/95th/99th "
        "percentiles. Deferred mail forms a second hump minutes to hours to the right.",
    ),
    (
        "delivery_paths.png",
        lambda run: plot_delivery_paths(run),
        "Where mail went: clients on the left, then MTAs in hop order, then mailboxes, hosts "
        "outside the lab and the rejected/bounced/expired sinks. Edge width and label give "
        "the number of messages.",
    ),
)

#: The mailgraph-style charts of the mail-log section (``write_report(..., mail_log=True)``).
MAIL_LOG_CHARTS: tuple[tuple[str, Callable[[Run], Axes], str], ...] = (
    (
        "mailgraph_traffic.png",
        lambda run: plot_mail_traffic(run),
        "mailgraph's sent/received graph: recipients delivered (status=sent lines: into a "
        "mailbox or on to the next MTA) as the blue area and messages received by smtpd as the "
        "green line, per minute over the time of day.",
    ),
    (
        "mailgraph_problems.png",
        lambda run: plot_mail_problems(run),
        "mailgraph's bounced/rejected graph: smtpd rejects (red) and bounced recipients "
        "(black) stacked, per minute; the dashed line counts deferrals (status=deferred "
        "lines), which mailgraph does not draw.",
    ),
)

_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
pre { font-size: 0.85em; background: #f8f8f8; padding: 0.5em; overflow-x: auto; }
"""


def _value(value: float) -> str:
    """Format a summary value: counts as integers, times to three decimals."""
    return f"{int(value):d}" if float(value).is_integer() else f"{value:.3f}"


def _tables(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the tidy summary into run-level metrics and a node x metric table."""
    summary = run.summary()
    overall = summary[summary["scope"] == "run"][["metric", "value"]]
    per_node = summary[summary["scope"] != "run"].pivot(
        index="scope", columns="metric", values="value"
    )
    columns = list(dict.fromkeys(summary.loc[summary["scope"] != "run", "metric"]))
    per_node = per_node.reindex(columns=columns)
    per_node.index.name = "node"
    per_node.columns.name = None
    return overall.reset_index(drop=True), per_node


def format_summary(run: Run) -> str:
    """Return the summary as a plain-text table for the terminal (pflogsumm-like)."""
    overall, per_node = _tables(run)
    title = f"Run {run.name!r}: {len(run)} events over {run.t_end:g} s"
    width = max((len(str(metric)) for metric in overall["metric"]), default=10)
    lines = [title, "=" * len(title)]
    lines += [
        f"{metric:<{width}}  {_value(value):>12}"
        for metric, value in zip(overall["metric"], overall["value"], strict=True)
    ]
    if len(per_node):
        lines += ["", per_node.map(_value).to_string()]
    return "\n".join(lines) + "\n"


def _html_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as an HTML table with readable numbers."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(_value)
    return shown.to_html(index=False, border=0, na_rep="", escape=True)


def _figure(name: str, caption: str) -> str:
    return (
        f'<figure><img src="{name}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _mail_log_section(run: Run, target: Path, top: int = 20) -> list[str]:
    """Write the mail-log charts and pflogsumm.txt; return the section's HTML."""
    report = run.pflogsumm()
    (target / "pflogsumm.txt").write_text(report.to_text(top=0), encoding="utf-8")
    for name, draw, _caption in MAIL_LOG_CHARTS:
        figure_of(draw(run)).savefig(target / name, dpi=100)
    per_hour = report.per_hour.assign(start=report.per_hour["start"].map(str))
    tables = [
        ("Grand Totals (pflogsumm's definitions)", report.totals),
        ("Delivery latency (s)", report.latency),
        ("Per-stage split of delays=a/b/c/d over delivered lines (s)", report.stages),
        ("Per-hour traffic", per_hour),
        ("Host/Domain Summary: Message Delivery", report.per_domain.head(top)),
        ("Host/Domain Summary: Messages Received", report.sending_domains.head(top)),
        ("Reject reasons", report.reject_reasons),
        ("Defer reasons", report.defer_reasons),
        ("Bounce reasons (by relay)", report.bounce_reasons),
    ]
    parts = [
        "<h2>Mail log summary (pflogsumm style)</h2>",
        "<p>What the run's Postfix mail log says, counted as Debian's pflogsumm counts it "
        "(received: smtpd client= lines; delivered: status=sent lines; rejected: smtpd "
        "reject lines; bytes from qmgr's size=), plus what pflogsumm lacks. The whole text "
        'report: <a href="pflogsumm.txt">pflogsumm.txt</a>.</p>',
    ]
    for heading, frame in tables:
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append(_html_table(frame) if len(frame) else "<p>None.</p>")
    for name, _draw, caption in MAIL_LOG_CHARTS:
        parts.append(_figure(name, caption))
    return parts


def _qshape_sections(run: Run) -> list[str]:
    """Return the HTML of a qshape table per node, its deferred queue at its peak."""
    peaks = deferred_peaks(run)
    if not peaks:
        return ["<p>No message was ever deferred.</p>"]
    parts = []
    for node, t, depth in peaks:
        table = format_qshape(run.qshape(node, ("deferred",), at=t))
        parts.append(
            f"<h3>{html.escape(node)}: qshape deferred at t = {t:g} s ({depth} messages)</h3>"
            f"<pre>{html.escape(table)}</pre>"
        )
    return parts


def write_report(
    run: Run, out_dir: str | Path, title: str | None = None, *, mail_log: bool = False
) -> Path:
    """Write charts, CSV tables and ``report.html`` for ``run`` into ``out_dir``; return the page.

    Files: throughput.png, queue_depth.png, latency.png, delivery_paths.png, summary.csv,
    recipients.csv, report.html. With ``mail_log`` the page also has the mail-log section
    (:mod:`mailsim.analysis.logreport`: pflogsumm's Grand Totals, per-hour and per-domain
    traffic, reject/defer/bounce reasons, latency percentiles and the delays=a/b/c/d split)
    and its mailgraph-style charts; the files mailgraph_traffic.png, mailgraph_problems.png
    and pflogsumm.txt (the text report) are added.
    """
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name, draw, _caption in CHARTS:
        figure = figure_of(draw(run))
        figure.savefig(target / name, dpi=100)
    run.summary().to_csv(target / "summary.csv", index=False)
    run.recipients().to_csv(target / "recipients.csv", index=False)
    heading = title or f"mailsim report: {run.name or 'run'}"
    overall, per_node = _tables(run)
    meta = pd.DataFrame(
        {"key": ["name", *run.meta.keys()], "value": [run.name, *map(str, run.meta.values())]}
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        f"<p>{len(run)} events, {run.t_end:g} s of scenario time. Tables: "
        '<a href="summary.csv">summary.csv</a>, <a href="recipients.csv">recipients.csv</a>.</p>',
        "<h2>Scenario</h2>",
        _html_table(meta),
        "<h2>Summary</h2>",
        _html_table(overall),
        "<h3>Per MTA</h3>",
        _html_table(per_node.reset_index()) if len(per_node) else "<p>No MTA activity.</p>",
        "<h2>Latency by node and status (s)</h2>",
        "<p>Node is where the recipient's outcome happened; pending recipients are left out.</p>",
        _html_table(run.latency_table()),
        "<h2>Deferred queues at their peak (qshape)</h2>",
        "<p>Recipients in each MTA's deferred queue by destination domain (rows) and age in "
        "minutes since the message arrived at that MTA (columns: up to 5, 10, 20, ... minutes; "
        "T is the total), at the moment the queue held the most messages.</p>",
        *_qshape_sections(run),
        "<h2>Charts</h2>",
    ]
    for name, _draw, caption in CHARTS:
        parts.append(_figure(name, caption))
    if mail_log:
        parts += _mail_log_section(run, target)
    parts.append("</body></html>")
    page = target / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
