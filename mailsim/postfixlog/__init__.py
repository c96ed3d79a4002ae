"""Postfix mail logs: read a real Postfix log into mailsim's event log (DESIGN.md section 3).

- :mod:`~mailsim.postfixlog.syslog` splits a line into time, host, program, daemon, pid, text
  (classic syslog and ISO 8601 timestamps, multi-instance syslog names);
- :mod:`~mailsim.postfixlog.formats` reads the text of each Postfix line format;
- :mod:`~mailsim.postfixlog.parse` streams a log into per-message facts
  (:mod:`~mailsim.postfixlog.records`) in constant memory, counting what it skipped;
- :mod:`~mailsim.postfixlog.events` turns those facts into event-log rows, so that
  ``mailsim.analysis.Run(read_log(path).events)`` analyses a real Postfix log as it analyses a
  simulated run;
- :mod:`~mailsim.postfixlog.files` opens plain, gzip, bzip2 and xz files alike;
- :mod:`~mailsim.postfixlog.export` goes the other way: an event log written out as the mail
  log Postfix 3.7 would have written (``Run.to_postfix_log``).

This layer imports only :mod:`mailsim.eventlog`, :mod:`mailsim.errors`, :mod:`mailsim.units`,
the standard library, numpy and pandas.
"""

from __future__ import annotations

from mailsim.postfixlog.events import (
    EventBuilder,
    PostfixLog,
    build_log,
    node_name,
    outcome_event,
    read_log,
)
from mailsim.postfixlog.export import (
    DEFAULT_START,
    format_delay,
    format_postfix_log,
    outcome_delays,
    postfix_lines,
    write_postfix_log,
)
from mailsim.postfixlog.files import compression, open_log
from mailsim.postfixlog.parse import KINDS, NOTIFICATION_BASE, Item, PostfixLogParser, parse_log
from mailsim.postfixlog.records import (
    Delivery,
    Link,
    Message,
    Note,
    Notice,
    ParseStats,
    Reject,
    Session,
)
from mailsim.postfixlog.syslog import SyslogLine, SyslogReader

__all__ = [
    "DEFAULT_START",
    "KINDS",
    "NOTIFICATION_BASE",
    "Delivery",
    "EventBuilder",
    "Item",
    "Link",
    "Message",
    "Note",
    "Notice",
    "ParseStats",
    "PostfixLog",
    "PostfixLogParser",
    "Reject",
    "Session",
    "SyslogLine",
    "SyslogReader",
    "build_log",
    "compression",
    "format_delay",
    "format_postfix_log",
    "node_name",
    "open_log",
    "outcome_delays",
    "outcome_event",
    "parse_log",
    "postfix_lines",
    "read_log",
    "write_postfix_log",
]
