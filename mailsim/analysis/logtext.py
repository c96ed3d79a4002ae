"""Print a :class:`~mailsim.analysis.logreport.LogReport` as pflogsumm prints its report.

The pflogsumm sections keep its headings, column layout and number units (``k`` above 512 kB,
``m`` above 512 MB, delays in s/m/h), so the two reports can be read side by side; the
sections pflogsumm does not have follow (latency percentiles, the delays=a/b/c/d split,
qshape).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pandas as pd

from mailsim.analysis.qshape import format_qshape

if TYPE_CHECKING:
    from mailsim.analysis.logreport import LogReport

__all__ = ["format_logreport", "int_units", "time_units"]


def int_units(value: float) -> str:
    """pflogsumm's ``%6d%s`` of adj_int_units(): k above 512k, m above 512m."""
    if value > 536870912:
        return f"{int(value / 1048576):6d}m"
    if value > 524288:
        return f"{int(value / 1024):6d}k"
    return f"{int(value):6d} "


def time_units(seconds: float) -> str:
    """pflogsumm's ``%5.1f %s`` of adj_time_units(): h above an hour, m above a minute."""
    value = 0.0 if seconds != seconds else float(seconds)
    if value > 3600:
        return f"{value / 3600:5.1f} h"
    if value > 60:
        return f"{value / 60:5.1f} m"
    return f"{value:5.1f} s"


def _title(text: str) -> list[str]:
    return ["", text, "-" * len(text)]


def _grand_totals(report: LogReport) -> list[str]:
    total = report.total
    known = total("delivered") + total("rejected") + total("discarded")
    rejected = int(total("rejected") / known * 100) if known else 0
    discarded = int(total("discarded") / known * 100) if known else 0
    deferrals = total("deferrals")
    lines = [*_title("Grand Totals"), "messages", ""]
    lines += [f" {int_units(total(name))}  {name}" for name in ("received", "delivered")]
    lines.append(f" {int_units(total('forwarded'))}  forwarded")
    count = int_units(deferrals)  # "%d%s": the number, then its unit or a space
    more = f"  ({count[:-1].strip()}{count[-1]} deferrals)" if deferrals else ""
    lines.append(f" {int_units(total('deferred'))}  deferred{more}")
    lines.append(f" {int_units(total('bounced'))}  bounced")
    lines.append(f" {int_units(total('rejected'))}  rejected ({rejected}%)")
    lines.append(f" {int_units(total('reject warnings'))}  reject warnings")
    lines.append(f" {int_units(total('held'))}  held")
    lines.append(f" {int_units(total('discarded'))}  discarded ({discarded}%)")
    lines.append("")
    for name in (
        "bytes received",
        "bytes delivered",
        "senders",
        "sending hosts/domains",
        "recipients",
        "recipient hosts/domains",
    ):
        lines.append(f" {int_units(total(name))}  {name}")
    return lines


def _per_hour(report: LogReport) -> list[str]:
    table = report.per_hour
    days = {start.date() for start in table["start"]}
    lines = [
        *_title("Per-Hour Traffic Summary"),
        "    time          received  delivered   deferred    bounced     rejected",
        "    --------------------------------------------------------------------",
    ]
    columns = [table[name].tolist() for name in ("received", "delivered", "deferred")]
    columns += [table[name].tolist() for name in ("bounced", "rejected")]
    for index, start in enumerate(table["start"].tolist()):
        end = start + timedelta(hours=1)
        label = f"{start:%H}00-{end.hour if end.hour else 24:02d}00  "
        if len(days) > 1:
            label = f"{start:%Y-%m-%d} {label}"
        lines.append("    " + label + "".join(f"    {int_units(c[index])}" for c in columns))
    return lines


def _limit(frame: pd.DataFrame, top: int) -> pd.DataFrame:
    return frame.head(top) if top > 0 else frame


def _heading(what: str, top: int) -> str:
    return f"{what} (top {top})" if top > 0 else what


def _per_domain(report: LogReport, top: int) -> list[str]:
    lines = [
        *_title(_heading("Host/Domain Summary: Message Delivery", top)),
        " sent cnt  bytes   defers   avg dly max dly host/domain",
        " -------- -------  -------  ------- ------- -----------",
    ]
    shown = _limit(report.per_domain, top)
    for domain, sent, size, defers, avg, most in zip(
        *(shown[c].tolist() for c in ("domain", "sent", "bytes", "defers")),
        *(shown[c].tolist() for c in ("avg_delay", "max_delay")),
        strict=True,
    ):
        lines.append(
            f" {int_units(sent)}  {int_units(size)}  {int_units(defers)}  "
            f"{time_units(avg)}  {time_units(most)}  {domain}"
        )
    lines += [
        *_title(_heading("Host/Domain Summary: Messages Received", top)),
        " msg cnt   bytes   host/domain",
        " -------- -------  -----------",
    ]
    shown = _limit(report.sending_domains, top)
    for domain, messages, size in zip(
        *(shown[c].tolist() for c in ("domain", "messages", "bytes")), strict=True
    ):
        lines.append(f" {int_units(messages)}  {int_units(size)}  {domain}")
    return lines


def _rankings(report: LogReport, top: int) -> list[str]:
    lines: list[str] = []
    for what, frame, column in (
        ("Senders by message count", report.senders, "messages"),
        ("Recipients by message count", report.recipients, "messages"),
        ("Senders by message size", report.senders, "bytes"),
        ("Recipients by message size", report.recipients, "bytes"),
    ):
        title = f"top {top} {what}" if top > 0 else what
        if not len(frame):
            lines += ["", f"{title}: none"]
            continue
        lines += ["", title, "-" * len(title)]
        ordered = frame.sort_values([column, "address"], ascending=[False, True], kind="stable")
        shown = _limit(ordered, top)
        for value, address in zip(shown[column].tolist(), shown["address"].tolist(), strict=True):
            lines.append(f" {int_units(value)}  {address}")
    return lines


def _details(title: str, frame: pd.DataFrame, by: str, top: int) -> list[str]:
    if not len(frame):
        return ["", f"{title}: none"]
    lines = ["", title, "-" * len(title)]
    for key, rows in frame.groupby(by, sort=True):
        limit = f" (top {top})" if top > 0 else ""
        lines.append(f"  {key}{limit} (total: {int(rows['count'].sum())})")
        ordered = rows.sort_values(["count", "reason"], ascending=[False, True], kind="stable")
        shown = _limit(ordered, top)
        for count, reason in zip(shown["count"].tolist(), shown["reason"].tolist(), strict=True):
            lines.append(f"    {int_units(count)}  {reason}")
    return lines


def _table(frame: pd.DataFrame) -> list[str]:
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if v != v else f"{v:.3f}")
    return shown.to_string(index=False).splitlines()


def format_logreport(report: LogReport, top: int = 10) -> str:
    """Return ``report`` as text: pflogsumm's sections, then latency, stages and qshape."""
    end = report.start + timedelta(seconds=report.t_end)
    lines = [
        f"Postfix log summary: {report.name or 'run'} "
        f"({report.start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC)"
    ]
    lines += _grand_totals(report)
    lines += _per_hour(report)
    lines += _per_domain(report, top)
    lines += _rankings(report, top)
    lines += _details("message deferral detail", report.defer_reasons, "daemon", top)
    lines += _details("message bounce detail (by relay)", report.bounce_reasons, "relay", top)
    lines += _details("message reject detail", report.reject_reasons, "command", top)
    lines += [*_title("Delivery latency (s), not in pflogsumm"), *_table(report.latency)]
    lines += [*_title("Per-stage split of delays=a/b/c/d (s), delivered lines")]
    lines += _table(report.stages)
    lines += _title("Deferred queues at their peak (qshape deferred)")
    if not report.qshape:
        lines.append("No message was ever deferred.")
    for node, (t, table) in report.qshape.items():
        lines += ["", f"{node} at t = {t:g} s:", *format_qshape(table).splitlines()]
    return "\n".join(lines) + "\n"
