"""A run: one event log plus its name and metadata, and every question asked of it.

``Run`` is what notebooks, the report and the CLI hold. It never looks at an engine: a log from
the simulation, from the live lab or read back from a file answers the same way. Derived tables
are built on first use and cached (a multi-million-row log is reconstructed once); callers get
a shallow copy, so changing a returned table does not change the cache (copy-on-write).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mailsim.analysis import queue as queues
from mailsim.analysis import tables
from mailsim.analysis.frame import STRING_COLUMNS
from mailsim.analysis.model import LogModel
from mailsim.analysis.qshape import DEFAULT_QUEUES, format_qshape, qshape
from mailsim.eventlog import EventLog

if TYPE_CHECKING:
    from datetime import datetime

    import networkx as nx

    from mailsim.analysis.logreport import LogReport

__all__ = ["Run"]

_META_SUFFIX = ".meta.json"


class Run:
    """One run's event log (DESIGN.md section 3) with its name and metadata.

    ``meta`` holds whatever describes the run (scenario name, seed, engine, parameters); it is
    shown in reports and written next to exported logs.
    """

    def __init__(
        self, events: pd.DataFrame, name: str = "", meta: Mapping[str, Any] | None = None
    ) -> None:
        self.model = LogModel(events)
        self.name = name
        self.meta: dict[str, Any] = dict(meta or {})
        self._cache: dict[tuple[Any, ...], pd.DataFrame] = {}
        self._reports: dict[tuple[Any, ...], LogReport] = {}

    @classmethod
    def from_eventlog(
        cls, log: EventLog, name: str = "", meta: Mapping[str, Any] | None = None
    ) -> Run:
        """Wrap an engine's :class:`~mailsim.eventlog.EventLog`."""
        return cls(log.to_frame(), name=name, meta=meta)

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, events={len(self)}, t_end={self.t_end:g})"

    def __len__(self) -> int:
        return len(self.model.events)

    @property
    def events(self) -> pd.DataFrame:
        """The event log: schema columns, string columns categorical, rows in time order."""
        return self.model.events.copy(deep=False)

    @property
    def t_end(self) -> float:
        """Time of the last event (s)."""
        return self.model.t_end

    @property
    def nodes(self) -> list[str]:
        """The MTA nodes of the run (nodes where messages had sessions or queue files), sorted."""
        codes = np.unique(self.model.visits.table["node"].to_numpy())
        return sorted(str(label) for label in self.model.log.labels["node"][codes])

    # -- files ---------------------------------------------------------------------------------

    def to_csv(self, path: str | Path) -> Path:
        """Write the log as CSV and name/meta to ``<path>.meta.json``; return the CSV path."""
        target = Path(path)
        self.model.events.to_csv(target, index=False)
        self._write_meta(target)
        return target

    @classmethod
    def read_csv(
        cls, path: str | Path, name: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> Run:
        """Read a log written by :meth:`to_csv` (empty fields stay ``""``, ids stay text)."""
        source = Path(path)
        frame = pd.read_csv(
            source,
            dtype={column: str for column in STRING_COLUMNS},
            keep_default_na=False,
        )
        return cls._with_meta(frame, source, name, meta)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the log as Parquet (needs pyarrow) and name/meta to ``<path>.meta.json``."""
        _require_pyarrow("to_parquet")
        target = Path(path)
        self.model.events.to_parquet(target, index=False)
        self._write_meta(target)
        return target

    @classmethod
    def read_parquet(
        cls, path: str | Path, name: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> Run:
        """Read a log written by :meth:`to_parquet` (needs pyarrow)."""
        _require_pyarrow("read_parquet")
        source = Path(path)
        return cls._with_meta(pd.read_parquet(source), source, name, meta)

    def to_postfix_log(
        self,
        path: str | Path,
        *,
        per_node: bool = False,
        start: datetime | str | None = None,
        hosts: Mapping[str, str] | None = None,
        timestamps: str = "syslog",
        nodes: Iterable[str] | None = None,
    ) -> list[Path]:
        """Write the run as the mail log Postfix 3.7 would have written; return the files.

        One file ``path`` with every MTA's lines in time order (gzip'd if it ends in ``.gz``),
        or with ``per_node`` one ``<node>.log`` per MTA in the directory ``path``. t = 0 is
        ``start`` (else ``meta["start"]``, else 2026-01-05 00:00 UTC); ``timestamps`` is
        ``"syslog"`` (``Jan  5 08:00:01``) or ``"iso"`` (RFC 3339 with microseconds); the host
        field is each node's first label unless ``hosts`` maps it. See
        :mod:`mailsim.postfixlog.export` for the lines.
        """
        from mailsim.analysis.logreport import run_start
        from mailsim.postfixlog.export import write_postfix_log

        if timestamps not in ("syslog", "iso"):
            raise ValueError(f"timestamps must be 'syslog' or 'iso', not {timestamps!r}")
        return write_postfix_log(
            self.model.events,
            path,
            per_node=per_node,
            start=run_start(self, start),
            hosts=hosts,
            timestamps="iso" if timestamps == "iso" else "syslog",
            nodes=nodes,
        )

    def _write_meta(self, target: Path) -> None:
        sidecar = target.with_name(target.name + _META_SUFFIX)
        sidecar.write_text(json.dumps({"name": self.name, "meta": self.meta}, default=str))

    @classmethod
    def _with_meta(
        cls,
        frame: pd.DataFrame,
        source: Path,
        name: str | None,
        meta: Mapping[str, Any] | None,
    ) -> Run:
        sidecar = source.with_name(source.name + _META_SUFFIX)
        stored: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        return cls(
            frame,
            name=stored.get("name", source.stem) if name is None else name,
            meta=stored.get("meta", {}) if meta is None else meta,
        )

    # -- tables --------------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key].copy(deep=False)

    def recipients(self) -> pd.DataFrame:
        """One row per (message, final recipient); see :func:`tables.recipients`."""
        return self._cached(("recipients",), lambda: tables.recipients(self.model))

    def messages(self) -> pd.DataFrame:
        """One row per message; see :func:`tables.messages`."""
        return self._cached(("messages",), lambda: tables.messages(self.model))

    def queue_depth(self, nodes: Iterable[str] | None = None) -> pd.DataFrame:
        """Queue depth step functions (t, node, queue, depth); see :func:`queue.queue_depth`."""
        chosen = None if nodes is None else tuple(nodes)
        return self._cached(("queue_depth", chosen), lambda: queues.queue_depth(self.model, chosen))

    def qshape(
        self,
        node: str,
        queues: Iterable[str] = DEFAULT_QUEUES,
        at: float | None = None,
        by: str = "recipient",
        buckets: int = 10,
        bucket_time: float = 5.0,
        linear: bool = False,
    ) -> pd.DataFrame:
        """Postfix qshape(1)'s domain x age table of ``node``'s ``queues`` (a name or several;
        incoming and active by default) at time ``at`` (end of log by default); ``by="sender"``
        is ``qshape -s``. See :mod:`mailsim.analysis.qshape`.
        """
        chosen = (queues,) if isinstance(queues, str) else tuple(queues)
        key = ("qshape", node, chosen, at, by, buckets, float(bucket_time), linear)
        return self._cached(
            key,
            lambda: qshape(self.model, node, chosen, at, by, buckets, bucket_time, linear),
        )

    def format_qshape(self, node: str, queues: Iterable[str] = DEFAULT_QUEUES, **kw: Any) -> str:
        """Return :meth:`qshape` printed as the qshape command prints it."""
        return format_qshape(self.qshape(node, queues, **kw))

    def time_average_depth(
        self, node: str, queue: str, t0: float = 0.0, t1: float | None = None
    ) -> float:
        """Time-average depth of one queue over [t0, t1] (Little's L for that queue)."""
        return queues.time_average_depth(self.model, node, queue, t0, t1)

    def in_system(self, node: str, t0: float = 0.0, t1: float | None = None) -> float:
        """Time-average number of messages present at ``node``; see :func:`queue.in_system`."""
        return queues.in_system(self.model, node, t0, t1)

    def sojourns(self, node: str) -> pd.DataFrame:
        """Arrival and departure of every visit to ``node``; see :func:`queue.sojourns`."""
        return self._cached(("sojourns", node), lambda: queues.sojourns(self.model, node))

    def throughput(self, interval: float = 60.0, event: str = "delivered") -> pd.DataFrame:
        """Count ``event`` per interval per node, plus ``total``; see :func:`tables.throughput`."""
        key = ("throughput", float(interval), event)
        return self._cached(key, lambda: tables.throughput(self.model, interval, event))

    def stage_waits(self, node: str, daemon: str = "smtpd") -> pd.DataFrame:
        """Wait and service of each smtpd session at ``node``; see :func:`tables.stage_waits`."""
        key = ("stage_waits", node, daemon)
        return self._cached(key, lambda: tables.stage_waits(self.model, node, daemon))

    def summary(self) -> pd.DataFrame:
        """Tidy (scope, metric, value) summary; see :func:`tables.summary`."""
        return self._cached(("summary",), lambda: tables.summary(self.model, self.recipients()))

    def pflogsumm(
        self, nodes: Iterable[str] | None = None, start: datetime | str | None = None
    ) -> LogReport:
        """The pflogsumm-style report of the run's mail log (of MTA ``nodes`` only, if given):
        Grand Totals with pflogsumm's definitions, per-hour and per-domain traffic, reasons,
        latency percentiles, the delays=a/b/c/d split and qshape; see
        :mod:`mailsim.analysis.logreport`. ``.to_text()`` prints it as pflogsumm does."""
        from mailsim.analysis.logreport import summarise

        key = (None if nodes is None else tuple(sorted(set(nodes))), start)
        if key not in self._reports:
            self._reports[key] = summarise(self, key[0], start)
        return self._reports[key]

    def latency_table(self) -> pd.DataFrame:
        """Latency count/mean/percentiles/max per (node, status) of finished recipients."""
        return self._cached(("latency",), lambda: tables.latency_table(self.recipients()))

    def delivery_graph(self, aggregate_mailboxes: bool = True) -> nx.DiGraph:
        """The delivery-path graph; see :func:`mailsim.analysis.paths.delivery_graph`."""
        from mailsim.analysis.paths import delivery_graph

        return delivery_graph(self, aggregate_mailboxes=aggregate_mailboxes)


def _require_pyarrow(method: str) -> None:
    """Fail early, and say what to do, when Parquet support is missing."""
    if importlib.util.find_spec("pyarrow") is None:
        raise ModuleNotFoundError(
            f"Run.{method} needs pyarrow, which is not installed; use to_csv/read_csv instead"
        )
