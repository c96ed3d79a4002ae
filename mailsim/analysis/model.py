"""Reconstruct, once and lazily, what happened in a run from its event log.

The tables, charts and graph all rest on the same few derived structures (coded columns, visits,
queue-state runs, recipient paths). Building them costs a few vectorised passes over the log, so
:class:`LogModel` builds each on first use and keeps it.
"""

from __future__ import annotations

from functools import cached_property

import pandas as pd

from mailsim.analysis.frame import CodedLog, normalise
from mailsim.analysis.hop import RecipientPaths
from mailsim.analysis.outcome import MessageInfo
from mailsim.analysis.visit import Visits

__all__ = ["LogModel"]


class LogModel:
    """The derived structures of one event log, each built on first use."""

    def __init__(self, events: pd.DataFrame) -> None:
        self.events = normalise(events)

    @cached_property
    def log(self) -> CodedLog:
        """The integer-coded view of the log."""
        return CodedLog.from_frame(self.events)

    @cached_property
    def visits(self) -> Visits:
        """Visits of messages to MTAs and the queue-state runs of their queue files."""
        return Visits.build(self.log)

    @cached_property
    def messages(self) -> MessageInfo:
        """Per-message facts: arrival, client, sender, size."""
        return MessageInfo.build(self.log, self.visits)

    @cached_property
    def paths(self) -> RecipientPaths:
        """Outcome, path and latency split of every recipient."""
        return RecipientPaths.build(self.log, self.visits, self.messages)

    @property
    def t_end(self) -> float:
        """Time of the last event (0.0 for an empty log)."""
        return float(self.log.t[-1]) if len(self.log) else 0.0
