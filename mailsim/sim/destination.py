"""qmgr(8)'s in-core transports and per-destination queues (qmgr_transport.c, qmgr_queue.c).

A :class:`Transport` (``smtp``, ``local``) has a delivery agent, a process limit
(``<transport>_process_limit``, master.cf maxproc) and one :class:`DestinationQueue` per
destination: the nexthop, or the recipient itself when ``<transport>_destination_recipient_limit``
is 1 (postconf(5): the per-destination concurrency limit then applies per recipient, as
local_destination_concurrency_limit does). A queue holds the delivery jobs waiting for it (the
*todo* list) and the concurrency window of :mod:`mailsim.policy.scheduler`.

Selection: whenever an agent process is free, the transport hands the first job of the next
destination whose window has room; destinations with room take turns (round robin, as
qmgr_queue_select() does: the destination just served goes to the back, a new one to the
front, as qmgr_queue_create() prepends it). Postfix's nqmgr additionally orders work by
message and lets small messages preempt big ones (SCHEDULER_README "Preemptive scheduling");
that is not modelled.
Within one destination jobs leave first in, first out.

A queue that becomes empty (nothing waiting, nothing busy) is discarded, forgetting its window,
unless it is dead (qmgr_queue_done() runs only for a "ready" queue); the next job for that
destination starts again at the initial concurrency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from mailsim.policy.scheduler import ConcurrencyWindow, TransportScheduling
from mailsim.sim.records import DeliveryJob

__all__ = ["DestinationQueue", "Transport"]


class DestinationQueue(ConcurrencyWindow):
    """The jobs waiting for one (transport, destination) and its concurrency window."""

    __slots__ = ("dsn", "listed", "name", "reason", "served", "timer", "todo", "trace")

    def __init__(self, name: str, scheduling: TransportScheduling) -> None:
        # ConcurrencyWindow.__init__ inlined: a local recipient's queue lives for one delivery
        self.scheduling = scheduling
        self.busy = 0
        self.window = scheduling.initial_concurrency
        self.success = self.failure = self.fail_cohorts = 0.0
        self.name = name
        self.todo: deque[DeliveryJob] = deque()
        #: whether the queue is in its transport's round-robin list, and was ever served
        self.listed = False
        self.served = False
        #: while dead: why (the failure that killed it) and its enhanced status code
        self.reason = ""
        self.dsn = ""
        #: generation of the unthrottle timer (a timer whose generation is stale does nothing)
        self.timer = 0
        #: when a test or notebook sets a list here: (time, window) after every feedback
        self.trace: list[tuple[float, int]] | None = None

    @property
    def idle(self) -> bool:
        """Whether nothing waits and nothing is being delivered."""
        return not self.todo and self.busy == 0


class Transport:
    """A delivery transport with its agent, process limit and destination queues."""

    __slots__ = (
        "agent",
        "busy",
        "draining",
        "limit",
        "name",
        "per_recipient",
        "queues",
        "ready",
        "scheduling",
        "spare",
        "traced",
    )

    def __init__(
        self,
        name: str,
        agent: Callable[[DeliveryJob], None],
        process_limit: int,
        scheduling: TransportScheduling,
    ) -> None:
        if process_limit < 1:
            raise ValueError(f"{name}_process_limit must be >= 1, got {process_limit}")
        self.name = name
        self.agent = agent
        self.limit = process_limit
        self.scheduling = scheduling
        #: the destination is the recipient (recipient limit 1), not the nexthop
        self.per_recipient = scheduling.recipient_limit == 1
        self.busy = 0
        self.draining = False
        self.queues: dict[str, DestinationQueue] = {}
        self.ready: deque[DestinationQueue] = deque()
        self.spare: DestinationQueue | None = None
        #: destinations whose window a caller wants traced (see DestinationQueue.trace)
        self.traced: dict[str, list[tuple[float, int]]] = {}

    def queue_name(self, job: DeliveryJob) -> str:
        """Return the name of the destination queue ``job`` belongs to."""
        return job.recipients[0] if self.per_recipient else job.nexthop

    def queue(self, name: str) -> DestinationQueue:
        """Return the queue for destination ``name``, creating it at the initial window."""
        found = self.queues.get(name)
        if found is None:
            found = self.spare
            if found is None:
                found = DestinationQueue(name, self.scheduling)
            else:  # a discarded queue, as new (a local recipient's lives for one delivery)
                self.spare = None
                found.name = name
                found.window = self.scheduling.initial_concurrency
                found.success = found.failure = found.fail_cohorts = 0.0
                found.served = False
            self.queues[name] = found
            found.trace = self.traced.get(name) if self.traced else None
        return found

    def submit(self, queue: DestinationQueue, job: DeliveryJob) -> None:
        """Start ``job`` now if nothing waits before it and there is room, else queue it."""
        if queue.todo or queue.window <= queue.busy or self.busy >= self.limit or self.ready:
            queue.todo.append(job)
            self.offer(queue)
            self.drain()
            return
        queue.served = True
        queue.busy += 1
        self.busy += 1
        self.agent(job)

    def offer(self, queue: DestinationQueue) -> None:
        """Put ``queue`` in the round robin if it has work and room and is not there yet."""
        if not queue.listed and queue.todo and queue.window > queue.busy:
            queue.listed = True
            if queue.served:
                self.ready.append(queue)
            else:
                self.ready.appendleft(queue)

    def discard(self, queue: DestinationQueue) -> None:
        """Forget an idle, live queue (qmgr_queue_done()); keep the object for the next one."""
        if self.queues.get(queue.name) is queue:
            del self.queues[queue.name]
            queue.reason = queue.dsn = ""
            self.spare = queue

    def drain(self) -> None:
        """Hand jobs to free agent processes, destinations taking turns.

        Re-entrant calls (an agent that finishes at once reports back from inside the loop)
        return at once; the running loop sees their effects.
        """
        if self.draining:
            return
        self.draining = True
        try:
            ready = self.ready
            while self.busy < self.limit and ready:
                queue = ready.popleft()
                todo = queue.todo
                if not todo or queue.window <= queue.busy:
                    queue.listed = False
                    continue
                job = todo.popleft()
                queue.served = True
                queue.busy += 1
                self.busy += 1
                if todo and queue.window > queue.busy:
                    ready.append(queue)
                else:
                    queue.listed = False
                self.agent(job)
        finally:
            self.draining = False
