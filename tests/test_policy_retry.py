"""qmgr(8) backoff and queue lifetime of deferred mail."""

from __future__ import annotations

import pytest

from mailsim.policy import HostPolicy

from test_policy_host import make_policy


@pytest.fixture
def neo() -> HostPolicy:
    """Reference run: minimal 30s, maximal 60s, queue_run_delay 15s, both lifetimes 2m."""
    return make_policy()


def test_timing_parameters_are_seconds(neo: HostPolicy) -> None:
    """postconf(5) time units: 15s, 30s, 60s, 2m."""
    assert (neo.queue_run_delay, neo.minimal_backoff_time, neo.maximal_backoff_time) == (
        15.0,
        30.0,
        60.0,
    )
    assert neo.maximal_queue_lifetime == neo.bounce_queue_lifetime == 120.0


def test_postfix_default_timing() -> None:
    """Postfix 3.x defaults: queue_run_delay 300s, backoff 300s..4000s, lifetimes 5d."""
    base = {"myhostname": "neo.firma1.intr", "mydomain": "firma1.intr"}
    policy = make_policy(base=base)
    assert (policy.queue_run_delay, policy.minimal_backoff_time) == (300.0, 300.0)
    assert policy.maximal_backoff_time == 4000.0
    assert policy.maximal_queue_lifetime == 5 * 86400.0


@pytest.mark.parametrize(
    ("age", "wait"),
    [(0.0, 30.0), (10.0, 30.0), (30.0, 30.0), (45.5, 45.5), (60.0, 60.0), (3600.0, 60.0)],
)
def test_backoff_is_the_queue_age_clamped(neo: HostPolicy, age: float, wait: float) -> None:
    """qmgr_active.c: the deferred message waits its age in the queue, at least
    minimal_backoff_time and at most maximal_backoff_time."""
    assert neo.backoff(age) == wait


def test_backoff_doubles_the_age_until_the_maximum() -> None:
    """With the defaults (300s..4000s) a message retried at the end of each wait sees its age
    double: 300, 600, 1200, 2400, then capped at 4000."""
    base = {"myhostname": "neo.firma1.intr", "mydomain": "firma1.intr"}
    policy = make_policy(base=base)
    age, waits = 0.0, []
    for _ in range(6):
        wait = policy.backoff(age)
        waits.append(wait)
        age += wait
    assert waits == [300.0, 300.0, 600.0, 1200.0, 2400.0, 4000.0]


def test_minimal_backoff_wins_over_a_smaller_maximal() -> None:
    """qmgr_active.c applies the maximum first, then the minimum."""
    policy = make_policy(minimal_backoff_time="100s", maximal_backoff_time="50s")
    assert policy.backoff(75.0) == 100.0


def test_expiry_at_maximal_queue_lifetime(neo: HostPolicy) -> None:
    """qmgr: expired when now >= arrival + maximal_queue_lifetime (log: "status=expired,
    returned to sender" about 2 minutes after arrival)."""
    assert not neo.expired(119.9, "carol@firma1.intr")
    assert neo.expired(120.0, "carol@firma1.intr")


def test_bounces_use_bounce_queue_lifetime() -> None:
    """postconf(5) bounce_queue_lifetime: for mail from the null sender (a bounce)."""
    policy = make_policy(maximal_queue_lifetime="5d", bounce_queue_lifetime="1h")
    assert policy.expired(3600.0, "")
    assert policy.expired(3600.0, "MAILER-DAEMON")
    assert not policy.expired(3600.0, "carol@firma1.intr")
    assert not policy.expired(3599.0, "")


def test_bounce_lifetime_is_limited_to_maximal_queue_lifetime() -> None:
    """qmgr post-init: "bounce_queue_lifetime is larger than maximal_queue_lifetime -
    adjusting bounce_queue_lifetime"."""
    policy = make_policy(maximal_queue_lifetime="1h", bounce_queue_lifetime="5d")
    assert policy.bounce_queue_lifetime == 3600.0
    assert policy.expired(3600.0, "")


def test_lifetime_in_days_by_default() -> None:
    """postconf(5): a bare number for maximal_queue_lifetime is in days."""
    policy = make_policy(maximal_queue_lifetime="2")
    assert policy.maximal_queue_lifetime == 2 * 86400.0


def test_zero_lifetime_means_one_attempt() -> None:
    """maximal_queue_lifetime = 0: deferred mail is returned after the first attempt."""
    policy = make_policy(maximal_queue_lifetime="0")
    assert policy.expired(0.0, "carol@firma1.intr")
