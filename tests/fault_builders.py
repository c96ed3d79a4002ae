"""Scenarios for the DNS, network and fault tests: a destination c.test with several MX hosts.

Built on builders.two_domains (mx.a.test sends, alice@a.test submits from 10.0.0.5). Every MX
host of c.test delivers dan@, eve@ and old.dan@c.test locally to /dev/null (aliases), so any of
them can take the mail; each can be given a :class:`HostBehaviour`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mailsim.scenario.faults import DNSFault, HostBehaviour
from mailsim.scenario.model import (
    Distribution,
    DNSConfig,
    Link,
    MXRecord,
    Scenario,
    Zone,
)
from mailsim.sim import Simulation
from mailsim.sim.mta import MTANode
from mailsim.sim.qmgr import PostfixQueueManager, QueueManager
from mailsim.sim.records import DeliveryJob
from mailsim.workload import Arrival

from builders import EXACT_TIMES, host, two_domains

TIMES = EXACT_TIMES
Row = tuple[object, ...]


def mx_domain(
    mx: list[tuple[int, str]],
    behaviour: dict[str, HostBehaviour] | None = None,
    *,
    domain: str = "c.test",
    ttl: float = 3600.0,
    hosts_without_server: tuple[str, ...] = (),
    dns_faults: tuple[DNSFault, ...] = (),
    latency: float = 0.0,
    capacity: dict[str, Distribution] | None = None,
    sender_postfix: dict[str, str] | None = None,
    drain: float = 100.0,
    aliases: tuple[str, ...] = ("dan", "eve", "old.dan"),
) -> Scenario:
    """two_domains plus ``domain`` with MX hosts ``(preference, name)``; host i gets the address
    10.0.2.<i+1>. Names in ``hosts_without_server`` get an A record but no MTA (refused)."""
    base = two_domains(capacity=capacity, latency=latency, **(sender_postfix or {}))
    hosts = dict(base.hosts)
    records: list[MXRecord] = []
    a: dict[str, str] = {}
    for index, (preference, name) in enumerate(mx):
        address = f"10.0.2.{index + 1}"
        records.append(MXRecord(preference, name))
        a[name] = address
        if name in hosts_without_server:
            continue
        mta = host(name, address, domain, capacity=capacity)
        hosts[name] = replace(
            mta,
            aliases={alias: ("/dev/null",) for alias in aliases},
            behaviour=(behaviour or {}).get(name, HostBehaviour()),
        )
    zones = {**base.dns.zones, domain: Zone(domain, ttl, tuple(records), a)}
    return replace(
        base,
        hosts=hosts,
        dns=DNSConfig(zones, base.dns.lookup_time, dns_faults),
        links=(Link(latency=latency, bandwidth=0.0),),
        drain=drain,
    )


def to_dan(t: float = 1.0, msg: int = 1, rcpts: tuple[str, ...] = ("dan@c.test",)) -> Arrival:
    return Arrival(t, msg, "alice@a.test", rcpts, 1000)


def run(
    scenario: Scenario,
    *arrivals: Arrival,
    seed: int | None = None,
    queue_manager: Callable[[MTANode], QueueManager] | None = None,
) -> list[Row]:
    """Simulate and return (t, node, daemon, event, recipient, dsn, relay, detail) rows."""
    sim = Simulation(scenario, arrivals=iter(arrivals), seed=seed, queue_manager=queue_manager)
    sim.run()
    return [
        (round(e.t, 9), e.node, e.daemon, e.event, e.recipient, e.dsn, e.relay, e.detail)
        for e in sim.log.rows()
    ]


def at(log: list[Row], node: str, *events: str) -> list[Row]:
    """The rows of ``node`` with one of ``events``."""
    return [row for row in log if row[1] == node and row[3] in events]


def strip_delays(detail: object) -> str:
    """The detail without its trailing `` delays=a/b/c/d``."""
    return str(detail).rsplit(" delays=", 1)[0]


def recording_qmgr(sink: list[tuple[str, str]]) -> Callable[[MTANode], QueueManager]:
    """A queue-manager factory that records (nexthop, site_failure) of every finished job."""

    def factory(node: MTANode) -> QueueManager:
        qmgr = PostfixQueueManager(node)
        delivered = qmgr.delivered

        def record(job: DeliveryJob, site_failure: str = "", site_dsn: str = "") -> None:
            if job.transport == "smtp":
                sink.append((job.nexthop, site_failure))
            delivered(job, site_failure, site_dsn)

        qmgr.delivered = record  # type: ignore[method-assign]
        return qmgr

    return factory
