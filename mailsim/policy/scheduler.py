"""qmgr(8) concurrency scheduling: per-destination windows, feedback, dead destinations.

Theory of operation (SCHEDULER_README "Concurrency scheduling", qmgr_queue.c). Every
(transport, nexthop) destination has a concurrency *window*: deliveries to it may run while fewer
than ``window`` are busy. A new destination starts at
``<transport>_initial_destination_concurrency`` (at most
``<transport>_destination_concurrency_limit``; 0 means no limit). A delivery that ends
without a connection or handshake failure gives *positive feedback* g(N), one that fails that way
*negative feedback* f(N), N being the window; each is ``x``, ``x/concurrency`` or
``x/sqrt_concurrency`` (``<transport>_destination_concurrency_{positive,negative}_feedback``).

* After a success: ``fail_cohorts = 0``; unless the window is at the limit or already
  ``busy + initial`` or more (so negative feedback is not delayed), ``success += g(N)`` and the
  window grows by one each time ``success`` passes the hysteresis of 1, which resets ``failure``.
* After a failure: ``fail_cohorts += 1/N``; at ``<transport>_destination_concurrency_failed_cohort
  _limit`` failed pseudo-cohorts the destination is *dead* (window 0, "throttled"). Otherwise
  ``failure -= f(N)`` and the window shrinks by one each time ``failure`` drops below 0, which
  resets ``success``: the "reverse" hysteresis, which acts at the start of a run of failures.
* A dead destination comes back ("unthrottled") when a delivery to it succeeds, when
  minimal_backoff_time has passed, or on ``postqueue -f``: window = deliveries still busy (or the
  initial concurrency), feedback counters cleared.

Postfix 3.x vs the README. qmgr_queue.c tests ``success + g/2 >= 1`` and ``failure - f/2 < 0``
(rounding for "feedback > hysteresis, rounding error"), not the README pseudocode's
``success >= 1`` and ``failure < 0``. With fixed feedback 1 that makes a failure that follows an
increase (``failure`` is 0 then) drop the window by 2, not 1, so against a server that accepts 5
sessions and answers 421 beyond, Postfix 3.x defers about 1/3 of first attempts, not the
README's 1/2 (measured with a real Postfix 3.7). With ``1/sqrt_concurrency`` at 5 sessions the
same rounding grows the window after 2 successes instead of 3: 1/3 instead of 1/4.
``1/concurrency`` gives 1/6 either way. :class:`TransportScheduling` ``readme=True`` (main.cf
``mailsim_concurrency_feedback_style = readme``) uses the README arithmetic. The README's
pseudocode also kills a destination only when ``fail_cohorts > limit``; qmgr_queue.c, and both
styles here, use ``>=``. Postfix 3.x compiles ``sqrt_concurrency`` out (qmgr.h: the
``QMGR_FEEDBACK_IDX_SQRT_WIN`` block is ``#if 0``) and would warn and use 1; mailsim accepts it
so that SCHEDULER_README's experiment can be re-run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

from mailsim.scenario.postfix import PostfixSettings, parse_feedback

__all__ = ["ConcurrencyWindow", "Feedback", "FeedbackStyle", "TransportScheduling"]

FeedbackStyle = Literal["postfix", "readme"]
Divisor = Literal["", "concurrency", "sqrt_concurrency"]


@dataclass(frozen=True, slots=True)
class Feedback:
    """One feedback setting: ``base`` per delivery, divided by nothing, the window or its root."""

    base: float
    divisor: Divisor = ""

    @classmethod
    def parse(cls, text: str, name: str = "feedback") -> Feedback:
        """Parse a feedback parameter value (see :func:`~mailsim.scenario.postfix.parse_feedback`);
        raise ValueError quoting a bad value."""
        base, divisor = parse_feedback(text, name)
        return cls(base, cast(Divisor, divisor))

    def at(self, window: int) -> float:
        """Return the feedback for a destination whose window is ``window`` (QMGR_FEEDBACK_VAL)."""
        if self.divisor == "concurrency":
            return self.base / window
        if self.divisor == "sqrt_concurrency":
            return self.base / math.sqrt(window)
        return self.base


@dataclass(frozen=True, slots=True)
class TransportScheduling:
    """The per-transport scheduling parameters (qmgr_transport.c qmgr_transport_create()).

    Each is ``<transport>_<suffix>`` when main.cf has it, else the ``default_`` parameter (as
    postconf(5) gives ``smtp_destination_concurrency_limit = $default_...``).
    """

    transport: str
    concurrency_limit: int
    initial_concurrency: int
    recipient_limit: int
    positive: Feedback
    negative: Feedback
    failed_cohort_limit: int
    readme: bool = False

    @classmethod
    def from_settings(cls, settings: PostfixSettings, transport: str) -> TransportScheduling:
        """Read ``transport``'s parameters; raise ValueError naming a malformed one."""

        def value(suffix: str, default: str) -> str:
            name = f"{transport}_{suffix}"
            return settings.value(name if name in settings else default)

        def integer(suffix: str, default: str) -> int:
            text = value(suffix, default)
            if not text.isdigit():
                raise ValueError(f"{transport}_{suffix} = {text!r} is not a non-negative integer")
            return int(text)

        limit = integer("destination_concurrency_limit", "default_destination_concurrency_limit")
        initial = integer("initial_destination_concurrency", "initial_destination_concurrency")
        if initial < 1:
            raise ValueError(f"{transport}_initial_destination_concurrency must be >= 1")
        if limit and initial > limit:  # qmgr_transport_create(): never above the limit
            initial = limit
        style = settings.value("mailsim_concurrency_feedback_style").lower()
        if style not in ("postfix", "readme"):
            raise ValueError(
                f"mailsim_concurrency_feedback_style = {style!r}: expected postfix or readme"
            )
        positive = "destination_concurrency_positive_feedback"
        negative = "destination_concurrency_negative_feedback"
        cohorts = "destination_concurrency_failed_cohort_limit"
        return cls(
            transport=transport,
            concurrency_limit=limit,
            initial_concurrency=initial,
            recipient_limit=integer(
                "destination_recipient_limit", "default_destination_recipient_limit"
            ),
            positive=Feedback.parse(value(positive, f"default_{positive}"), positive),
            negative=Feedback.parse(value(negative, f"default_{negative}"), negative),
            failed_cohort_limit=integer(cohorts, f"default_{cohorts}"),
            readme=style == "readme",
        )


class ConcurrencyWindow:
    """The concurrency state of one destination (a QMGR_QUEUE without its entry lists).

    The engine calls :meth:`start` when it hands a delivery to an agent and exactly one of
    :meth:`succeeded` or :meth:`failed` when the agent reports back; :attr:`may_start` says
    whether another delivery may begin, :attr:`dead` whether the destination is suspended.
    """

    __slots__ = ("busy", "fail_cohorts", "failure", "scheduling", "success", "window")

    def __init__(self, scheduling: TransportScheduling) -> None:
        self.scheduling = scheduling
        #: deliveries handed to agents and not yet reported (Postfix: busy_refcount)
        self.busy = 0
        #: the concurrency limit now; 0 means dead (QMGR_QUEUE_STAT_THROTTLED)
        self.window = scheduling.initial_concurrency
        self.success = 0.0
        self.failure = 0.0
        self.fail_cohorts = 0.0

    def __repr__(self) -> str:
        return (
            f"ConcurrencyWindow(window={self.window}, busy={self.busy}, "
            f"success={self.success:.3g}, failure={self.failure:.3g}, "
            f"fail_cohorts={self.fail_cohorts:.3g})"
        )

    @property
    def may_start(self) -> bool:
        """Whether one more delivery may start now (qmgr_queue_select(): window > busy)."""
        return self.window > self.busy

    @property
    def dead(self) -> bool:
        """Whether the destination is suspended after too many failed pseudo-cohorts."""
        return self.window == 0

    def start(self) -> None:
        """Note a delivery handed to an agent."""
        self.busy += 1

    def succeeded(self) -> bool:
        """Apply positive feedback for a delivery that reached the destination, then retire it.

        Returns True when this brought a dead destination back (qmgr_queue_unthrottle()).
        """
        revived = self._positive()
        self.busy -= 1
        return revived

    def failed(self) -> bool:
        """Apply negative feedback for a connection or handshake failure, then retire it.

        Returns True when this failure declared the destination dead (qmgr_queue_throttle()).
        """
        died = False if self.window == 0 else self._negative()
        self.busy -= 1
        return died

    def unthrottle(self) -> None:
        """Give a dead destination another chance (its timer, or ``postqueue -f``)."""
        if self.window == 0:
            self._positive()

    # -- qmgr_queue.c ---------------------------------------------------------------------------
    def _positive(self) -> bool:
        scheduling = self.scheduling
        self.fail_cohorts = 0.0
        if self.window == 0:
            # "Back from the almost grave, best concurrency is anyone's guess."
            self.window = self.busy if self.busy > 0 else scheduling.initial_concurrency
            self.success = self.failure = 0.0
            return True
        limit = scheduling.concurrency_limit
        if (limit == 0 or limit > self.window) and (
            self.window < self.busy + scheduling.initial_concurrency
        ):
            feedback = scheduling.positive.at(self.window)
            self.success += feedback
            margin = 0.0 if scheduling.readme else feedback / 2
            while self.success + margin >= 1.0:
                self.window += 1
                self.success -= 1.0
                self.failure = 0.0
            if limit > 0 and self.window > limit:
                self.window = limit
        return False

    def _negative(self) -> bool:
        scheduling = self.scheduling
        self.fail_cohorts += 1.0 / self.window
        cohort_limit = scheduling.failed_cohort_limit
        if cohort_limit > 0 and self.fail_cohorts >= cohort_limit:
            self.window = 0
            return True
        feedback = scheduling.negative.at(self.window)
        self.failure -= feedback
        margin = 0.0 if scheduling.readme else feedback / 2
        while self.failure - margin < 0.0:
            self.window -= 1
            self.success = 0.0
            self.failure += 1.0
        if self.window < 1:
            self.window = 1
        return False
