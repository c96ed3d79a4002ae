"""One simulated day, a million messages, and the biggest destination down for three hours.

The capacity planner's question from the README ("what happens to the deferred queue if our
biggest peer is down for 3 hours?") at full scale: an outbound relay ``relay.isp.example``
receives 1,000,000 messages over 24 h from its LAN (Poisson, about 11.6 messages/s) for ten
partner domains whose shares follow a Zipf law (the biggest, ``big.example``, gets about a third);
``mx.big.example`` is down from 10:00 to 13:00. Every partner runs its own simulated MTA, so each
message makes two hops. Prints wall time, simulated messages/s, events/s, peak RSS, the deferred
queue's peak and when it drained, and as its last line one JSON object.

Target (issue 3) on this 2-core machine: under 2 minutes and under 1.5 GiB.

Usage: ``python bench/outage_day.py [--messages N] [--hours H]``
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailsim.scenario.faults import HostBehaviour, Outage  # noqa: E402
from mailsim.scenario.model import (  # noqa: E402
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
from mailsim.scenario.postfix import PostfixSettings  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()

    from mailsim.sim import Simulation

    scenario = outage_scenario(args.messages, args.hours)
    started = time.perf_counter()
    sim = Simulation(scenario)
    sim.run()
    wall = time.perf_counter() - started
    events = len(sim.log)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    frame = sim.log.to_frame()
    relay = frame[frame["node"] == "relay.isp.example"]
    kinds = relay["event"].astype(str)
    deferred_attempts = int(((kinds == "deferred") & (relay["recipient"] != "")).sum())
    figures = {
        "messages": sim.arrived,
        "events": events,
        "wall_s": wall,
        "messages_per_s": sim.arrived / wall,
        "events_per_s": events / wall,
        "peak_rss_mib": rss_mib,
        "deferred_attempts_at_relay": deferred_attempts,
        "delivered": int((frame["event"].astype(str) == "delivered").sum()),
    }
    rows = [
        ("simulated messages", f"{sim.arrived:,}"),
        ("events", f"{events:,}"),
        ("wall time", f"{wall:.1f} s (target < 120 s)"),
        ("messages / s", f"{figures['messages_per_s']:,.0f}"),
        ("events / s", f"{figures['events_per_s']:,.0f}"),
        ("peak RSS", f"{rss_mib:,.0f} MiB (target < 1536 MiB)"),
        ("deferred delivery attempts at the relay", f"{deferred_attempts:,}"),
        ("recipients delivered", f"{figures['delivered']:,}"),
    ]
    print(
        f"outage day: {args.hours:g} h, big.example down {OUTAGE[0] / 3600:g}:00-"
        f"{OUTAGE[1] / 3600:g}:00"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
