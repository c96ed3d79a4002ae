"""postsuper(1) and postqueue(1) on the simulated queue: hold, release, requeue, flush.

* ``hold`` (``postsuper -h``): move a message from incoming, active or deferred to the *hold*
  queue, logged ``placed on hold``. Nothing is delivered from hold, and held mail does not expire
  (it may once released). A message in the active queue finishes the deliveries already handed
  out, then goes to hold instead of the deferred queue (Postfix renames the file under qmgr's
  feet; qmgr's later move fails and the file stays in hold).
* ``release`` (``postsuper -H``): move a held message to the deferred queue with its time stamp
  unchanged, logged ``released from hold``; the next deferred scan takes it once that time has
  come (a message held before it was ever deferred is due at once).
* ``requeue`` (``postsuper -r``): the message goes through pickup and cleanup again, becoming a
  new queue file with a new queue id and a fresh queue lifetime (postsuper(1): the cure for mail
  held for a good part of maximal_queue_lifetime); logged ``requeued`` on the old queue id, whose
  file is gone (the new file's ``queued`` event, with the same message id, follows). Only the
  recipients not yet done are copied. An active message is requeued when
  its current deliveries end.
* ``flush`` (``postqueue -f``): revive every dead destination, then scan the deferred queue
  ignoring time stamps (qmgr QMGR_REQ_FLUSH_DEAD and QMGR_SCAN_ALL).

The events use daemon ``postsuper`` and event names ``hold``, ``released``, ``requeued``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from mailsim.sim.records import QueueFile

if TYPE_CHECKING:
    from mailsim.policy.retry import RetryPolicy
    from mailsim.sim.destination import DestinationQueue, Transport
    from mailsim.sim.mta import MTANode

__all__ = ["QueueOperations"]


class QueueOperations:
    """The administrative operations of :class:`~mailsim.sim.qmgr.PostfixQueueManager`."""

    node: MTANode
    env: simpy.Environment
    retry: RetryPolicy
    incoming: deque[QueueFile]
    active: dict[int, QueueFile]
    deferred: list[tuple[int, int, QueueFile]]
    scanned: deque[QueueFile]
    held: dict[int, QueueFile]
    transports: dict[str, Transport]
    _held_active: set[int]
    _requeue_active: set[int]
    _pump: Callable[[], None]
    _arm_scan: Callable[[], None]
    _forget: Callable[[QueueFile], None]
    _unthrottled: Callable[[Transport, DestinationQueue, str], None]

    def hold(self, queue_id: int) -> bool:
        """``postsuper -h``: return whether a message with ``queue_id`` was put on hold."""
        if queue_id in self.active:
            if queue_id in self._held_active:
                return False
            self._held_active.add(queue_id)
            self._log(self.active[queue_id], "hold", "placed on hold")
            return True
        found = self._take_waiting(queue_id)
        if found is None:
            return False
        self.held[queue_id] = found
        self._log(found, "hold", "placed on hold")
        return True

    def release(self, queue_id: int) -> bool:
        """``postsuper -H``: return whether a held message with ``queue_id`` was released."""
        if queue_id in self._held_active:
            self._held_active.discard(queue_id)
            self._log(self.active[queue_id], "released", "released from hold")
            return True
        found = self.held.pop(queue_id, None)
        if found is None:
            return False
        self._log(found, "released", "released from hold")
        heapq.heappush(self.deferred, (int(found.next_retry), queue_id, found))
        self._arm_scan()
        return True

    def requeue(self, queue_id: int) -> bool:
        """``postsuper -r``: return whether the message with ``queue_id`` was requeued."""
        if queue_id in self.active:
            self._requeue_active.add(queue_id)
            self._held_active.discard(queue_id)
            return True
        found = self.held.pop(queue_id, None) or self._take_waiting(queue_id)
        if found is None:
            return False
        self._requeue_now(found)
        return True

    def flush(self) -> None:
        """``postqueue -f``: revive dead destinations and deliver all deferred mail now."""
        for transport in self.transports.values():
            for queue in list(transport.queues.values()):
                if queue.window == 0:
                    queue.unthrottle()
                    self._unthrottled(transport, queue, "flush")
                    if queue.idle:
                        transport.discard(queue)
        deferred = sorted(self.deferred)
        self.deferred.clear()
        self.scanned.extend(entry[2] for entry in deferred)
        self._pump()

    # -- helpers -------------------------------------------------------------------------------
    def _after_postsuper(self, qf: QueueFile) -> None:
        """Settle an active message that postsuper moved: to hold, or requeued."""
        qid = qf.qid
        if qid in self._requeue_active:
            self._requeue_active.discard(qid)
            self._requeue_now(qf)
        else:
            self._held_active.discard(qid)
            self.held[qid] = qf

    def _take_waiting(self, queue_id: int) -> QueueFile | None:
        """Remove and return a message waiting in incoming or deferred (or None)."""
        for waiting in (self.incoming, self.scanned):
            for qf in waiting:
                if qf.qid == queue_id:
                    waiting.remove(qf)
                    return qf
        for index, entry in enumerate(self.deferred):
            if entry[1] == queue_id:
                self.deferred[index] = self.deferred[-1]
                self.deferred.pop()
                heapq.heapify(self.deferred)
                return entry[2]
        return None

    def _requeue_now(self, qf: QueueFile) -> None:
        node = self.node
        copy = QueueFile(
            qf.msg, 0, qf.sender, qf.size, list(qf.recipients), self.env.now, headers=qf.headers
        )
        if qf.orig_to:
            copy.orig_to = dict(qf.orig_to)
        self._log(qf, "requeued", "requeued")
        self._forget(qf)
        node.inject(copy)

    def _log(self, qf: QueueFile, event: str, detail: str) -> None:
        self.node.emit("postsuper", event, qf.msg, qf.qid, qf.sender, size=qf.size, detail=detail)
