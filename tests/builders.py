"""Small scenarios built with the Python API, for simulation tests."""

from __future__ import annotations

from mailsim.scenario.model import (
    DAEMONS,
    Capacity,
    Distribution,
    DNSConfig,
    FetchConfig,
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

ZERO = Distribution.constant(0.0)
#: the exact-log tests' constant service times (seconds), worked out by hand in their docstrings
EXACT_TIMES = {
    "smtpd": Distribution.constant(0.1),
    "cleanup": Distribution.constant(0.01),
    "qmgr": Distribution.constant(0.001),
    "local": Distribution.constant(0.02),
    "mda": Distribution.constant(0.03),
    "smtp": Distribution.constant(0.05),
    "pop3d": Distribution.constant(0.004),
}
ALL_DAEMONS_FREE = dict.fromkeys(DAEMONS, ZERO)


def host(
    name: str,
    address: str,
    domain: str,
    *,
    capacity: dict[str, Distribution] | None = None,
    **postfix: str,
) -> Host:
    settings = {
        "mydomain": domain,
        "mydestination": "$myhostname, $mydomain",
        "mynetworks": "127.0.0.0/8",
        # as the real Postfix 3.7 of ../shared/data/postfix-logs (the 3.x default defers: 454)
        "smtpd_relay_restrictions": (
            "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
        ),
        **postfix,
    }
    return Host(
        name=name,
        address=address,
        postfix=PostfixSettings(name, settings),
        capacity=Capacity({**ALL_DAEMONS_FREE, **(capacity or {})}),
    )


def two_domains(
    capacity: dict[str, Distribution] | None = None,
    latency: float = 0.0,
    fetch: FetchConfig | None = None,
    **postfix: str,
) -> Scenario:
    """mx.a.test (10.0.0.1, LAN 10.0.0.0/24) and mx.b.test (10.0.1.1), users alice@a, bob@a,
    carol@b; MX records for both domains; free daemons unless ``capacity`` says otherwise."""
    a = host(
        "mx.a.test",
        "10.0.0.1",
        "a.test",
        capacity=capacity,
        mynetworks="127.0.0.0/8, 10.0.0.0/24",
        **postfix,
    )
    b = host("mx.b.test", "10.0.1.1", "b.test", capacity=capacity)
    zones = {
        "a.test": Zone("a.test", 3600.0, (MXRecord(10, "mx.a.test"),), {"mx.a.test": "10.0.0.1"}),
        "b.test": Zone("b.test", 3600.0, (MXRecord(10, "mx.b.test"),), {"mx.b.test": "10.0.1.1"}),
    }
    users = (
        User("alice@a.test", "mx.a.test", client_address="10.0.0.5", submit_host="mx.a.test"),
        User(
            "bob@a.test",
            "mx.a.test",
            client_address="10.0.0.6",
            submit_host="mx.a.test",
            fetch=fetch,
        ),
        User("carol@b.test", "mx.b.test", client_address="10.0.1.7", submit_host="mx.b.test"),
    )
    return Scenario(
        name="two-domains",
        hosts={"mx.a.test": a, "mx.b.test": b},
        dns=DNSConfig(zones, lookup_time=ZERO),
        users=users,
        links=(Link(latency=latency, bandwidth=0.0),),
        duration=100.0,
        drain=100.0,
        seed=1,
    )


def single_stage(lam: float, mu: float, servers: int, duration: float, seed: int) -> Scenario:
    """One MTA whose smtpd has ``servers`` processes and Exp(mu) service; all else free.

    Poisson(lam) arrivals from a LAN client to a local user: an M/M/c queue at smtpd.
    """
    mta = host(
        "mx.q.test",
        "10.9.0.1",
        "q.test",
        capacity={"smtpd": Distribution.exponential(1.0 / mu)},
        mynetworks="10.9.0.0/24",
        smtpd_process_limit=str(servers),
    )
    stream = Stream(
        name="poisson",
        rate=lam,
        senders=(Weighted("u@q.test"),),
        recipients=(Weighted("v@q.test"),),
        size=Distribution.constant(2000.0),
    )
    users = (
        User("u@q.test", "mx.q.test", client_address="10.9.0.2", submit_host="mx.q.test"),
        User("v@q.test", "mx.q.test", client_address="10.9.0.3", submit_host="mx.q.test"),
    )
    return Scenario(
        name=f"mmc-{lam}-{mu}-{servers}",
        hosts={"mx.q.test": mta},
        dns=DNSConfig({}, lookup_time=ZERO),
        users=users,
        links=(Link(latency=0.0, bandwidth=0.0),),
        workload=Workload((stream,)),
        duration=duration,
        drain=60.0,
        seed=seed,
    )
