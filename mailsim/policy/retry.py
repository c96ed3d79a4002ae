"""qmgr(8) retry timing: deferred-queue backoff and message expiry.

When a delivery attempt leaves recipients deferred, qmgr_active_done() moves the queue file
into the future by the message's age in the queue, clamped to [minimal_backoff_time,
maximal_backoff_time] (qmgr_active.c: "Since we look at actual time in queue, not time since
last delivery attempt, backoff times will be distributed"). A message is returned to its sender
(``status=expired, returned to sender``) once ``now >= arrival + lifetime``, where the lifetime
is maximal_queue_lifetime, or bounce_queue_lifetime for a bounce (null sender); qmgr silently
limits bounce_queue_lifetime to maximal_queue_lifetime (qmgr.c post-init sanity check). A
lifetime of 0 means one delivery attempt only.

The deferred queue is scanned every queue_run_delay; a message whose backoff is over waits for
the next scan. This module is the one home of that arithmetic.
"""

from __future__ import annotations

from mailsim.policy.address import is_null_sender
from mailsim.scenario.postfix import PostfixSettings

__all__ = ["RetryPolicy"]


class RetryPolicy:
    """The retry parameters of one host, in seconds."""

    def __init__(self, settings: PostfixSettings) -> None:
        self.queue_run_delay = settings.seconds("queue_run_delay")
        self.minimal_backoff_time = settings.seconds("minimal_backoff_time")
        self.maximal_backoff_time = settings.seconds("maximal_backoff_time")
        self.maximal_queue_lifetime = settings.seconds("maximal_queue_lifetime")
        self.bounce_queue_lifetime = min(
            settings.seconds("bounce_queue_lifetime"), self.maximal_queue_lifetime
        )

    def backoff(self, age: float) -> float:
        """Return how long a message deferred at queue age ``age`` seconds stays deferred."""
        return max(min(age, self.maximal_backoff_time), self.minimal_backoff_time)

    def lifetime(self, sender: str) -> float:
        """Return how long a message from ``sender`` may stay in the queue."""
        if is_null_sender(sender):
            return self.bounce_queue_lifetime
        return self.maximal_queue_lifetime

    def expired(self, age: float, sender: str) -> bool:
        """Return whether a deferred message of queue age ``age`` is returned to its sender."""
        return age >= self.lifetime(sender)
