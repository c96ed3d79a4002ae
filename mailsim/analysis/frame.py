"""Check an event log frame and give it an integer-coded view for fast, vectorised analysis.

Every question the analysis answers is a group-by over a few million rows; doing those on integer
codes (one per distinct message id, node, queue id, recipient) with numpy keeps them to seconds.
The frame is first put into time order (stable, so rows logged at the same instant keep their
emission order): from then on the row number *is* the order of events, and ties never need a
second sort key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from mailsim.errors import MailsimError
from mailsim.eventlog import COLUMNS, EVENTS

__all__ = [
    "STRING_COLUMNS",
    "CodedLog",
    "EventLogError",
    "FloatArray",
    "IntArray",
    "event_code",
    "normalise",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STRING_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in ("t", "size"))

_EVENT_INDEX: dict[str, int] = {name: index for index, name in enumerate(EVENTS)}


class EventLogError(MailsimError, ValueError):
    """The frame handed to the analysis is not an event log (DESIGN.md section 3)."""


def event_code(name: str) -> int:
    """Return the internal code of event ``name``; raise ValueError for a name not in EVENTS."""
    try:
        return _EVENT_INDEX[name]
    except KeyError:
        known = ", ".join(EVENTS)
        raise ValueError(f"unknown event {name!r}; expected one of: {known}") from None


def normalise(events: pd.DataFrame) -> pd.DataFrame:
    """Return ``events`` with the schema's dtypes, in time order, on a fresh RangeIndex.

    A log read back from CSV has plain strings and NaN for empty fields; one merged from two
    engines may be out of order. Both are repaired here so every later step can rely on
    categorical string columns without missing values and on row order being time order.
    Extra columns are kept.
    """
    missing = [column for column in COLUMNS if column not in events.columns]
    if missing:
        raise EventLogError(f"event log lacks columns {missing}; got {list(events.columns)}")
    frame = events.copy(deep=False)
    for column in STRING_COLUMNS:
        frame[column] = _as_category(frame[column])
    frame["t"] = frame["t"].astype(np.float64)
    frame["size"] = frame["size"].fillna(0).astype(np.int64)
    times = frame["t"].to_numpy()
    if np.isnan(times).any():
        raise EventLogError(f"event log has {int(np.isnan(times).sum())} rows without a time t")
    if len(times) > 1 and bool((np.diff(times) < 0).any()):
        frame = frame.iloc[np.argsort(times, kind="stable")]
    return frame.reset_index(drop=True)


def _as_category(column: pd.Series) -> pd.Series:
    """Return ``column`` as a categorical whose empty value is ``""`` (never NaN)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        text = column.astype(object).where(column.notna(), "").astype(str)
        return text.astype("category")
    if bool(column.isna().any()):
        if "" not in column.cat.categories:
            column = column.cat.add_categories([""])
        return column.fillna("")
    return column


def _codes(column: pd.Series) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.object_]]:
    """Return (codes, labels) of a categorical column, with ``""`` coded as -1."""
    labels = np.asarray(column.cat.categories, dtype=object)
    codes = column.cat.codes.to_numpy().astype(np.int32)
    empty = np.flatnonzero(labels == "")
    if empty.size:
        lookup = np.arange(len(labels), dtype=np.int32)
        lookup[empty] = -1
        codes = np.where(codes >= 0, lookup[np.maximum(codes, 0)], np.int32(-1)).astype(np.int32)
    return codes, labels


@dataclass(frozen=True, eq=False)
class CodedLog:
    """Integer-coded columns of a normalised log; -1 means empty (no message, no recipient...).

    ``event`` holds the position of the event name in :data:`mailsim.eventlog.EVENTS` (-1 for a
    name outside the vocabulary, which the analysis then ignores).
    """

    frame: pd.DataFrame
    t: FloatArray
    event: npt.NDArray[np.int8]
    node: npt.NDArray[np.int32]
    msg: npt.NDArray[np.int32]
    qid: npt.NDArray[np.int32]
    rcpt: npt.NDArray[np.int32]
    sender: npt.NDArray[np.int32]
    size: IntArray
    labels: dict[str, npt.NDArray[np.object_]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CodedLog:
        """Code a frame that :func:`normalise` has already repaired."""
        labels: dict[str, npt.NDArray[np.object_]] = {}
        coded: dict[str, npt.NDArray[np.int32]] = {}
        for column in ("node", "msg", "queue_id", "recipient", "sender"):
            coded[column], labels[column] = _codes(frame[column])
        names = frame["event"].cat.categories
        lookup = np.array([_EVENT_INDEX.get(str(name), -1) for name in names] + [-1], np.int8)
        event = lookup[frame["event"].cat.codes.to_numpy()]
        return cls(
            frame=frame,
            t=frame["t"].to_numpy(dtype=np.float64),
            event=event,
            node=coded["node"],
            msg=coded["msg"],
            qid=coded["queue_id"],
            rcpt=coded["recipient"],
            sender=coded["sender"],
            size=frame["size"].to_numpy(dtype=np.int64),
            labels=labels,
        )

    def __len__(self) -> int:
        return len(self.t)

    def count(self, column: str) -> int:
        """Return how many codes ``column`` can hold (node, msg, queue_id, recipient, sender)."""
        return len(self.labels[column])

    def is_event(self, *names: str) -> npt.NDArray[np.bool_]:
        """Return a row mask of the events named."""
        return np.isin(self.event, [event_code(name) for name in names])

    def label(self, column: str, codes: npt.ArrayLike) -> pd.Categorical:
        """Turn codes of ``column`` back into a categorical of labels (-1 becomes ``""``)."""
        return take_labels(self.labels[column], np.asarray(codes))

    def take(self, column: str, rows: npt.ArrayLike) -> pd.Categorical:
        """Return column ``column`` (dsn, relay, daemon...) at ``rows``; row -1 gives ``""``."""
        series = self.frame[column]
        index = np.asarray(rows, dtype=np.int64)
        codes = series.cat.codes.to_numpy()[np.maximum(index, 0)].astype(np.int64)
        codes[index < 0] = -1
        return take_labels(np.asarray(series.cat.categories, dtype=object), codes)

    def take_host(self, column: str, rows: npt.ArrayLike) -> npt.NDArray[np.object_]:
        """Return the host part of ``name[address]:port`` values of ``column`` at ``rows``.

        Done once per distinct value, not per row: relay and client fields repeat a lot.
        """
        values = self.take(column, rows)
        hosts = np.array([str(label).split("[", 1)[0] for label in values.categories], dtype=object)
        return hosts[values.codes] if len(hosts) else np.zeros(0, dtype=object)


def take_labels(labels: npt.NDArray[np.object_], codes: npt.NDArray[np.generic]) -> pd.Categorical:
    """Build a categorical of ``labels`` from ``codes`` (-1 reads ``""``), keeping used labels."""
    index = np.asarray(codes, dtype=np.int64)
    empty = np.flatnonzero(labels == "")
    if empty.size:
        table = labels
        blank = int(empty[0])
    else:
        table = np.append(labels, np.array([""], dtype=object))
        blank = len(labels)
    index = np.where(index < 0, blank, index)
    used, inverse = np.unique(index, return_inverse=True)
    categories = pd.Index(table[used], dtype=object)
    return pd.Categorical.from_codes(inverse.astype(np.int32), categories=categories)
