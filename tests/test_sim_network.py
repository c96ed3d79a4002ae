"""Links: per-pair latency and bandwidth, and what they cost an SMTP session (network.py).

A session costs five round trips (banner, EHLO, MAIL+RCPT+DATA pipelined, end of data, QUIT;
RFC 2920) plus size / bandwidth for the message; the client waits one latency to connect and one
for the final reply. Other pairs use the link without ``between``.
"""

from __future__ import annotations

from dataclasses import replace

from mailsim.scenario.model import Link
from mailsim.workload import Arrival

from fault_builders import TIMES, at, mx_domain, run


def test_latency_and_bandwidth_of_the_link_between_two_mtas() -> None:
    """mx.a.test <-> mx1.c.test: 20 ms, 10 kB/s; a 5000-byte message. smtp(8) starts at 1.161
    (as in test_sim_dns), reaches mx1 at 1.181; mx1's smtpd takes 0.1 + 10 x 0.02 + 0.5 and
    cleanup 0.01 (1.991), and the 250 reply reaches mx.a.test at 2.011."""
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES)
    links = (Link("mx.a.test", "mx1.c.test", 0.02, 10_000.0), Link(latency=0.0, bandwidth=0.0))
    log = run(
        replace(scenario, links=links), Arrival(1.0, 1, "alice@a.test", ("dan@c.test",), 5000)
    )
    assert [row[0] for row in at(log, "mx1.c.test", "connect", "received", "queued")] == [
        1.181,
        1.981,
        1.991,
    ]
    assert [row[0] for row in at(log, "mx.a.test", "sent")] == [2.011]
