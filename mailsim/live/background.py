"""The live lab on its own thread, for notebooks and blocking clients.

A Jupyter kernel already runs an event loop, and the clients a student uses there (smtplib,
poplib, the helpers of :mod:`mailsim.live.clients`) block: run on the kernel's loop, the lab
would wait for a client that waits for the lab. :class:`BackgroundLab` gives the
:class:`~mailsim.live.lab.Lab` an event loop of its own in a daemon thread; its methods may be
called from any thread, and ``with BackgroundLab(...) as lab:`` starts it and, at the end,
stops every server (mail already accepted is on disk).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from mailsim.live.addressing import LabPlan, lab_plan
from mailsim.live.driver import DriveStats, drive
from mailsim.live.lab import Lab, ephemeral_ports
from mailsim.live.passdb import CLASSROOM, AuthSettings
from mailsim.scenario.model import Scenario
from mailsim.workload.records import Arrival

if TYPE_CHECKING:
    import ssl

    from mailsim.analysis import Run

__all__ = ["BackgroundLab"]

T = TypeVar("T")

#: How long starting or stopping may take before it counts as failed (seconds).
START_STOP_TIMEOUT_S = 60.0


class BackgroundLab:
    """A :class:`~mailsim.live.lab.Lab` served by a thread of its own.

    ``directory`` holds the mail stores, TLS files and ``events.csv`` (default: a new
    temporary directory, kept afterwards so the mailboxes can be looked at).
    ``ephemeral`` (the default) lets the system choose free ports, so several labs (or a
    lab and a test run) can share the machine; :attr:`ports` says where each service is.
    """

    def __init__(
        self,
        scenario: Scenario,
        directory: Path | str | None = None,
        *,
        plan: LabPlan | None = None,
        ephemeral: bool = True,
        auth: AuthSettings = CLASSROOM,
    ) -> None:
        chosen = plan if plan is not None else lab_plan(scenario)
        if directory is None:
            directory = tempfile.mkdtemp(prefix=f"mailsim-lab-{scenario.name}-")
        self.lab = Lab(
            scenario, directory, plan=ephemeral_ports(chosen) if ephemeral else chosen, auth=auth
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"mailsim-lab-{scenario.name}", daemon=True
        )

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"BackgroundLab({self.lab.scenario.name!r}, {state})"

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(START_STOP_TIMEOUT_S)

    def start(self) -> BackgroundLab:
        """Start the thread and every service; return when all listen."""
        self._thread.start()
        self._call(self.lab.start())
        return self

    def stop(self) -> None:
        """Stop every service and the thread (idempotent)."""
        if not self._thread.is_alive():
            if not self._loop.is_closed() and self._thread.ident is None:
                self._loop.close()  # never started
            return
        try:
            self._call(self.lab.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_STOP_TIMEOUT_S)
            self._loop.close()

    # -- what a notebook asks -------------------------------------------------------------------
    @property
    def ports(self) -> dict[str, dict[str, int]]:
        """host -> service -> port, as listening."""
        return self.lab.ports

    def address(self, host: str) -> str:
        """The loopback address of scenario host ``host``."""
        return self.lab.address(host)

    def table(self) -> str:
        """The table of addresses, ports and commands (what ``mailsim lab up`` prints)."""
        return self.lab.table()

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts the lab CA."""
        return self.lab.client_context()

    def drive(
        self, arrivals: Iterable[Arrival], *, time_scale: float = 1.0, concurrency: int = 20
    ) -> DriveStats:
        """Send workload arrivals to the lab as real SMTP clients (:func:`~mailsim.live.
        driver.drive`) and return what the clients saw, once all are done."""
        work = drive(self.lab, arrivals, time_scale=time_scale, concurrency=concurrency)
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def run(self, name: str = "") -> Run:
        """The event log so far, as a :class:`~mailsim.analysis.Run`."""
        return self._call(_now(lambda: self.lab.run(name)))

    def __enter__(self) -> BackgroundLab:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def _now(work: Callable[[], T]) -> T:
    """Run ``work()`` on the lab's loop (the log is appended to there)."""
    return work()
