"""The live lab's event log: the simulation's schema (DESIGN.md section 3), written as it happens.

Both engines write the same log so the same notebooks read either. The live servers report
what they do through one :class:`LiveEventLog` per lab: each row is kept in memory (an
:class:`~mailsim.eventlog.EventLog`, so :meth:`LiveEventLog.run` gives the same
:class:`~mailsim.analysis.Run` a simulation gives) and, when the log has a path, appended to a
CSV file at once, in :meth:`Run.to_csv <mailsim.analysis.Run.to_csv>`'s format, so a notebook
can read a lab that is still running (``Run.read_csv``) and a crash loses no row already
written. ``t`` is wall-clock seconds since the log was opened, times ``time_scale``.

Run-wide message ids (``msg``) travel with the message in a trace header,
:data:`TRACE_HEADER` (``X-Mailsim-Id: m42``): the smtpd that first accepts a message without
one takes the next id from the log and adds the header; a later hop, or the POP3 server that
hands the message to its reader, reads it back, so every row about one message carries the
same ``msg`` however many servers it passed (DESIGN.md section 3: "live: carried in a
header").
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mailsim.eventlog import COLUMNS, EVENTS, EventLog, format_msg, format_qid

if TYPE_CHECKING:
    import pandas as pd

    from mailsim.analysis import Run

__all__ = ["TRACE_HEADER", "LiveEventLog", "trace_id"]

#: The header that carries the run-wide message id from hop to hop.
TRACE_HEADER = "X-Mailsim-Id"
_TRACE = re.compile(rb"^x-mailsim-id:[ \t]*m([0-9]{1,9})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")


def trace_id(message: bytes) -> int:
    """Return the message id in ``message``'s :data:`TRACE_HEADER` (0: none).

    Only the header section counts (up to the first empty line), so a body that quotes the
    header cannot name the message; with several such headers the first wins."""
    end = _END_OF_HEADER.search(message)
    found = _TRACE.search(message, 0, end.start() if end else len(message))
    return int(found.group(1)) if found else 0


class LiveEventLog:
    """The event log of one live lab (see the module docstring).

    ``path``: the CSV file rows go to as they happen (truncated on open: one file per lab run),
    or None to keep them in memory only. ``clock``: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale!r}")
        self.path = Path(path) if path is not None else None
        self.time_scale = time_scale
        self._clock = clock
        self._origin = clock()
        self.log = EventLog()
        self._last_msg = 0
        self._announced: dict[tuple[str, int], int] = {}
        self._file: IO[str] | None = None
        self._writer: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._file, lineterminator="\n")
            self._writer.writerow(COLUMNS)
            self._file.flush()

    def __repr__(self) -> str:
        return f"LiveEventLog(path={self.path!s}, events={len(self)})"

    def __len__(self) -> int:
        return len(self.log)

    def now(self) -> float:
        """Scenario seconds since the log was opened."""
        return (self._clock() - self._origin) * self.time_scale

    def new_msg(self) -> int:
        """Return the next run-wide message id (after every id seen so far)."""
        self._last_msg += 1
        return self._last_msg

    def announce(self, client: tuple[str, int], msg: int) -> None:
        """A lab client (:mod:`mailsim.live.driver`) says which message its connection from
        ``client`` (address, port) carries, so the server's rows for it, refusals before DATA
        included, name the workload's message as the simulation's do."""
        self.seen_msg(msg)
        self._announced[client] = msg

    def announced(self, client: tuple[str, int]) -> int:
        """The message announced for a connection from ``client`` (0: none); forgotten once
        asked."""
        return self._announced.pop(client, 0)

    def seen_msg(self, msg: int) -> None:
        """Note an id that came with a message, so :meth:`new_msg` never hands it out again."""
        self._last_msg = max(self._last_msg, msg)

    def emit(
        self,
        node: str,
        daemon: str,
        event: str,
        *,
        t: float | None = None,
        msg: int = 0,
        queue_id: str = "",
        sender: str = "",
        recipient: str = "",
        size: int = 0,
        dsn: str = "",
        relay: str = "",
        detail: str = "",
    ) -> None:
        """Record one event (``t``: when it happened, by :meth:`now`; default: now).

        ``queue_id`` is the node's queue id as text (upper-case hex, as the live spool makes
        them); ``event`` must be in :data:`~mailsim.eventlog.EVENTS`."""
        if event not in EVENTS:
            raise ValueError(f"{event!r} is not an event of the log's vocabulary (EVENTS)")
        when = self.now() if t is None else t
        qid = int(queue_id, 16) if queue_id else 0
        self.log.emit(
            when, node, daemon, event, msg, qid, sender, recipient, size, dsn, relay, detail
        )
        if self._writer is not None and self._file is not None:
            self._writer.writerow(
                (
                    repr(when),
                    node,
                    daemon,
                    event,
                    format_msg(msg),
                    format_qid(qid),
                    sender,
                    recipient,
                    size,
                    dsn,
                    relay,
                    detail,
                )
            )
            self._file.flush()

    def to_frame(self) -> pd.DataFrame:
        """The rows so far, formatted (the columns of DESIGN.md section 3)."""
        return self.log.to_frame()

    def run(self, name: str = "live", meta: Mapping[str, Any] | None = None) -> Run:
        """The rows so far as a :class:`~mailsim.analysis.Run` (the notebooks' object)."""
        from mailsim.analysis import Run

        details = {"engine": "live", "time_scale": self.time_scale, **(meta or {})}
        return Run(self.to_frame(), name=name, meta=details)

    def close(self) -> None:
        """Close the CSV file (rows stay readable in memory)."""
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None
