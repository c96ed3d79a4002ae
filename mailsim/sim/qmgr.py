"""qmgr(8): the incoming, active, deferred and hold queues and the delivery scheduler.

What :class:`PostfixQueueManager` does, as Postfix 3.x's queue manager does it:

* **incoming -> active**: cleanup drops a new queue file into *incoming*; qmgr moves files into
  the *active* queue while it holds fewer than ``qmgr_message_active_limit`` messages, one at a
  time (qmgr's service time plus one trivial-rewrite(8) lookup per recipient), alternating between
  incoming and the files the last *deferred* scan found due, and preferring incoming when the
  active queue was full (qmgr.c qmgr_loop()).
* **delivery**: recipients are grouped per (transport, nexthop) into jobs of at most
  ``<transport>_destination_recipient_limit`` recipients and scheduled through per-destination
  concurrency windows with positive and negative feedback, dead-destination detection and
  revival, and per-transport process limits (:mod:`mailsim.sim.destination`,
  :mod:`mailsim.policy.scheduler`). Mail for a dead destination is deferred at once by the
  ``retry`` service (logged by ``error``: ``delivery temporarily suspended: <reason>``).
* **after the round** (qmgr_active_done()): bounced recipients are returned to the sender in a
  non-delivery notification; with recipients deferred, a message at its queue lifetime expires
  (``status=expired, returned to sender``, another notification), else it may send the one delay
  warning and goes to the *deferred* queue stamped with its backoff, in whole seconds
  (:mod:`mailsim.policy.retry`). Otherwise the queue file is removed.
* **deferred scans** run every ``queue_run_delay`` from time 0 and take the files due within the
  next second. The timer only runs while the deferred queue holds something; the scan times are
  those of a timer that always runs.
* **hold**, **release**, **requeue** and **flush** (postsuper -h/-H/-r, postqueue -f):
  :class:`~mailsim.sim.postsuper.QueueOperations`.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import simpy

from mailsim.policy import Resolution, SMTPReply
from mailsim.sim.bounce import Notifier
from mailsim.sim.destination import DestinationQueue, Transport
from mailsim.sim.postsuper import QueueOperations
from mailsim.sim.records import DeliveryJob, QueueFile
from mailsim.sim.stage import TimedStage

if TYPE_CHECKING:
    from mailsim.sim.mta import MTANode

__all__ = ["PostfixQueueManager", "QueueManager"]

R550_EXPIRED = SMTPReply(550, "5.4.7", "message expired in queue")


class QueueManager(Protocol):
    """What an MTA node and its delivery agents need of the queue manager."""

    def enqueue(self, queue_file: QueueFile) -> None:
        """Accept a queue file that cleanup just wrote to the incoming queue."""

    def delivered(self, job: DeliveryJob, site_failure: str = "", site_dsn: str = "") -> None:
        """Take back a finished delivery job. ``site_failure`` is non-empty (the reason) when
        the destination itself failed (no connection or handshake): negative feedback for its
        concurrency window; empty means the destination answered (positive feedback).
        ``site_dsn`` is that failure's enhanced status (4.4.1 no answer, 4.4.2 lost
        connection, 4.4.3 DNS), used when the destination is declared dead."""


class PostfixQueueManager(QueueOperations):
    """See the module docstring."""

    def __init__(self, node: MTANode) -> None:
        self.node = node
        self.env = node.env
        policy = node.policy
        self.retry = policy.retry
        self.active_limit = policy.settings.integer("qmgr_message_active_limit")
        self.incoming: deque[QueueFile] = deque()
        #: the active queue, by queue id
        self.active: dict[int, QueueFile] = {}
        #: the deferred queue: (wake-up time stamp, queue id, file), a heap
        self.deferred: list[tuple[int, int, QueueFile]] = []
        #: deferred files the last scan found due, waiting for their turn to be imported
        self.scanned: deque[QueueFile] = deque()
        #: the hold queue, by queue id
        self.held: dict[int, QueueFile] = {}
        self._prefer_incoming = True
        self._pumping = False
        self._scan_at = -1  # the scan the timer is set for (-1: none)
        #: queue ids of active messages that postsuper moved (on hold; to be requeued)
        self._held_active: set[int] = set()
        self._requeue_active: set[int] = set()
        self._warned: set[int] = set()
        self._resolved: dict[str, Resolution] = {}
        self.notifier = Notifier(node)
        self.transports: dict[str, Transport] = {}
        for name, agent in (("local", node.local.deliver), ("smtp", node.smtp.deliver)):
            self.transports[name] = Transport(
                name, agent, policy.process_limit(name), policy.scheduling(name)
            )
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

    # -- incoming and deferred -> active ---------------------------------------------------------
    def enqueue(self, queue_file: QueueFile) -> None:
        self.incoming.append(queue_file)
        self._pump()

    def _pump(self) -> None:
        """Import files one at a time while the active queue has room (qmgr_loop())."""
        if self._pumping or self.stage.busy or not (self.incoming or self.scanned):
            return
        self._pumping = True
        try:
            stage, active, incoming, scanned = self.stage, self.active, self.incoming, self.scanned
            while stage.busy == 0 and (incoming or scanned):
                if len(active) >= self.active_limit:
                    self._prefer_incoming = True  # a full active queue prefers new mail
                    break
                if incoming and (self._prefer_incoming or not scanned):
                    queue_file = incoming.popleft()
                    self._prefer_incoming = False
                else:
                    queue_file = scanned.popleft()
                    self._prefer_incoming = True
                active[queue_file.qid] = queue_file
                stage.arrive(queue_file)
        finally:
            self._pumping = False

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
        self._pump()

    # -- active -> delivery agents -----------------------------------------------------------
    def resolve(self, recipient: str) -> Resolution:
        """trivial-rewrite(8)'s answer for ``recipient`` (cached: the tables are static)."""
        found = self._resolved.get(recipient)
        if found is None:
            found = self._resolved[recipient] = self.node.policy.resolve(recipient)
        return found

    def dispatch(self, qf: QueueFile) -> None:
        """Split the active message into delivery jobs per (transport, nexthop)."""
        recipients = qf.recipients
        if len(recipients) == 1:
            resolution = self.resolve(recipients[0])
            qf.outstanding = 1
            self._assign(DeliveryJob(qf, resolution.transport, resolution.nexthop, recipients[:]))
            return
        groups: dict[tuple[str, str], list[str]] = {}
        for rcpt in recipients:
            resolution = self.resolve(rcpt)
            groups.setdefault((resolution.transport, resolution.nexthop), []).append(rcpt)
        jobs: list[DeliveryJob] = []
        for (name, nexthop), rcpts in groups.items():
            transport = self.transports.get(name)
            limit = transport.scheduling.recipient_limit if transport else 0
            limit = limit or len(rcpts)
            jobs.extend(
                DeliveryJob(qf, name, nexthop, rcpts[i : i + limit])
                for i in range(0, len(rcpts), limit)
            )
        qf.outstanding = len(jobs)
        for job in jobs:
            self._assign(job)

    def _assign(self, job: DeliveryJob) -> None:
        """Queue the job at its destination (the error transport bounces it at once; a dead
        destination's retry service defers it at once)."""
        transport = self.transports.get(job.transport)
        if transport is None:
            job.started_at = job.connected_at = self.env._now
            reply = SMTPReply(550, "5.1.2", f"unknown transport {job.transport}: {job.nexthop}")
            for rcpt in job.recipients:
                self.node.emit_outcome(job, "error", "bounced", rcpt, reply, "none")
            self._job_done(job.queue_file)
            return
        queue = transport.queue(job.recipients[0] if transport.per_recipient else job.nexthop)
        if queue.window == 0:
            self._suspend(job, queue)
            return
        transport.submit(queue, job)

    def delivered(self, job: DeliveryJob, site_failure: str = "", site_dsn: str = "") -> None:
        transport = self.transports[job.transport]
        queue = transport.queues[job.recipients[0] if transport.per_recipient else job.nexthop]
        transport.busy -= 1
        if site_failure:
            if queue.failed():
                self._throttle(transport, queue, site_failure, site_dsn)
        elif queue.succeeded():
            self._unthrottled(transport, queue, "delivery succeeded")
        if queue.trace is not None:
            queue.trace.append((self.env._now, queue.window))
        qf = job.queue_file
        qf.outstanding -= 1
        if qf.outstanding == 0:
            self._finished(qf)
        if queue.window and not queue.todo and not queue.busy:
            transport.discard(queue)  # an idle live queue is forgotten
        else:
            transport.offer(queue)
        if transport.ready:
            transport.drain()

    def _job_done(self, qf: QueueFile) -> None:
        qf.outstanding -= 1
        if qf.outstanding == 0:
            self._finished(qf)

    # -- dead destinations (qmgr_queue_throttle(), qmgr_queue_unthrottle()) -------------------
    def _throttle(
        self, transport: Transport, queue: DestinationQueue, reason: str, dsn: str = ""
    ) -> None:
        """Declare ``queue`` dead: defer what waits for it, and revive it after
        minimal_backoff_time."""
        queue.reason = reason
        queue.dsn = dsn or _site_dsn(reason)
        self.node.emit(
            "qmgr", "throttled", 0, relay=f"{transport.name}:{queue.name}", detail=reason
        )
        queue.timer += 1
        generation = queue.timer

        def wake(_event: Any) -> None:
            if queue.timer == generation and queue.window == 0:
                queue.unthrottle()
                self._unthrottled(transport, queue, "minimal_backoff_time passed")
                if queue.idle:
                    transport.discard(queue)

        simpy.events.Timeout(self.env, self.retry.minimal_backoff_time).callbacks.append(wake)
        waiting, queue.todo = queue.todo, deque()
        for job in waiting:
            self._suspend(job, queue)

    def _unthrottled(self, transport: Transport, queue: DestinationQueue, why: str) -> None:
        queue.timer += 1  # a pending timer is now stale
        queue.reason = queue.dsn = ""
        self.node.emit(
            "qmgr",
            "unthrottled",
            0,
            relay=f"{transport.name}:{queue.name}",
            detail=f"{why}; window {queue.window}",
        )

    def _suspend(self, job: DeliveryJob, queue: DestinationQueue) -> None:
        """Defer ``job`` through the retry service: its destination is dead."""
        job.started_at = job.connected_at = self.env._now
        text = f"delivery temporarily suspended: {queue.reason}"
        reply = SMTPReply(450, queue.dsn, text)
        qf = job.queue_file
        for rcpt in job.recipients:
            self.node.emit_outcome(job, "error", "deferred", rcpt, reply, "none", text)
            qf.defer(rcpt)
        self._job_done(qf)

    # -- after the round (qmgr_active_done()) -------------------------------------------------
    def _finished(self, qf: QueueFile) -> None:
        node = self.node
        now = self.env._now
        qid = qf.qid
        del self.active[qid]
        if self.notifier.bounces:
            self.notifier.bounced(qf)
        deferred = qf.deferred
        if deferred:
            qf.recipients = deferred
            qf.deferred = None
            if qid in self._held_active or qid in self._requeue_active:
                self._after_postsuper(qf)
            elif self.retry.is_expired(qf.queued_at, now, qf.sender):
                self._expire(qf)
            else:
                if qid not in self._warned and self.retry.warn_due(
                    self.retry.warn_time(qf.queued_at), now
                ):
                    self._warned.add(qid)
                    self.notifier.delayed(qf, deferred)
                self._defer(qf, self.retry.wakeup(qf.queued_at, now))
                node.emit_message(qf, "qmgr", "deferred", detail="queue deferred")
        else:
            node.emit_message(qf, "qmgr", "removed")
            if self._warned or self._held_active or self._requeue_active:
                self._forget(qf)
            elif self.notifier.remembers:
                self.notifier.forget(qf)
        self._pump()

    def _forget(self, qf: QueueFile) -> None:
        """Drop the bookkeeping of a message that left this queue."""
        self.notifier.forget(qf)
        self._warned.discard(qf.qid)
        self._held_active.discard(qf.qid)
        self._requeue_active.discard(qf.qid)

    def _expire(self, qf: QueueFile) -> None:
        """Return the deferred recipients of a message past its queue lifetime."""
        now = self.env._now
        job = DeliveryJob(qf, "qmgr", "", qf.recipients, now, now)
        for rcpt in qf.recipients:
            self.notifier.record_expiry(job, rcpt, R550_EXPIRED)
        self.node.emit_message(qf, "qmgr", "expired", detail="returned to sender")
        self.notifier.expired(qf, qf.recipients)
        self._forget(qf)

    def _defer(self, qf: QueueFile, wakeup: int) -> None:
        """Put ``qf`` in the deferred queue until ``wakeup`` and make sure a scan will come."""
        qf.next_retry = float(wakeup)
        heapq.heappush(self.deferred, (wakeup, qf.qid, qf))
        self._arm_scan()

    def _arm_scan(self) -> None:
        if self._scan_at >= 0 or not self.deferred:
            return
        self._scan_at = self.retry.next_scan(self.env._now)
        delay = max(self._scan_at - self.env._now, 0.0)
        simpy.events.Timeout(self.env, delay).callbacks.append(self._scan)

    def _scan(self, _event: Any) -> None:
        """A deferred-queue scan: take every file due within the next second."""
        scan_at = self._scan_at
        self._scan_at = -1
        deferred, due = self.deferred, self.retry.due
        while deferred and due(deferred[0][0], scan_at):
            self.scanned.append(heapq.heappop(deferred)[2])
        self._pump()
        self._arm_scan()


def _site_dsn(reason: str) -> str:
    """Return the enhanced status of a site failure: the reply's own (``421 4.7.0 ...``) made
    temporary, or 4.4.1 (no answer from host, RFC 3463) for a connection failure."""
    for word in reason.split():
        parts = word.split(".")
        if len(parts) == 3 and all(part.isdigit() for part in parts) and word[0] in "45":
            return "4" + word[1:]
    return "4.4.1"
