"""qmgr(8) retry timing: deferred-queue backoff, expiry, delay warnings, in whole seconds.

Postfix keeps these times as ``time_t``: whole seconds of the clock at the start of the event loop
iteration (``event_time()``) and of the queue file's creation (``create_time``). So does this
module: :func:`whole_seconds` truncates a scenario time, and every rule below works on integers.

* Backoff (qmgr_active.c qmgr_active_done_3_generic()): a message with deferred recipients gets
  the time stamp ``now + delay`` with ``delay = now - create_time`` clamped to
  [minimal_backoff_time, maximal_backoff_time] (maximum applied first, then minimum): "Since we
  look at actual time in queue, not time since last delivery attempt, backoff times will be
  distributed."
* Deferred queue scans run every queue_run_delay; a scan takes a file whose time stamp is at most
  one second ahead (qmgr_active_feed(): ``st_mtime > time(0) + 1`` is skipped).
* Expiry (qmgr_active_done_2_generic()): a message with deferred recipients is returned to its
  sender once ``now >= create_time + lifetime``, the lifetime being maximal_queue_lifetime, or
  bounce_queue_lifetime for a bounce (null sender); qmgr silently limits bounce_queue_lifetime to
  maximal_queue_lifetime (qmgr.c post-init sanity check). A lifetime of 0 means one attempt only.
* Delay warning: cleanup records ``warn_time = arrival + delay_warning_time`` (0 h: never); qmgr
  sends one delay notification at the first deferral with ``now >= warn_time - 1`` that does not
  expire the message, then clears warn_time.
"""

from __future__ import annotations

from mailsim.policy.address import is_null_sender
from mailsim.scenario.postfix import PostfixSettings

__all__ = ["RetryPolicy", "whole_seconds"]

#: Scenario times come out of sums of floats; a time meant to be 30 may be 29.999999999999996.
_EPSILON = 1e-6


def whole_seconds(t: float) -> int:
    """Return scenario time ``t`` (>= 0) as Postfix's ``time_t`` (truncated to the second)."""
    return int(t + _EPSILON)


class RetryPolicy:
    """The retry parameters of one host, in whole seconds (Postfix reads them as ints)."""

    def __init__(self, settings: PostfixSettings) -> None:
        self.queue_run_delay = _whole(settings, "queue_run_delay")
        self.minimal_backoff_time = _whole(settings, "minimal_backoff_time")
        self.maximal_backoff_time = _whole(settings, "maximal_backoff_time")
        self.maximal_queue_lifetime = _whole(settings, "maximal_queue_lifetime")
        self.bounce_queue_lifetime = min(
            _whole(settings, "bounce_queue_lifetime"), self.maximal_queue_lifetime
        )
        self.delay_warning_time = _whole(settings, "delay_warning_time")
        if self.queue_run_delay < 1:
            raise ValueError(f"queue_run_delay = {self.queue_run_delay}s: must be at least 1s")

    # -- rules on ages (seconds in the queue) -------------------------------------------------
    def backoff(self, age: float) -> float:
        """Return how long a message deferred at queue age ``age`` seconds stays deferred."""
        return max(min(age, self.maximal_backoff_time), self.minimal_backoff_time)

    def lifetime(self, sender: str) -> int:
        """Return how long a message from ``sender`` may stay in the queue."""
        if is_null_sender(sender):
            return self.bounce_queue_lifetime
        return self.maximal_queue_lifetime

    def expired(self, age: float, sender: str) -> bool:
        """Return whether a deferred message of queue age ``age`` is returned to its sender."""
        return age >= self.lifetime(sender)

    # -- rules on scenario times, as qmgr computes them ---------------------------------------
    def wakeup(self, created: float, now: float) -> int:
        """Return the time stamp qmgr gives a message created at ``created`` and deferred at
        ``now``: the whole second its backoff ends."""
        event_time = whole_seconds(now)
        return event_time + int(self.backoff(event_time - whole_seconds(created)))

    @staticmethod
    def due(wakeup: int, now: float) -> bool:
        """Return whether a deferred-queue scan at ``now`` takes a file stamped ``wakeup``."""
        return wakeup <= whole_seconds(now) + 1

    def is_expired(self, created: float, now: float, sender: str) -> bool:
        """Return whether a message created at ``created``, with recipients deferred at ``now``,
        is returned to its sender (``status=expired, returned to sender``)."""
        return whole_seconds(now) >= whole_seconds(created) + self.lifetime(sender)

    def warn_time(self, arrived: float) -> int:
        """Return the delay-warning time cleanup records for a message arriving at ``arrived``
        (0: no warning, delay_warning_time is 0)."""
        if self.delay_warning_time <= 0:
            return 0
        return whole_seconds(arrived) + self.delay_warning_time

    @staticmethod
    def warn_due(warn_time: int, now: float) -> bool:
        """Return whether a deferral at ``now`` sends the delay warning due at ``warn_time``."""
        return warn_time > 0 and whole_seconds(now) >= warn_time - 1

    def next_scan(self, now: float) -> int:
        """Return the first deferred-queue scan strictly after ``now``; qmgr scans at start-up
        (time 0) and then every queue_run_delay."""
        delay = self.queue_run_delay
        return (whole_seconds(now) // delay + 1) * delay


def _whole(settings: PostfixSettings, name: str) -> int:
    """Return a time parameter in whole seconds (Postfix's get_mail_conf_time() is an int)."""
    return int(settings.seconds(name))
