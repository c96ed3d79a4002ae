"""A pool of identical server processes with one FIFO queue: a Postfix daemon under a process limit.

Postfix's master(8) runs at most ``*_process_limit`` processes of a service; further clients wait
in the listen queue (or, for qmgr-fed agents, in the queue manager) until one is free. ``Stage``
models exactly that: ``servers`` parallel processes, first come first served.

Why not ``simpy.Resource``: a Resource customer costs a Process, a Request and a Release event;
a stage visit here costs one Timeout and two function calls, which keeps a simulated message cheap
(bench/sim_speed.py measures it against a Resource-based M/M/c customer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import simpy
from simpy.events import Timeout

from mailsim.streams import BatchSampler

__all__ = ["Gate", "TimedStage"]

Job = TypeVar("Job")


class Gate(Generic[Job]):
    """``servers`` slots and a FIFO of waiting jobs; ``serve(job)`` runs when a slot is free.

    The served work calls :meth:`release` when it is done, which hands the slot to the next
    waiting job. ``busy`` and ``waiting`` are there for tests and gauges.
    """

    __slots__ = ("busy", "name", "queue", "serve", "servers")

    def __init__(self, name: str, servers: int, serve: Callable[[Job], None]) -> None:
        if servers < 1:
            raise ValueError(f"{name}: process limit must be >= 1, got {servers}")
        self.name = name
        self.servers = servers
        self.serve = serve
        self.busy = 0
        self.queue: deque[Job] = deque()

    def arrive(self, job: Job) -> None:
        """Start ``job`` now if a slot is free, otherwise queue it."""
        if self.busy < self.servers:
            self.busy += 1
            self.serve(job)
        else:
            self.queue.append(job)

    def release(self) -> None:
        """Free one slot: the longest-waiting job, if any, takes it at once."""
        if self.queue:
            self.serve(self.queue.popleft())
        else:
            self.busy -= 1

    @property
    def waiting(self) -> int:
        return len(self.queue)


class TimedStage(Gate[Job]):
    """A Gate whose work is a service time drawn per job, then ``done(job)``.

    ``started(job)`` (optional) runs when a process takes the job, before the service time; it may
    return extra seconds of service (e.g. transfer time that depends on the job).
    """

    __slots__ = ("_done_callback", "env", "sampler", "started")

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        servers: int,
        sampler: BatchSampler,
        done: Callable[[Job], None],
        started: Callable[[Job], float] | None = None,
    ) -> None:
        super().__init__(name, servers, self._serve)
        self.env = env
        self.sampler = sampler
        self.started = started
        self._done_callback = done

    def _serve(self, job: Job) -> None:
        delay = next(self.sampler)
        if self.started is not None:
            delay += self.started(job)
        if delay > 0.0:
            Timeout(self.env, delay, job).callbacks.append(self._finish)
        else:
            # Zero service time: finish in this very step instead of a scheduler round trip.
            # Simultaneous events keep a fixed (deterministic) order either way.
            self.release()
            self._done_callback(job)

    def _finish(self, event: Any) -> None:
        self.release()
        self._done_callback(event._value)
