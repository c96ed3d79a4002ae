"""Analysis of a run's event log: tables, charts, the delivery-path graph and reports.

Reads only the event log (a pandas DataFrame, DESIGN.md section 3); it never imports an engine,
so a simulated and a live run are analysed the same way::

    run = Run.from_eventlog(log, name="firma1")
    run.recipients()          # outcome and latency split per recipient
    run.queue_depth()         # incoming/active/deferred depth over time
    write_report(run, "report/firma1")
    run.pflogsumm().to_text() # pflogsumm-style report of the run's mail log
    run.to_postfix_log("maillog")   # the mail log Postfix would have written
"""

from __future__ import annotations

from mailsim.analysis.logreport import LogReport, summarise
from mailsim.analysis.paths import delivery_graph
from mailsim.analysis.plots import (
    plot_delivery_paths,
    plot_latency,
    plot_mail_problems,
    plot_mail_traffic,
    plot_queue_depth,
    plot_throughput,
)
from mailsim.analysis.report import format_summary, write_report
from mailsim.analysis.run import Run

__all__ = [
    "LogReport",
    "Run",
    "delivery_graph",
    "format_summary",
    "plot_delivery_paths",
    "plot_latency",
    "plot_mail_problems",
    "plot_mail_traffic",
    "plot_queue_depth",
    "plot_throughput",
    "summarise",
    "write_report",
]
