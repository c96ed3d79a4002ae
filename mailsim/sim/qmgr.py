"""A simple queue manager: incoming -> active -> delivery agents, or deferred and retried.

This is the replaceable part of the simulated MTA (issue 3 brings Postfix's exact qmgr(8):
incoming/deferred alternation, concurrency windows, dead destinations, hold queue). What it
already does as Postfix does:

* the active queue holds at most ``qmgr_message_active_limit`` messages; the rest wait in
  incoming, first in first out;
* each import into the active queue costs qmgr's service time plus one trivial-rewrite(8) lookup
  per recipient (qmgr asks trivial-rewrite while it reads the queue file);
* recipients are grouped per (transport, nexthop) into delivery jobs of at most
  ``*_destination_recipient_limit`` recipients (local: one; the local destination is the
  recipient), and at most ``*_destination_concurrency_limit`` jobs per destination run at once;
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

from mailsim.policy import Resolution, SMTPReply
from mailsim.sim.records import DeliveryJob, QueueFile
from mailsim.sim.stage import Gate, TimedStage

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["QueueManager", "SimpleQueueManager"]


class QueueManager(Protocol):
    """What an MTA node and its delivery agents need of the queue manager."""

    def enqueue(self, queue_file: QueueFile) -> None:
        """Accept a queue file that cleanup just wrote to the incoming queue."""

    def delivered(self, job: DeliveryJob, site_failure: str = "") -> None:
        """Take back a finished delivery job. ``site_failure`` is non-empty (the reason) when
        the destination itself failed (no connection or handshake): negative feedback for its
        concurrency window; empty means the destination answered (positive feedback)."""


class SimpleQueueManager:
    """See the module docstring."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self.env = node.env
        settings = node.host.postfix
        self.active_limit = settings.integer("qmgr_message_active_limit")
        self.queue_run_delay = node.policy.queue_run_delay
        self.incoming: deque[QueueFile] = deque()
        self.deferred: list[tuple[float, int, QueueFile]] = []
        self.active = 0
        self._scanner: simpy.Process | None = None
        self._resolved: dict[str, Resolution] = {}
        self._recipient_limit = {
            "smtp": settings.integer("smtp_destination_recipient_limit"),
            "local": settings.integer("local_destination_recipient_limit"),
        }
        self._agents = {"local": node.local.deliver, "smtp": node.smtp.deliver}
        self._gates: dict[tuple[str, str], Gate[DeliveryJob]] = {}
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

    # -- incoming -> active -----------------------------------------------------------------
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
        queue_file.active_at = self.env._now
        self.node.emit_message(
            queue_file, "qmgr", "active", detail=f"nrcpt={len(queue_file.recipients)}"
        )
        self.dispatch(queue_file)

    # -- active -> delivery agents ----------------------------------------------------------
    def resolve(self, recipient: str) -> Resolution:
        """trivial-rewrite(8)'s answer for ``recipient`` (cached: the tables are static)."""
        found = self._resolved.get(recipient)
        if found is None:
            found = self._resolved[recipient] = self.node.policy.resolve(recipient)
        return found

    def dispatch(self, qf: QueueFile) -> None:
        """Split the active message into delivery jobs per (transport, nexthop)."""
        if len(qf.recipients) == 1:
            rcpt = qf.recipients[0]
            resolution = self.resolve(rcpt)
            transport = resolution.transport
            nexthop = rcpt if transport == "local" else resolution.nexthop
            qf.outstanding = 1
            self._assign(DeliveryJob(qf, transport, nexthop, [rcpt]))
            return
        groups: dict[tuple[str, str], list[str]] = {}
        for rcpt in qf.recipients:
            resolution = self.resolve(rcpt)
            groups.setdefault((resolution.transport, resolution.nexthop), []).append(rcpt)
        jobs: list[DeliveryJob] = []
        for (transport, nexthop), rcpts in groups.items():
            if transport == "local":
                jobs.extend(DeliveryJob(qf, "local", rcpt, [rcpt]) for rcpt in rcpts)
                continue
            limit = self._recipient_limit.get(transport, 50) or len(rcpts)
            jobs.extend(
                DeliveryJob(qf, transport, nexthop, rcpts[i : i + limit])
                for i in range(0, len(rcpts), limit)
            )
        qf.outstanding = len(jobs)
        for job in jobs:
            self._assign(job)

    def _assign(self, job: DeliveryJob) -> None:
        """Queue the job at its destination; it goes to the agent when the destination's
        concurrency limit allows (the error transport bounces it at once)."""
        agent = self._agents.get(job.transport)
        if agent is None:
            job.started_at = job.connected_at = self.env._now
            reply = SMTPReply(550, "5.1.2", f"unknown transport {job.transport}: {job.nexthop}")
            for rcpt in job.recipients:
                self.node.emit_outcome(job, "error", "bounced", rcpt, reply, "none")
            self.delivered(job)
            return
        key = (job.transport, job.nexthop)
        gate = self._gates.get(key)
        if gate is None:
            limit = self.node.policy.destination_concurrency_limit(job.transport)
            gate = self._gates[key] = Gate(f"{self.node.name}/{key}", limit, agent)
        gate.arrive(job)

    def delivered(self, job: DeliveryJob, site_failure: str = "") -> None:
        gate = self._gates.get((job.transport, job.nexthop))
        if gate is not None:
            gate.release()
        qf = job.queue_file
        qf.outstanding -= 1
        if qf.outstanding == 0:
            self._finished(qf)

    # -- after the attempt --------------------------------------------------------------------
    def _finished(self, queue_file: QueueFile) -> None:
        node = self.node
        now = self.env._now
        self.active -= 1
        if queue_file.deferred:
            age = now - queue_file.queued_at
            if node.policy.expired(age, queue_file.sender):
                self.expire(queue_file)
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

    def expire(self, qf: QueueFile) -> None:
        """Bounce the remaining recipients of a message past its queue lifetime."""
        reply = SMTPReply(550, "5.4.7", "message expired in queue")
        job = DeliveryJob(qf, "qmgr", "", list(qf.deferred or ()), self.env._now, self.env._now)
        for rcpt in job.recipients:
            self.node.emit_outcome(
                job, "qmgr", "bounced", rcpt, reply, "none", "status=expired, returned to sender"
            )
        self.node.emit_message(qf, "qmgr", "expired", detail="returned to sender")

    def _scan(self) -> Generator[simpy.Event, Any, None]:
        """Every queue_run_delay, move deferred messages that are due back to incoming."""
        while True:
            yield self.env.timeout(self.queue_run_delay)
            now = self.env._now
            while self.deferred and self.deferred[0][0] <= now:
                _, _, queue_file = heapq.heappop(self.deferred)
                self.incoming.append(queue_file)
            self._pump()
