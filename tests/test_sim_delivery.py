"""Delivery paths of the simulated smtp client: MX order, next MX on failure, DNS errors, retry.

All daemons are free and links have no latency unless a test says otherwise, so every time in
these logs can be worked out by hand.
"""

from __future__ import annotations

from dataclasses import replace

from mailsim.scenario.model import DNSConfig, Link, MXRecord, Scenario, Zone
from mailsim.sim import Simulation
from mailsim.workload import Arrival

from builders import two_domains


def run(scenario: Scenario, *arrivals: Arrival) -> list[tuple[object, ...]]:
    sim = Simulation(scenario, arrivals=iter(arrivals))
    sim.run()
    return [
        (round(e.t, 9), e.node, e.daemon, e.event, e.recipient, e.dsn, e.relay, e.detail)
        for e in sim.log.rows()
    ]


def with_zone(scenario: Scenario, zone: Zone) -> Scenario:
    zones = {**scenario.dns.zones, zone.origin: zone}
    return replace(scenario, dns=DNSConfig(zones, scenario.dns.lookup_time))


def to_carol(t: float = 1.0, rcpt: str = "carol@b.test") -> Arrival:
    return Arrival(t, 1, "alice@a.test", (rcpt,), 1000)


def test_next_mx_is_tried_when_the_preferred_one_refuses() -> None:
    """RFC 5321 5.1: try MX hosts in preference order; mx0.b.test (pref 5) has no server."""
    zone = Zone(
        "b.test",
        3600.0,
        (MXRecord(5, "mx0.b.test"), MXRecord(10, "mx.b.test")),
        {"mx0.b.test": "10.0.1.9", "mx.b.test": "10.0.1.1"},
    )
    scenario = with_zone(two_domains(), zone)
    scenario = replace(scenario, links=(Link(latency=0.01, bandwidth=0.0),))
    log = run(scenario, to_carol())
    sent = [row for row in log if row[3] == "sent"]
    assert len(sent) == 1 and sent[0][6] == "mx.b.test[10.0.1.1]:25"
    connect = next(row for row in log if row[1] == "mx.b.test" and row[3] == "connect")
    # submit 1.0 + client latency 0.01 = smtpd at 1.01; the session's wire time is 5 round trips
    # (0.1 s) -> received, queued, active and smtp at 1.11; mx0 refuses after a round trip
    # (0.02), then 0.01 to reach mx.b.test
    assert connect[0] == 1.14


def test_unknown_domain_bounces_with_5_4_4() -> None:
    log = run(two_domains(), to_carol(rcpt="x@nowhere.test"))
    bounced = [row for row in log if row[3] == "bounced"]
    assert [(b[4], b[5]) for b in bounced] == [("x@nowhere.test", "5.4.4")]
    assert "Host or domain name not found" in str(bounced[0][7])
    assert [row[3] for row in log if row[2] == "dns"] == ["dns_fail"]


def test_dns_answers_are_cached_for_the_ttl() -> None:
    arrivals = [to_carol(1.0), Arrival(2.0, 2, "alice@a.test", ("carol@b.test",), 1000)]
    sim = Simulation(two_domains(), arrivals=iter(arrivals))
    sim.run()
    assert [e.event for e in sim.log.rows() if e.daemon == "dns"] == ["dns_query"]


def test_unreachable_destination_is_retried_with_postfix_backoff_then_expires() -> None:
    """qmgr(8): a deferred message waits its age clamped to [minimal_backoff_time,
    maximal_backoff_time]; the deferred queue is scanned every queue_run_delay; past
    maximal_queue_lifetime the message is returned to sender.

    minimal 30 s, maximal 60 s, scan 15 s, lifetime 120 s (the real Postfix run's settings).
    Changed with issue 3's Postfix-exact queue manager: scans run at 0, 15, 30, ... (qmgr scans
    at start-up, then every queue_run_delay), times are whole seconds, and a scan takes files due
    within the next second (qmgr_active_feed()). Created at 1: attempt 1 (age 0 -> wait 30 ->
    stamp 31, taken by the scan at 30), 30 (age 29 -> 30 -> stamp 60), 60 (age 59 -> stamp 119,
    scan at 120), 120 (age 119 < 120: deferred again, stamp 180), 180 (age 179 >= 120 ->
    expired). The simple qmgr gave 1, 31, 61, 121. The real log shows the same rhythm (a message
    created at 00:13:14 was tried at :14, :55, 14:40 and expired at 15:40).
    """
    zone = Zone("c.test", 3600.0, (MXRecord(10, "mx.c.test"),), {"mx.c.test": "10.0.2.1"})
    scenario = with_zone(
        two_domains(
            minimal_backoff_time="30s",
            maximal_backoff_time="60s",
            queue_run_delay="15s",
            maximal_queue_lifetime="2m",
        ),
        zone,
    )
    scenario = replace(scenario, drain=300.0)
    sim = Simulation(scenario, arrivals=iter([to_carol(rcpt="dan@c.test")]))
    sim.run()
    log = [
        (round(e.t, 9), e.daemon, e.event, e.recipient, e.dsn, e.detail)
        for e in sim.log.rows()
        if e.msg == "m1" and e.node == "mx.a.test"
    ]
    attempts = [row[0] for row in log if row[2] == "deferred" and row[3] == "dan@c.test"]
    assert attempts == [1.0, 30.0, 60.0, 120.0, 180.0]
    assert all(row[4] == "4.4.1" for row in log if row[2] == "deferred" and row[3])
    assert "connect to mx.c.test[10.0.2.1]:25: Connection refused" in next(
        str(row[5]) for row in log if row[2] == "deferred" and row[3]
    )
    final = [(row[0], row[2], row[4]) for row in log if row[2] in ("bounced", "expired")]
    assert final == [(180.0, "bounced", "5.4.7"), (180.0, "expired", "")]
    queue = [(row[0], row[2]) for row in log if row[1] == "qmgr"]
    assert queue == [
        (1.0, "active"),
        (1.0, "deferred"),
        (30.0, "active"),
        (30.0, "deferred"),
        (60.0, "active"),
        (60.0, "deferred"),
        (120.0, "active"),
        (120.0, "deferred"),
        (180.0, "active"),
        (180.0, "bounced"),
        (180.0, "expired"),
    ]
    # the non-delivery notification (issue 3) is a message of its own, from <> to alice
    notice = [row for row in log if row[2] == "bounce_notice"]
    assert len(notice) == 1 and notice[0][0] == 180.0


def test_remote_rejection_is_a_bounce_at_the_sender() -> None:
    """A 5xx at RCPT from the next MTA bounces the recipient (smtp(8) 'host ... said')."""
    log = run(two_domains(), to_carol(rcpt="nobody@b.test"))
    bounced = [row for row in log if row[3] == "bounced"]
    assert len(bounced) == 1 and bounced[0][1] == "mx.a.test" and bounced[0][5] == "5.1.1"
    assert str(bounced[0][7]).startswith("host mx.b.test[10.0.1.1] said: 550 5.1.1 <nobody@b.test>")
    assert str(bounced[0][7]).endswith("(in reply to RCPT TO command) delays=0/0/0/0")
