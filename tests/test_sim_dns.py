"""The smtp client's DNS: MX order, implicit MX, NXDOMAIN/SERVFAIL/timeout, TTL cache, limits.

Service times as in test_sim_exact_log (smtpd 0.1, cleanup 0.01, qmgr 0.001, smtp 0.05), free
DNS queries and no latency: alice's message to c.test arrives at t = 1 and mx.a.test's smtp(8)
looks up c.test at 1.161. Texts are Postfix 3.x's (dns_lookup.c, smtp_addr.c, smtp_connect.c).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from scipy import stats

from mailsim.scenario.faults import DNSFault, HostBehaviour, Outage, ReplyRule
from mailsim.scenario.model import DNSConfig, MXRecord, Zone
from mailsim.sim import Simulation
from mailsim.sim.dns import RESOLVER_TIMEOUT_S

from builders import host, two_domains
from fault_builders import TIMES, at, mx_domain, recording_qmgr, run, strip_delays, to_dan

SENDER = "mx.a.test"
DOWN = HostBehaviour(down=(Outage(0.0, 1e9),))


def test_mx_hosts_are_tried_lowest_preference_first() -> None:
    """RFC 5321 5.1: the zone lists mx1 at 20 and mx2 at 10; mx2 gets the mail."""
    scenario = mx_domain([(20, "mx1.c.test"), (10, "mx2.c.test")], capacity=TIMES)
    log = run(scenario, to_dan())
    assert at(log, SENDER, "dns_query", "sent")[0][7] == (
        "MX c.test: mx2.c.test[10.0.2.2] mx1.c.test[10.0.2.1]"
    )
    assert [row[6] for row in at(log, SENDER, "sent")] == ["mx2.c.test[10.0.2.2]:25"]
    assert at(log, "mx1.c.test", "connect") == []


def test_equal_preferences_are_shuffled_per_delivery_and_reproducibly() -> None:
    """smtp_randomize_addresses = yes: each delivery draws the order of equal-preference hosts
    from the node's own stream (dns/mx.a.test), so a seed fixes the sequence; the split is
    Binomial(n, 1/2)."""
    scenario = mx_domain([(10, "mx1.c.test"), (10, "mx2.c.test")])
    arrivals = [to_dan(1.0 + i, i + 1) for i in range(200)]

    def relays(seed: int) -> list[object]:
        return [row[6] for row in at(run(scenario, *arrivals, seed=seed), SENDER, "sent")]

    first, again, other = relays(1), relays(1), relays(2)
    assert first == again and first != other
    count = Counter(first)["mx1.c.test[10.0.2.1]:25"]
    assert stats.binomtest(count, 200, 0.5).pvalue > 0.001
    fixed = replace(scenario, hosts=dict(scenario.hosts))
    sender = fixed.hosts[SENDER]
    fixed.hosts[SENDER] = replace(
        sender, postfix=sender.postfix.with_values(smtp_randomize_addresses="no")
    )
    assert set(relays_of(fixed, arrivals)) == {"mx1.c.test[10.0.2.1]:25"}


def relays_of(scenario: object, arrivals: list[object]) -> list[object]:
    return [row[6] for row in at(run(scenario, *arrivals), SENDER, "sent")]  # type: ignore[arg-type]


def test_a_domain_without_mx_records_gets_its_a_record() -> None:
    """RFC 5321 5.1 implicit MX: d.test has only an A record, so mail goes to d.test itself."""
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES)
    target = replace(
        host("d.test", "10.0.3.1", "d.test", capacity=TIMES), aliases={"dan": ("/dev/null",)}
    )
    zones = {**scenario.dns.zones, "d.test": Zone("d.test", 3600.0, (), {"d.test": "10.0.3.1"})}
    scenario = replace(
        scenario,
        hosts={**scenario.hosts, "d.test": target},
        dns=DNSConfig(zones, scenario.dns.lookup_time),
    )
    log = run(scenario, to_dan(rcpts=("dan@d.test",)))
    assert [row[:4] + row[6:] for row in at(log, SENDER, "dns_query")] == [
        (1.161, SENDER, "dns", "dns_query", "", "MX d.test: d.test[10.0.3.1]")
    ]
    sent = at(log, SENDER, "sent")
    assert [(row[0], row[6]) for row in sent] == [(1.271, "d.test[10.0.3.1]:25")]


def test_nxdomain_bounces_with_5_4_4_after_the_a_lookup() -> None:
    """The MX lookup finds nothing, nor does the A fallback: Postfix logs the last lookup
    (type=A for an IPv4-only client), dsn 5.4.4, relay=none."""
    log = run(mx_domain([(10, "mx1.c.test")], capacity=TIMES), to_dan(rcpts=("x@nowhere.test",)))
    text = "Host or domain name not found. Name service error for name=nowhere.test type=A: "
    assert [row[:8] for row in at(log, SENDER, "dns_fail", "bounced")] == [
        (
            1.161,
            SENDER,
            "dns",
            "dns_fail",
            "",
            "5.4.4",
            "",
            f"MX nowhere.test: {text}Host not found",
        ),
        (
            1.161,
            SENDER,
            "smtp",
            "bounced",
            "x@nowhere.test",
            "5.4.4",
            "none",
            f"{text}Host not found delays=0.11/0/0.05/0",
        ),
    ]


def test_a_name_without_the_record_is_nodata() -> None:
    """The zone e.test exists but has neither MX nor A record for e.test."""
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES)
    zones = {**scenario.dns.zones, "e.test": Zone("e.test", 3600.0)}
    scenario = replace(scenario, dns=DNSConfig(zones, scenario.dns.lookup_time))
    bounced = at(run(scenario, to_dan(rcpts=("x@e.test",))), SENDER, "bounced")
    assert [(row[5], strip_delays(row[7])) for row in bounced] == [
        (
            "5.4.4",
            "Host or domain name not found. Name service error for name=e.test type=A: "
            "Host found but no data record of requested type",
        )
    ]


def test_servfail_defers_with_4_4_3_and_is_a_site_failure() -> None:
    """SERVFAIL: 'Host not found, try again', 4.4.3, deferred; smtp_sess_fail() throttles the
    destination, so qmgr hears of a site failure. Not cached: the retry after the fault window
    queries again and delivers."""
    fault = DNSFault("c.test", "servfail", 0.0, 20.0)
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES, dns_faults=(fault,), drain=1000)
    failures: list[tuple[str, str]] = []
    log = run(scenario, to_dan(), queue_manager=recording_qmgr(failures))
    text = (
        "Host or domain name not found. Name service error for name=c.test type=MX: "
        "Host not found, try again"
    )
    deferred = at(log, SENDER, "deferred")[0]
    assert deferred[:7] == (1.161, SENDER, "smtp", "deferred", "dan@c.test", "4.4.3", "none")
    assert strip_delays(deferred[7]) == text
    assert failures[0] == ("c.test", text)
    assert [row[3] for row in at(log, SENDER, "dns_query", "dns_fail")] == ["dns_fail", "dns_query"]
    assert len(at(log, SENDER, "sent")) == 1 and failures[1] == ("c.test", "")


def test_a_resolver_timeout_costs_the_resolver_timeout() -> None:
    fault = DNSFault("c.test", "timeout", 0.0, 5.0)
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES, dns_faults=(fault,))
    deferred = at(run(scenario, to_dan()), SENDER, "deferred")[0]
    assert deferred[0] == round(1.161 + RESOLVER_TIMEOUT_S, 9) and deferred[5] == "4.4.3"


def test_answers_are_cached_for_the_ttl_and_the_cache_hides_a_dns_fault() -> None:
    """TTL 100 s: lookups at 1.161 and (after expiry) 150.161; a SERVFAIL from 10 to 100 is
    never seen because the cached answer is still valid then."""
    fault = DNSFault("c.test", "servfail", 10.0, 100.0)
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES, ttl=100.0, dns_faults=(fault,))
    log = run(scenario, to_dan(1.0, 1), to_dan(50.0, 2), to_dan(150.0, 3))
    assert [row[0] for row in at(log, SENDER, "dns_query", "dns_fail")] == [1.161, 150.161]
    assert len(at(log, SENDER, "sent")) == 3


def test_mx_address_limit_stops_before_the_last_host() -> None:
    """smtp_mx_address_limit = 2: of three MX hosts the first two refuse; the third is never
    tried, and the message is deferred with the last error, relay=none."""
    mx = [(10, "mx1.c.test"), (20, "mx2.c.test"), (30, "mx3.c.test")]
    refused = ("mx1.c.test", "mx2.c.test")
    limited = mx_domain(
        mx,
        capacity=TIMES,
        hosts_without_server=refused,
        sender_postfix={"smtp_mx_address_limit": "2"},
    )
    log = run(limited, to_dan())
    assert [row[6] for row in at(log, SENDER, "connect_fail")] == [
        "mx1.c.test[10.0.2.1]:25",
        "mx2.c.test[10.0.2.2]:25",
    ]
    deferred = at(log, SENDER, "deferred")[0]
    assert (deferred[5], deferred[6], strip_delays(deferred[7])) == (
        "4.4.1",
        "none",
        "connect to mx2.c.test[10.0.2.2]:25: Connection refused",
    )
    default = mx_domain(mx, capacity=TIMES, hosts_without_server=refused)
    assert [row[6] for row in at(run(default, to_dan()), SENDER, "sent")] == [
        "mx3.c.test[10.0.2.3]:25"
    ]


def test_mx_session_limit_counts_sessions_past_ehlo_only() -> None:
    """smtp_mx_session_limit = 2 (default): mx1 refuses to talk (not a session), mx2 answers 450
    at RCPT (session 1, not final: the recipient goes on), mx3 accepts (session 2). With mx1
    healthy too, mx2 is session 2 and final: deferred there, mx3 never tried."""
    busy = HostBehaviour(replies=(ReplyRule("450 4.2.1 Mailbox busy"),))
    shut = HostBehaviour(replies=(ReplyRule("421 4.3.2 Shutting down", stage="connect"),))
    mx = [(10, "mx1.c.test"), (20, "mx2.c.test"), (30, "mx3.c.test")]
    log = run(mx_domain(mx, {"mx1.c.test": shut, "mx2.c.test": busy}), to_dan())
    assert [(row[3], row[6]) for row in at(log, SENDER, "connect_fail", "skipped", "sent")] == [
        ("connect_fail", "mx1.c.test[10.0.2.1]:25"),
        ("skipped", "mx2.c.test[10.0.2.2]:25"),
        ("sent", "mx3.c.test[10.0.2.3]:25"),
    ]
    assert at(log, SENDER, "connect_fail")[0][7] == (
        "host mx1.c.test[10.0.2.1] refused to talk to me: 421 4.3.2 Shutting down"
    )
    log = run(mx_domain(mx, {"mx1.c.test": busy, "mx2.c.test": busy}), to_dan())
    assert [(row[3], row[6]) for row in at(log, SENDER, "skipped", "deferred")][:2] == [
        ("skipped", "mx1.c.test[10.0.2.1]:25"),
        ("deferred", "mx2.c.test[10.0.2.2]:25"),
    ]
    assert at(log, "mx3.c.test", "connect") == []


def test_next_mx_after_a_host_that_is_down_costs_the_connect_timeout() -> None:
    """mx1 (pref 10) is down: connect() gives up after smtp_connect_timeout (30 s), Postfix logs
    'connect to ...: Connection timed out' and tries mx2; delays c holds the 30 s."""
    scenario = mx_domain(
        [(10, "mx1.c.test"), (20, "mx2.c.test")], {"mx1.c.test": DOWN}, capacity=TIMES
    )
    log = run(scenario, to_dan())
    assert [row[:8] for row in at(log, SENDER, "connect_fail")] == [
        (
            31.161,
            SENDER,
            "smtp",
            "connect_fail",
            "",
            "4.4.1",
            "mx1.c.test[10.0.2.1]:25",
            "connect to mx1.c.test[10.0.2.1]:25: Connection timed out",
        )
    ]
    sent = at(log, SENDER, "sent")[0]
    assert sent[0] == 31.271 and sent[7].endswith("delays=0.11/0/30/0.11")  # type: ignore[union-attr]


def test_a_backup_mx_relays_only_to_better_mx_hosts() -> None:
    """smtp_truncate_self(): the backup mx2 (pref 20, relay_domains = c.test) finds itself in the
    MX list and tries only mx1; while mx1 is down it defers instead of looping to itself."""
    scenario = mx_domain([(10, "mx1.c.test"), (20, "mx2.c.test")], capacity=TIMES, drain=1000.0)
    backup = host(
        "mx2.c.test",
        "10.0.2.2",
        "c.test",
        capacity=TIMES,
        mydestination="$myhostname",
        relay_domains="c.test",
    )
    outage = HostBehaviour(down=(Outage(0.0, 50.0),))
    hosts = {**scenario.hosts, "mx2.c.test": backup}
    hosts["mx1.c.test"] = replace(hosts["mx1.c.test"], behaviour=outage)
    log = run(replace(scenario, hosts=hosts), to_dan())
    assert [row[6] for row in at(log, SENDER, "sent")] == ["mx2.c.test[10.0.2.2]:25"]
    relayed = [
        row for row in at(log, "mx2.c.test", "connect_fail", "deferred", "sent") if row[2] == "smtp"
    ]
    assert relayed[0][3:7] == ("connect_fail", "", "4.4.1", "mx1.c.test[10.0.2.1]:25")
    assert relayed[1][3:7] == ("deferred", "dan@c.test", "4.4.1", "none")
    assert relayed[-1][3:7] == ("sent", "dan@c.test", "2.0.0", "mx1.c.test[10.0.2.1]:25")
    assert {row[6] for row in relayed} == {"mx1.c.test[10.0.2.1]:25", "none"}


def test_mail_for_a_domain_whose_best_mx_is_this_host_loops_back() -> None:
    """A host relaying c.test while being its only MX bounces with 5.4.6 (smtp_addr.c)."""
    scenario = two_domains(capacity=TIMES, relay_domains="c.test")
    zone = Zone("c.test", 3600.0, (MXRecord(10, SENDER),), {SENDER: "10.0.0.1"})
    zones = {**scenario.dns.zones, "c.test": zone}
    scenario = replace(scenario, dns=DNSConfig(zones, scenario.dns.lookup_time))
    bounced = at(run(scenario, to_dan()), SENDER, "bounced")
    assert [(row[5], row[6], strip_delays(row[7])) for row in bounced] == [
        ("5.4.6", "none", "mail for c.test loops back to myself")
    ]


def test_mx_hosts_without_addresses_bounce_or_defer_per_setting() -> None:
    """No MX host has an A record: the last lookup's error with 5.4.4, or 4.4.4 with
    smtp_defer_if_no_mx_address_found = yes."""
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES)
    zones = dict(scenario.dns.zones)
    zones["c.test"] = replace(zones["c.test"], a={})
    scenario = replace(scenario, dns=DNSConfig(zones, scenario.dns.lookup_time))
    text = (
        "Host or domain name not found. Name service error for name=mx1.c.test type=A: "
        "Host not found"
    )
    bounced = at(run(scenario, to_dan()), SENDER, "bounced")
    assert [(row[5], strip_delays(row[7])) for row in bounced] == [("5.4.4", text)]
    scenario = replace(scenario, hosts=dict(scenario.hosts))
    sender = scenario.hosts[SENDER]
    scenario.hosts[SENDER] = replace(  # type: ignore[index]
        sender, postfix=sender.postfix.with_values(smtp_defer_if_no_mx_address_found="yes")
    )
    deferred = at(run(scenario, to_dan()), SENDER, "deferred")
    assert [(row[5], strip_delays(row[7])) for row in deferred][:1] == [("4.4.4", text)]


def test_a_destination_dead_from_dns_failures_suspends_with_4_4_3() -> None:
    """Three SERVFAILs in a row kill the destination (failed cohort limit); the mail that then
    waits for it is deferred by error(8) 'delivery temporarily suspended' with the DNS failure's
    own status 4.4.3 (not the 4.4.1 of a connection failure)."""
    fault = DNSFault("c.test", "servfail", 0.0, 10_000.0)
    scenario = mx_domain([(10, "mx1.c.test")], capacity=TIMES, dns_faults=(fault,), drain=100)
    arrivals = [to_dan(1.0 + i * 0.001, msg=i + 1) for i in range(12)]
    sim = Simulation(scenario, arrivals=iter(arrivals))
    sim.run()
    suspended = [
        e
        for e in sim.log.rows()
        if e.node == SENDER and e.daemon == "error" and e.event == "deferred"
    ]
    assert suspended, "the destination was never declared dead"
    assert {e.dsn for e in suspended} == {"4.4.3"}
    assert all(
        "delivery temporarily suspended: Host or domain name not found" in e.detail
        for e in suspended
    )
