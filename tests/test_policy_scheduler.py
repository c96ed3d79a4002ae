"""qmgr(8) concurrency windows: feedback arithmetic, dead destinations, per-transport settings.

Sequences worked out by hand from qmgr_queue.c (Postfix 3.x) and from SCHEDULER_README's
pseudocode (the ``readme`` style).
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from mailsim.policy.scheduler import ConcurrencyWindow, Feedback, TransportScheduling
from mailsim.scenario.postfix import PostfixSettings


def scheduling(transport: str = "smtp", **values: str) -> TransportScheduling:
    return TransportScheduling.from_settings(PostfixSettings("mx.a.test", values), transport)


def window(feedback: str = "1", style: str = "postfix", **values: str) -> ConcurrencyWindow:
    return ConcurrencyWindow(
        scheduling(
            smtp_destination_concurrency_positive_feedback=feedback,
            smtp_destination_concurrency_negative_feedback=feedback,
            mailsim_concurrency_feedback_style=style,
            **values,
        )
    )


def busy(w: ConcurrencyWindow, count: int) -> ConcurrencyWindow:
    for _ in range(count):
        w.start()
    return w


# -- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", Feedback(1.0)),
        ("0.25", Feedback(0.25)),
        ("1/4", Feedback(0.25)),
        ("1 / 8", Feedback(0.125)),
        ("1/concurrency", Feedback(1.0, "concurrency")),
        ("0.5/concurrency", Feedback(0.5, "concurrency")),
        ("1/sqrt_concurrency", Feedback(1.0, "sqrt_concurrency")),
    ],
)
def test_feedback_syntax(text: str, expected: Feedback) -> None:
    """qmgr_feedback.c: a number, number/number, or number/concurrency."""
    assert Feedback.parse(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "2", "3/2", "1/0", "1/window", "2/concurrency"])
def test_bad_feedback_is_an_error_quoting_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="smtp_destination_concurrency_positive_feedback"):
        Feedback.parse(text, "smtp_destination_concurrency_positive_feedback")


def test_feedback_values() -> None:
    assert Feedback(1.0).at(5) == 1.0
    assert Feedback(1.0, "concurrency").at(5) == 0.2
    assert Feedback(1.0, "sqrt_concurrency").at(4) == 0.5


def test_postfix_defaults() -> None:
    """postconf -d: limit 20, initial 5, 50 recipients, feedback 1, cohort limit 1."""
    smtp = scheduling()
    assert (smtp.concurrency_limit, smtp.initial_concurrency, smtp.recipient_limit) == (20, 5, 50)
    assert smtp.positive == smtp.negative == Feedback(1.0)
    assert smtp.failed_cohort_limit == 1 and not smtp.readme


def test_local_transport_is_per_recipient_and_initial_is_capped() -> None:
    """local_destination_concurrency_limit 2 caps the initial 5 (qmgr_transport_create())."""
    local = scheduling("local")
    assert (local.concurrency_limit, local.initial_concurrency, local.recipient_limit) == (2, 2, 1)


def test_transport_parameters_fall_back_to_the_default_ones() -> None:
    relay = scheduling(
        "relay",
        default_destination_concurrency_limit="7",
        default_destination_concurrency_positive_feedback="1/4",
        relay_destination_concurrency_negative_feedback="1/concurrency",
        relay_initial_destination_concurrency="2",
        default_destination_concurrency_failed_cohort_limit="10",
        relay_destination_recipient_limit="3",
    )
    assert (relay.concurrency_limit, relay.initial_concurrency, relay.recipient_limit) == (7, 2, 3)
    assert relay.positive == Feedback(0.25)
    assert relay.negative == Feedback(1.0, "concurrency")
    assert relay.failed_cohort_limit == 10


def test_unknown_feedback_style_is_an_error() -> None:
    with pytest.raises(ValueError, match="mailsim_concurrency_feedback_style = 'tcp'"):
        scheduling(mailsim_concurrency_feedback_style="tcp")


# -- feedback arithmetic ----------------------------------------------------------------------
def test_a_new_destination_may_start_its_initial_concurrency() -> None:
    w = window()
    assert w.window == 5 and w.may_start
    busy(w, 5)
    assert not w.may_start


def test_postfix_drops_the_window_by_two_after_an_increase() -> None:
    """qmgr_queue.c: failure - f/2 < 0. After an increase failure is 0: 0 - 1 -> -1 and the loop
    runs twice (-1 - 0.5 < 0, then 0 - 0.5 < 0). The next failure costs 1."""
    w = busy(window(), 6)
    assert not w.succeeded() and w.window == 6  # 5 < 6 busy + 5 initial: +1
    assert not w.failed() and w.window == 4
    assert w.failure == 1.0
    assert not w.failed() and w.window == 3


def test_readme_drops_the_window_by_one() -> None:
    """SCHEDULER_README pseudocode: while (failure < 0) concurrency -= 1."""
    w = busy(window(style="readme"), 6)
    w.succeeded()
    assert w.window == 6
    w.failed()
    assert w.window == 5


def test_one_over_n_grows_after_a_whole_pseudo_cohort() -> None:
    """g(N) = 1/N: the window grows at the END of N successes (hysteresis), in both styles."""
    for style in ("postfix", "readme"):
        w = busy(window("1/concurrency", style), 10)
        windows = []
        for _ in range(5):
            w.succeeded()
            windows.append(w.window)
        assert windows == [5, 5, 5, 5, 6], style


def test_one_over_n_failure_acts_at_the_start_of_its_cycle() -> None:
    """f(N) = 1/N: the reverse hysteresis drops the window at the first failure, then the next
    N - 1 failures are absorbed."""
    w = busy(window("1/concurrency"), 10)
    w.failed()
    assert w.window == 4
    w.failed()
    w.failed()
    assert w.window == 4


def test_postfix_rounding_makes_sqrt_feedback_grow_after_two_successes_not_three() -> None:
    """At window 5, 1/sqrt(5) = 0.447: Postfix tests success + g/2 >= 1, true after 2 (0.894 +
    0.224); the README's success >= 1 needs 3."""
    postfix = busy(window("1/sqrt_concurrency"), 10)
    readme = busy(window("1/sqrt_concurrency", "readme"), 10)
    grown = []
    for w in (postfix, readme):
        count = 0
        while w.window == 5:
            w.succeeded()
            count += 1
        grown.append(count)
    assert grown == [2, 3]


def test_positive_feedback_waits_for_busy_deliveries() -> None:
    """Safety: no positive feedback unless window < busy + initial_destination_concurrency."""
    w = busy(window(), 1)
    w.succeeded()  # busy was 1: 5 < 1 + 5
    assert w.window == 6
    w.start()
    w.succeeded()  # 6 < 1 + 5 is false
    assert w.window == 6


def test_the_window_never_passes_the_limit() -> None:
    w = busy(window(smtp_destination_concurrency_limit="6"), 12)
    for _ in range(5):
        w.succeeded()
    assert w.window == 6


# -- dead destinations ------------------------------------------------------------------------
def test_three_failures_kill_a_fresh_destination_at_the_defaults() -> None:
    """Cohort limit 1: fail_cohorts += 1/window: 1/5 (window 5 -> 3), + 1/3 (-> 2), + 1/2 =
    1.03 >= 1: dead (the real Postfix log's mail.firma3.intr died after 3 refused connections)."""
    w = busy(window(), 4)
    assert [w.failed(), w.failed()] == [False, False]
    assert w.window == 2 and w.fail_cohorts == pytest.approx(0.2 + 1 / 3)
    assert w.failed() and w.dead and not w.may_start
    assert not w.failed() and w.busy == 0  # a failure reported while dead changes nothing


def test_a_success_resets_the_failed_cohorts() -> None:
    w = busy(window(), 4)
    w.failed()
    w.failed()
    w.succeeded()
    assert w.fail_cohorts == 0.0
    assert not w.failed()


def test_a_success_revives_a_dead_destination_at_its_busy_count() -> None:
    """qmgr_queue_unthrottle(): "Back from the almost grave": window = busy_refcount."""
    w = busy(window(), 5)
    for _ in range(3):
        w.failed()
    assert w.dead and w.busy == 2
    assert w.succeeded()
    assert (w.window, w.busy, w.success, w.failure) == (2, 1, 0.0, 0.0)


def test_the_timer_revives_an_idle_dead_destination_at_the_initial_window() -> None:
    w = busy(window(), 3)
    for _ in range(3):
        w.failed()
    assert w.dead
    w.unthrottle()
    assert w.window == 5 and not w.dead


def test_cohort_limit_zero_never_kills() -> None:
    w = busy(window(smtp_destination_concurrency_failed_cohort_limit="0"), 20)
    assert not any(w.failed() for _ in range(20))
    assert w.window == 1


def test_a_larger_cohort_limit_needs_more_failed_cohorts() -> None:
    w = busy(window(smtp_destination_concurrency_failed_cohort_limit="2"), 10)
    deaths = [w.failed() for _ in range(6)]
    # 1/5 + 1/3 + 1/2 + 1/1 = 2.03 >= 2 at the fourth failure
    assert deaths == [False, False, False, True, False, False]


# -- SCHEDULER_README's experiment on the policy alone ---------------------------------------
def limited_server(
    feedback: str, style: str, deliveries: int = 3000, seed: int = 1
) -> tuple[float, float]:
    """A client with this window against a server that serves 5 sessions, about 1 s each, and
    refuses a 6th at once. Return (deferred fraction, mean window after each feedback)."""
    w = window(feedback, style, smtp_destination_concurrency_limit="20")
    rng = np.random.default_rng(seed)
    events: list[tuple[float, int, bool]] = []
    now, sequence, waiting, sessions, failed, windows = 0.0, 0, deliveries, 0, 0, []
    while True:
        while waiting and w.may_start:
            waiting -= 1
            w.start()
            accepted = sessions < 5
            sessions += accepted
            done = now + (rng.uniform(0.9, 1.1) if accepted else 0.001)
            heapq.heappush(events, (done, sequence, accepted))
            sequence += 1
        if not events:
            break
        now, _, accepted = heapq.heappop(events)
        if accepted:
            sessions -= 1
            w.succeeded()
        else:
            failed += 1
            w.failed()
        windows.append(w.window)
    return failed / deliveries, float(np.mean(windows))


@pytest.mark.parametrize(
    ("feedback", "style", "deferred", "mean_window"),
    [
        # SCHEDULER_README's table: 16.5 %, 24.5 %, 49.7 %; client concurrency 5.17, 5.28, 5.63
        ("1/concurrency", "readme", 1 / 6, 5.17),
        ("1/sqrt_concurrency", "readme", 1 / 4, 5.25),
        ("1", "readme", 1 / 2, 5.5),
        # Postfix 3.x (qmgr_queue.c rounding): 1 and sqrt grow after 1 and 2 successes and a
        # failure after an increase costs 2 (feedback 1) -> 1/3
        ("1/concurrency", "postfix", 1 / 6, 5.17),
        ("1/sqrt_concurrency", "postfix", 1 / 3, 5.33),
        ("1", "postfix", 1 / 3, 5.0),
    ],
)
def test_limited_server_defer_rate_matches_theory(
    feedback: str, style: str, deferred: float, mean_window: float
) -> None:
    """SCHEDULER_README: the theoretical defer rate is 1/(1 + roundup(1/feedback)) with the
    README's hysteresis; each increase past 5 costs one 421."""
    fraction, mean = limited_server(feedback, style)
    assert fraction == pytest.approx(deferred, abs=0.005)
    assert mean == pytest.approx(mean_window, abs=0.02)
