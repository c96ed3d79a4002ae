"""A message to a permanently unreachable destination: retried exactly when Postfix would retry
it, then returned to its sender at maximal_queue_lifetime.

The expected times come from the rule written out here on its own (qmgr_active.c, whole
seconds): after an attempt at ``now`` the file is stamped ``now + clamp(now - created)``, and
the first deferred-queue scan (every queue_run_delay from time 0) with ``stamp <= scan + 1``
takes it; the attempt at ``now >= created + lifetime`` expires it instead.
"""

from __future__ import annotations

import pytest

from mailsim.sim import Simulation
from mailsim.sim.engine import FIRST_CREATED_MSG_ID

from qmgr_builders import mail, unreachable

DAY = 86400


def postfix_attempts(
    created: float, minimal: int, maximal: int, scan: int, lifetime: int
) -> list[float]:
    """Return the attempt times of a message that never gets through; the last one expires."""
    t, birth, attempts = created, int(created), [created]
    while int(t) < birth + lifetime:
        now = int(t)
        stamp = now + max(min(now - birth, maximal), minimal)
        k = now // scan + 1
        while k * scan + 1 < stamp:
            k += 1
        t = float(k * scan)
        attempts.append(t)
    return attempts


def run(arrival_t: float, until: float, **postfix: str) -> Simulation:
    sim = Simulation(unreachable(**postfix), arrivals=iter([mail(arrival_t, "dan@c.test")]))
    sim.run(until=until)
    return sim


def attempts_and_end(sim: Simulation) -> tuple[list[float], list[tuple[float, str]]]:
    rows = [e for e in sim.log.rows() if e.msg == "m1" and e.node == "mx.a.test"]
    tries = [e.t for e in rows if e.event == "deferred" and e.recipient == "dan@c.test"]
    end = [(e.t, e.event) for e in rows if e.event in ("expired", "bounce_notice", "removed")]
    return tries, end


def test_reference_rule_matches_the_real_postfix_log() -> None:
    """The real Postfix 3.7 log: created 00:13:14 (second 14 after a scan at :10, :25, ...),
    tried at :14, 00:13:55, 00:14:40, 00:15:40, expired at 00:15:40 (30s/60s/15s/2m)."""
    scans_from_10 = [t + 10 for t in postfix_attempts(4.0, 30, 60, 15, 120)]
    assert scans_from_10 == [14.0, 55.0, 100.0, 160.0]  # 00:13:14, :55, 00:14:40, 00:15:40


def test_retries_and_expiry_at_the_postfix_defaults() -> None:
    """300s/4000s backoff, scans every 300 s, 5 days: returned to sender after 5 days."""
    sim = run(1.0, until=5 * DAY + 9000)
    tries, end = attempts_and_end(sim)
    expected = postfix_attempts(1.0, 300, 4000, 300, 5 * DAY)
    assert tries == expected
    assert expected[:7] == [1.0, 300.0, 600.0, 1200.0, 2400.0, 4800.0, 9000.0]
    assert expected[-1] >= 5 * DAY + 1 > expected[-2]
    assert end == [(expected[-1], "expired"), (expected[-1], "bounce_notice")]


@pytest.mark.parametrize(
    ("minimal", "maximal", "scan", "lifetime", "arrival"),
    [
        (30, 60, 15, 120, 1.0),  # the real run's settings
        (30, 60, 15, 120, 2.0),  # stamp 32 misses the scan at 30 (32 > 31)
        (60, 600, 100, 3600, 7.5),
        (10, 10, 7, 100, 0.5),
        (120, 3600, 300, 6 * 3600, 250.25),
    ],
)
def test_retries_and_expiry_at_custom_values(
    minimal: int, maximal: int, scan: int, lifetime: int, arrival: float
) -> None:
    sim = run(
        arrival,
        until=arrival + lifetime + 2 * maximal + 2 * scan,
        minimal_backoff_time=f"{minimal}s",
        maximal_backoff_time=f"{maximal}s",
        queue_run_delay=f"{scan}s",
        maximal_queue_lifetime=f"{lifetime}s",
    )
    tries, end = attempts_and_end(sim)
    expected = postfix_attempts(arrival, minimal, maximal, scan, lifetime)
    assert tries == expected
    assert end == [(expected[-1], "expired"), (expected[-1], "bounce_notice")]


def test_a_scan_takes_a_file_due_in_the_next_second_only() -> None:
    """qmgr_active_feed(): stamp 31 is taken by the scan at 30, stamp 32 waits for 45."""
    lab = {
        "minimal_backoff_time": "30s",
        "maximal_backoff_time": "60s",
        "queue_run_delay": "15s",
    }
    assert attempts_and_end(run(1.0, 40.0, **lab))[0] == [1.0, 30.0]
    assert attempts_and_end(run(2.0, 50.0, **lab))[0] == [2.0, 45.0]


@pytest.mark.parametrize(
    "postfix", [{}, {"maximal_queue_lifetime": "2m", "queue_run_delay": "15s"}]
)
def test_the_bounce_reaches_the_senders_mailbox(postfix: dict[str, str]) -> None:
    """The expired message comes back as a non-delivery notification from <> to alice, a new
    message (ids of system-made mail start at 2**30) that mx.a.test delivers locally."""
    lifetime = 120 if postfix else 5 * DAY
    sim = run(1.0, until=lifetime + 10000, **postfix)
    expired_at = attempts_and_end(sim)[0][-1]
    box = sim.mailboxes["alice@a.test"].messages
    assert [(m.msg, m.delivered_at) for m in box] == [(FIRST_CREATED_MSG_ID, expired_at)]
    notice = [e for e in sim.log.rows() if e.msg == f"m{FIRST_CREATED_MSG_ID}"]
    assert {e.sender for e in notice} == {""}
    assert [(e.event, e.recipient) for e in notice if e.recipient] == [
        ("delivered", "alice@a.test")
    ]
