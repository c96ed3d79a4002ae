"""A simple queue manager: incoming -> active -> delivered, or deferred and retried.

This is the replaceable part of the simulated MTA (issue 3 brings Postfix's exact qmgr(8):
incoming/deferred alternation, concurrency windows, dead destinations, hold queue). What it already
does as Postfix does:

* the active queue holds at most ``qmgr_message_active_limit`` messages; the rest wait in
  incoming, first in first out;
* each import into the active queue costs qmgr's service time plus one trivial-rewrite(8) lookup
  per recipient (qmgr asks trivial-rewrite while it reads the queue file);
* a message with temporarily failed recipients goes to the deferred queue and becomes eligible
  again after ``backoff(age)`` (its age clamped to [minimal_backoff_time, maximal_backoff_time]);
  the deferred queue is scanned every ``queue_run_delay``;
* a message older than ``maximal_queue_lifetime`` (``bounce_queue_lifetime`` for the null
  sender) is not retried: its remaining recipients bounce and the message expires.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

import simpy

from mailsim.sim.records import QueueFile
from mailsim.sim.stage import TimedStage

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["QueueManager", "SimpleQueueManager"]


class QueueManager(Protocol):
    """What an MTA node needs of its queue manager (issue 3 plugs in Postfix's exact one)."""

    def enqueue(self, queue_file: QueueFile) -> None:
        """Accept a queue file that cleanup just wrote to the incoming queue."""

    def finished(self, queue_file: QueueFile) -> None:
        """Take back a queue file whose delivery attempt (every job) is over."""


class SimpleQueueManager:
    """See the module docstring."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self.env = node.env
        policy = node.policy
        self.active_limit = node.host.postfix.integer("qmgr_message_active_limit")
        self.queue_run_delay = policy.queue_run_delay
        self.incoming: deque[QueueFile] = deque()
        self.deferred: list[tuple[float, int, QueueFile]] = []
        self.active = 0
        self._scanner: simpy.Process | None = None
        rewrite = node.sampler("trivial_rewrite")
        self._rewrite_time = rewrite.constant
        self._rewrite_sampler = rewrite
        self.stage: TimedStage[QueueFile] = TimedStage(
            self.env,
            f"{node.name}/qmgr",
            1,
            node.sampler("qmgr"),
            done=self._activated,
            started=None if self._rewrite_time == 0.0 else self._rewrite_cost,
        )

    def enqueue(self, queue_file: QueueFile) -> None:
        self.incoming.append(queue_file)
        self._pump()

    def _pump(self) -> None:
        while self.incoming and self.active < self.active_limit:
            self.active += 1
            self.stage.arrive(self.incoming.popleft())

    def _rewrite_cost(self, queue_file: QueueFile) -> float:
        count = len(queue_file.recipients)
        if self._rewrite_time is not None:
            return self._rewrite_time * count
        return sum(next(self._rewrite_sampler) for _ in range(count))

    def _activated(self, queue_file: QueueFile) -> None:
        node = self.node
        node.emit_message(
            queue_file, "qmgr", "active", detail=f"nrcpt={len(queue_file.recipients)}"
        )
        node.dispatch(queue_file)

    def finished(self, queue_file: QueueFile) -> None:
        node = self.node
        now = self.env._now
        self.active -= 1
        if queue_file.deferred:
            age = now - queue_file.queued_at
            if node.policy.expired(age, queue_file.sender):
                node.expire(queue_file)
            else:
                queue_file.recipients = queue_file.deferred
                queue_file.deferred = None
                queue_file.next_retry = now + node.policy.backoff(age)
                heapq.heappush(self.deferred, (queue_file.next_retry, queue_file.qid, queue_file))
                node.emit_message(queue_file, "qmgr", "deferred", detail="queue deferred")
                if self._scanner is None:
                    self._scanner = self.env.process(self._scan())
        else:
            node.emit_message(queue_file, "qmgr", "removed")
        self._pump()

    def _scan(self) -> Generator[simpy.Event, Any, None]:
        """Every queue_run_delay, move deferred messages that are due back to incoming."""
        while True:
            yield self.env.timeout(self.queue_run_delay)
            now = self.env._now
            while self.deferred and self.deferred[0][0] <= now:
                _, _, queue_file = heapq.heappop(self.deferred)
                self.incoming.append(queue_file)
            self._pump()
