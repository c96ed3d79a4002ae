"""TUNING_README's dead-MX rule, measured with confidence intervals over seeded replications.

The rule (Postfix TUNING_README, "Tuning the number of simultaneous deliveries"): "If any MX host
is down and completely unresponsive, the average connection latency rises to at least 1/N *
$smtp_connection_timeout, if there are N MX hosts. This limits throughput to at most the
destination concurrency * N / $smtp_connection_timeout." Its example: concurrency 100, 2 MX
hosts, one down, the default 30 s timeout: 100 * 2 / 30 ~= 6 messages per second. (The README
writes smtp_connection_timeout; the parameter is smtp_connect_timeout, postconf(5).)

Why it holds: smtp(8) shuffles equal-preference MX hosts for every delivery (smtp_addr.c,
smtp_randomize_addresses), so a delivery meets the dead host first with probability 1/N and then
waits smtp_connect_timeout T before it goes on to a live one; smtp(8) keeps no memory of dead
hosts between deliveries. A delivery that falls through to a live host succeeds, so qmgr's
window stays at the concurrency limit c.

The experiment measures exactly that: N MX hosts of equal preference, one down for the whole run;
the sender's smtp_destination_concurrency_limit = initial_destination_concurrency = c; a backlog
of messages that keeps all c deliveries busy while we count; every other cost small (smtp(8)
service s = 10 ms, other daemons and links free). A delivery then costs T * Bernoulli(1/N) + s,
so with c always busy the throughput is X = c / (T/N + s) (renewal-reward), just under the
rule's bound c * N / T, and the mean connection latency (Postfix's delays "c") is T/N + s. We
count ``sent`` after a warm-up of 4T over a window of 40T, in R = 10 replications (seeds 1..10),
and check that the 95 % Student-t intervals contain both predictions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from scipy import stats

from mailsim.scenario.faults import HostBehaviour, Outage
from mailsim.scenario.model import Distribution
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from fault_builders import mx_domain

SERVICE_S = 0.010
REPLICATIONS = 10


def replication(n: int, c: int, timeout: float, seed: int, window: float) -> tuple[float, float]:
    """Return (sent per second in the window, mean delays-c of those deliveries)."""
    warm_up = 4 * timeout
    mx = [(10, f"mx{i}.c.test") for i in range(1, n + 1)]
    scenario = mx_domain(
        mx,
        {"mx1.c.test": HostBehaviour(down=(Outage(0.0, 1e9),))},
        capacity={"smtp": Distribution.constant(SERVICE_S)},
        sender_postfix={
            "smtp_destination_concurrency_limit": str(c),
            "initial_destination_concurrency": str(c),
            "smtp_connect_timeout": f"{timeout:g}s",
        },
    )
    backlog = int(1.5 * c * n / timeout * (warm_up + window)) + 10 * c

    def arrivals() -> Iterator[Arrival]:
        for i in range(backlog):
            yield Arrival(i * 1e-5, i + 1, "alice@a.test", ("dan@c.test",), 1000)

    sim = Simulation(scenario, arrivals=arrivals(), seed=seed)
    sim.run(until=warm_up + window)
    log = sim.log.to_frame()
    sent = log[(log["node"] == "mx.a.test") & (log["event"] == "sent")]
    inside = sent[(sent["t"] >= warm_up) & (sent["t"] < warm_up + window)]
    setup = [
        float(str(detail).rsplit("delays=", 1)[1].split("/")[2]) for detail in inside["detail"]
    ]
    assert len(sent) < backlog, "the backlog ran dry: the experiment would not be saturated"
    return len(inside) / window, float(np.mean(setup))


def interval(samples: list[float]) -> tuple[float, float]:
    """95 % Student-t confidence interval of the mean."""
    mean = float(np.mean(samples))
    half = stats.t.ppf(0.975, len(samples) - 1) * np.std(samples, ddof=1) / np.sqrt(len(samples))
    return mean - half, mean + half


def check_rule(n: int, c: int, timeout: float, window_timeouts: float = 40.0) -> None:
    results = [
        replication(n, c, timeout, seed, window_timeouts * timeout)
        for seed in range(1, REPLICATIONS + 1)
    ]
    throughput = interval([x for x, _ in results])
    setup = interval([s for _, s in results])
    bound = c * n / timeout
    exact = c / (timeout / n + SERVICE_S)
    assert throughput[0] <= exact <= throughput[1], (throughput, exact)
    assert throughput[0] <= bound, (throughput, bound)  # "at most" c * N / T
    assert bound - exact < 0.01 * bound  # so the rule's figure is what one measures
    assert setup[0] <= timeout / n + SERVICE_S <= setup[1], (setup, timeout / n)


@pytest.mark.parametrize(
    ("n", "c", "timeout"),
    [
        (2, 20, 30.0),  # default smtp_connect_timeout and concurrency limit
        (3, 10, 5.0),  # the README's "values as low as 5s"
        (4, 8, 10.0),
    ],
)
def test_dead_mx_limits_throughput_to_concurrency_times_n_over_connect_timeout(
    n: int, c: int, timeout: float
) -> None:
    check_rule(n, c, timeout)


@pytest.mark.slow
def test_the_readme_example_100_concurrency_2_mx_30s_gives_about_6_per_second() -> None:
    """Concurrency 100, 2 MX hosts, 30 s: 100 * 2 / 30 ~= 6.7 messages per second."""
    check_rule(2, 100, 30.0, window_timeouts=20.0)
