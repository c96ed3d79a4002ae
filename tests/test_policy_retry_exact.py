"""qmgr(8) retry times in whole seconds: time stamps, scans, expiry and delay warnings."""

from __future__ import annotations

import pytest

from mailsim.policy.retry import RetryPolicy, whole_seconds
from mailsim.scenario.postfix import PostfixSettings


def retry(**values: str) -> RetryPolicy:
    return RetryPolicy(PostfixSettings("mx.a.test", values))


#: the real Postfix 3.7 run's settings (../shared/data/postfix-logs/README.md)
LAB = {
    "minimal_backoff_time": "30s",
    "maximal_backoff_time": "60s",
    "queue_run_delay": "15s",
    "maximal_queue_lifetime": "2m",
    "bounce_queue_lifetime": "2m",
    "delay_warning_time": "1m",
}


def test_whole_seconds_truncate_and_forgive_float_sums() -> None:
    """time_t truncates; a sum of floats meant to be 30 (29.999999999999996) is 30."""
    assert whole_seconds(30.99) == 30
    assert whole_seconds(0.1 + 0.2 + 29.7) == 30
    assert whole_seconds(29.999999999999996) == 30


@pytest.mark.parametrize(
    ("created", "now", "stamp"),
    [
        (1.0, 1.0, 31),  # age 0 -> minimal 30
        (1.0, 30.0, 60),  # age 29 -> 30
        (1.0, 60.0, 119),  # age 59
        (1.0, 120.0, 180),  # age 119 -> maximal 60
        (14.7, 55.2, 96),  # whole seconds: 55 - 14 = 41
    ],
)
def test_wakeup_is_now_plus_the_clamped_age(created: float, now: float, stamp: int) -> None:
    """qmgr_active_done_3_generic(): delay = event_time() - create_time, clamped."""
    assert retry(**LAB).wakeup(created, now) == stamp


def test_a_scan_takes_files_due_within_the_next_second() -> None:
    """qmgr_active_feed() skips st_mtime > time(0) + 1."""
    policy = retry(**LAB)
    assert policy.due(31, 30.0)
    assert policy.due(30, 30.0)
    assert not policy.due(32, 30.0)
    assert policy.due(32, 31.9)


def test_scans_run_on_the_queue_run_delay_grid() -> None:
    policy = retry(**LAB)
    assert [policy.next_scan(t) for t in (0.0, 1.0, 14.9, 15.0, 29.99999999)] == [
        15,
        15,
        15,
        30,
        45,
    ]


def test_expiry_compares_whole_seconds() -> None:
    """qmgr_active_done_2_generic(): event_time() >= create_time + maximal_queue_lifetime."""
    policy = retry(**LAB)
    assert not policy.is_expired(1.5, 120.9, "alice@a.test")  # 120 < 1 + 120
    assert policy.is_expired(1.5, 121.0, "alice@a.test")


def test_bounces_expire_after_bounce_queue_lifetime() -> None:
    policy = retry(**{**LAB, "bounce_queue_lifetime": "30s"})
    assert policy.is_expired(0.0, 30.0, "")
    assert not policy.is_expired(0.0, 30.0, "alice@a.test")


def test_delay_warning_is_due_one_second_early() -> None:
    """cleanup records warn_time = arrival + delay_warning_time; qmgr warns at
    event_time() >= warn_time - 1."""
    policy = retry(**LAB)
    warn = policy.warn_time(14.2)
    assert warn == 74
    assert not policy.warn_due(warn, 72.9)
    assert policy.warn_due(warn, 73.0)


def test_no_delay_warning_by_default() -> None:
    """postconf(5): delay_warning_time = 0h, no warning."""
    policy = retry()
    assert policy.delay_warning_time == 0
    assert policy.warn_time(10.0) == 0
    assert not policy.warn_due(policy.warn_time(10.0), 1e9)


def test_delay_warning_time_is_in_hours_by_default() -> None:
    assert retry(delay_warning_time="4").delay_warning_time == 4 * 3600


def test_default_retry_stamps_double_until_the_maximum() -> None:
    """Defaults 300s/4000s: a message tried at each scan that takes it is stamped 300, 600,
    1200, 2400, 4800, then 4000 s after each try."""
    policy = retry()
    now, stamps = 0.0, []
    for _ in range(6):
        stamp = policy.wakeup(0.0, now)
        stamps.append(stamp)
        now = float(stamp)
    assert stamps == [300, 600, 1200, 2400, 4800, 8800]
