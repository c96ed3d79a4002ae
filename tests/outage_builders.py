"""The outage-day scenario: an outbound relay, ten partner domains, the biggest one down.

Used by ``bench/outage_day.py`` (one simulated day, a million messages) and by the tests of the
queue manager's behaviour during and after a long outage.
"""

from __future__ import annotations

from mailsim.scenario.faults import HostBehaviour, Outage
from mailsim.scenario.model import (
    Capacity,
    Distribution,
    DNSConfig,
    Host,
    Link,
    MXRecord,
    Scenario,
    Stream,
    User,
    Weighted,
    Workload,
    Zone,
)
from mailsim.scenario.postfix import PostfixSettings

PARTNERS = 10
OUTAGE = (10 * 3600.0, 13 * 3600.0)


def partner_domains() -> list[tuple[str, float]]:
    """Ten partner domains with Zipf(1) traffic shares; the first is the biggest."""
    names = ["big.example"] + [f"partner{i}.example" for i in range(2, PARTNERS + 1)]
    weights = [1.0 / rank for rank in range(1, PARTNERS + 1)]
    return list(zip(names, weights, strict=True))


def outage_scenario(messages: int, hours: float = 24.0) -> Scenario:
    """Build the relay, its partners, DNS, users and the day's workload."""
    duration = hours * 3600.0
    relay = Host(
        name="relay.isp.example",
        address="10.1.0.1",
        network="10.1.0.0/16",
        postfix=PostfixSettings(
            "relay.isp.example",
            {"mydomain": "isp.example", "mynetworks": "10.1.0.0/16, 127.0.0.0/8"},
        ),
        capacity=Capacity(
            {
                "smtpd": Distribution.exponential(0.010),
                "smtp": Distribution.exponential(0.005),
            }
        ),
    )
    hosts = {relay.name: relay}
    zones = {
        "isp.example": Zone(
            "isp.example", 3600.0, (MXRecord(10, relay.name),), {relay.name: relay.address}
        )
    }
    users = [
        User(f"user{i}@isp.example", relay.name, client_address=f"10.1.{i // 250}.{i % 250 + 2}")
        for i in range(200)
    ]
    recipients: list[Weighted] = []
    for index, (domain, weight) in enumerate(partner_domains()):
        mx = f"mx.{domain}"
        address = f"10.2.{index}.1"
        behaviour = HostBehaviour(down=(Outage(*OUTAGE),)) if index == 0 else HostBehaviour()
        hosts[mx] = Host(
            name=mx,
            address=address,
            postfix=PostfixSettings(
                mx, {"mydomain": domain, "mydestination": "$myhostname, $mydomain"}
            ),
            behaviour=behaviour,
        )
        zones[domain] = Zone(domain, 3600.0, (MXRecord(10, mx),), {mx: address})
        for j in range(20):
            address_j = f"contact{j}@{domain}"
            users.append(User(address_j, mx))
            recipients.append(Weighted(address_j, weight / 20))
    stream = Stream(
        name="outbound",
        rate=messages / duration,
        senders=tuple(Weighted(u.address) for u in users[:200]),
        recipients=tuple(recipients),
        size=Distribution.lognormal(3500.0, 1.1),
    )
    return Scenario(
        name="outage-day",
        hosts=hosts,
        dns=DNSConfig(zones),
        users=tuple(users),
        links=(Link(latency=0.010, bandwidth=12_500_000.0),),
        workload=Workload((stream,)),
        duration=duration,
        drain=6 * 3600.0,
        seed=3,
    )
