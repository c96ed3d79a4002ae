"""Lab addressing (DESIGN.md section 2): loopback addresses, the port plan and the lab's zones."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from mailsim.live.addressing import (
    PORT_OFFSET,
    format_plan,
    lab_plan,
    may_bind_privileged,
)
from mailsim.scenario import load_scenario
from mailsim.scenario.model import DNSConfig, MXRecord, Scenario, Zone

from builders import host

FIRMA1 = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "firma1.yaml"


@pytest.fixture(scope="module")
def firma1() -> Scenario:
    return load_scenario(FIRMA1)


def small(*, dns_host: bool = False, zones: dict[str, Zone] | None = None) -> Scenario:
    """mx.b.test and mx.a.test (given out of order), a.test and b.test with one MX each."""
    b = host("mx.b.test", "10.0.1.1", "b.test")
    a = host("mx.a.test", "10.0.0.1", "a.test")
    if dns_host:
        b = replace(b, services=("smtp", "dns"))
    default = {
        "a.test": Zone("a.test", 600.0, (MXRecord(10, "mx.a.test"),), {"mx.a.test": "10.0.0.1"}),
        "b.test": Zone("b.test", 60.0, (MXRecord(10, "mx.b.test"),), {"mx.b.test": "10.0.1.1"}),
    }
    return Scenario("small", {b.name: b, a.name: a}, DNSConfig(zones or default))


def test_hosts_get_loopback_addresses_in_sorted_order(firma1: Scenario) -> None:
    plan = lab_plan(firma1, port_offset=0)
    assert [(h.name, h.address, h.scenario_address) for h in plan.hosts] == [
        ("mx.firma2.intr", "127.0.1.1", "192.0.2.25"),
        ("mx1.firma3.intr", "127.0.1.2", "198.51.100.10"),
        ("mx2.firma3.intr", "127.0.1.3", "198.51.100.20"),
        ("neo.firma1.intr", "127.0.1.4", "195.113.106.168"),
    ]
    assert (plan.nameserver.address, plan.nameserver.port, plan.nameserver.host) == (
        "127.0.1.5",
        53,
        "",
    )


def test_standard_ports_or_one_offset(firma1: Scenario) -> None:
    standard = lab_plan(firma1, port_offset=0).host("neo.firma1.intr").ports
    assert dict(standard) == {
        "smtp": 25,
        "submission": 587,
        "pop3": 110,
        "pop3s": 995,
        "imap": 143,
        "imaps": 993,
    }
    moved = lab_plan(firma1, port_offset=PORT_OFFSET)
    assert dict(moved.host("neo.firma1.intr").ports) == {
        "smtp": 10025,
        "submission": 10587,
        "pop3": 10110,
        "pop3s": 10995,
        "imap": 10143,
        "imaps": 10993,
    }
    assert dict(moved.host("mx2.firma3.intr").ports) == {"smtp": 10025}
    assert moved.nameserver.port == moved.port("dns") == 10053


def test_default_offset_follows_the_privilege_to_bind_low_ports(firma1: Scenario) -> None:
    expected = 0 if may_bind_privileged() else PORT_OFFSET
    assert lab_plan(firma1).port_offset == expected


def test_lab_zones_point_at_lab_addresses_with_the_scenario_ttl(firma1: Scenario) -> None:
    zones = lab_plan(firma1, port_offset=0).zones
    assert list(zones) == ["firma1.intr", "firma2.intr", "firma3.intr"]
    firma1_zone = zones["firma1.intr"]
    assert firma1_zone.ttl == 38400
    assert firma1_zone.ns == ("ns.firma1.intr",)
    assert firma1_zone.mx == (MXRecord(10, "neo.firma1.intr"),)
    assert dict(firma1_zone.a) == {"neo.firma1.intr": "127.0.1.4", "ns.firma1.intr": "127.0.1.5"}
    firma3_zone = zones["firma3.intr"]
    assert firma3_zone.ttl == 3600
    assert [(mx.preference, mx.exchange) for mx in firma3_zone.mx] == [
        (10, "mx1.firma3.intr"),
        (20, "mx2.firma3.intr"),
    ]
    assert dict(firma3_zone.a) == {
        "mx1.firma3.intr": "127.0.1.2",
        "mx2.firma3.intr": "127.0.1.3",
        "ns.firma3.intr": "127.0.1.5",
    }


def test_plan_is_a_pure_function_of_the_scenario(firma1: Scenario) -> None:
    assert lab_plan(firma1, port_offset=0) == lab_plan(firma1, port_offset=0)
    plan = lab_plan(firma1, port_offset=0)
    assert plan.address("NEO.firma1.intr.") == "127.0.1.4"
    assert plan.address("ns.firma2.intr") == "127.0.1.5"
    assert plan.address("nowhere.example") == ""


def test_another_base_address() -> None:
    plan = lab_plan(small(), base="127.0.2.0", port_offset=0)
    assert [(h.name, h.address) for h in plan.hosts] == [
        ("mx.a.test", "127.0.2.1"),
        ("mx.b.test", "127.0.2.2"),
    ]
    assert plan.nameserver.address == "127.0.2.3"


@pytest.mark.parametrize(
    ("base", "offset", "message"),
    [
        ("10.0.0.0", 0, "lab base address '10.0.0.0' is not in 127.0.0.0/8"),
        ("localhost", 0, "lab base address 'localhost' is not an IPv4 address"),
        ("127.255.255.254", 0, "left 127.0.0.0/8"),
        ("127.0.1.0", -1, "port offset -1 puts ports outside 1..65535"),
        ("127.0.1.0", 65000, "port offset 65000 puts ports outside 1..65535"),
    ],
)
def test_bad_base_or_offset_is_refused(base: str, offset: int, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        lab_plan(small(), base=base, port_offset=offset)


def test_a_host_running_dns_is_the_nameserver() -> None:
    plan = lab_plan(small(dns_host=True), port_offset=PORT_OFFSET)
    assert (plan.nameserver.address, plan.nameserver.port, plan.nameserver.host) == (
        "127.0.1.2",
        10053,
        "mx.b.test",
    )
    assert plan.zones["a.test"].ns == ("mx.b.test",)
    assert dict(plan.zones["a.test"].a) == {"mx.a.test": "127.0.1.1"}
    assert dict(plan.host("mx.b.test").ports) == {"smtp": 10025, "dns": 10053}


def test_names_without_a_host_get_addresses_where_nothing_listens() -> None:
    zones = {
        "a.test": Zone(
            "a.test",
            600.0,
            (MXRecord(10, "mx.a.test"), MXRecord(20, "backup.a.test")),
            {
                "mx.a.test": "10.0.0.1",
                "www.a.test": "10.0.0.1",  # another name of mx.a.test: the same lab address
                "backup.a.test": "192.0.2.99",
                "old.a.test": "192.0.2.7",
                "ns.a.test": "10.0.0.53",  # the name is taken: the lab's nameserver is ns1
            },
        )
    }
    plan = lab_plan(small(zones=zones), port_offset=0)
    # hosts .1 and .2, the nameserver .3, then one address per scenario address, in order
    assert dict(plan.zones["a.test"].a) == {
        "backup.a.test": "127.0.1.6",
        "mx.a.test": "127.0.1.1",
        "ns.a.test": "127.0.1.4",
        "ns1.a.test": "127.0.1.3",
        "old.a.test": "127.0.1.5",
        "www.a.test": "127.0.1.1",
    }
    assert plan.zones["a.test"].ns == ("ns1.a.test",)
    assert dict(plan.unserved) == {
        "backup.a.test": "127.0.1.6",
        "ns.a.test": "127.0.1.4",
        "old.a.test": "127.0.1.5",
    }


FIRMA1_TABLE = """\
lab firma1: 4 hosts (127.0.1.1..127.0.1.4), nameserver 127.0.1.5, ports standard + 10000
(binding ports below 1024 needs root or CAP_NET_BIND_SERVICE)

host             address    service     port   try it
mx.firma2.intr   127.0.1.1  smtp        10025  telnet 127.0.1.1 10025
                            submission  10587  openssl s_client -connect 127.0.1.1:10587 -starttls smtp -CAfile lab/tls/ca.pem
                            imap        10143  telnet 127.0.1.1 10143
                            imaps       10993  openssl s_client -connect 127.0.1.1:10993 -CAfile lab/tls/ca.pem
mx1.firma3.intr  127.0.1.2  smtp        10025  telnet 127.0.1.2 10025
                            pop3        10110  telnet 127.0.1.2 10110
                            pop3s       10995  openssl s_client -connect 127.0.1.2:10995 -CAfile lab/tls/ca.pem
mx2.firma3.intr  127.0.1.3  smtp        10025  telnet 127.0.1.3 10025
neo.firma1.intr  127.0.1.4  smtp        10025  telnet 127.0.1.4 10025
                            submission  10587  openssl s_client -connect 127.0.1.4:10587 -starttls smtp -CAfile lab/tls/ca.pem
                            pop3        10110  telnet 127.0.1.4 10110
                            pop3s       10995  openssl s_client -connect 127.0.1.4:10995 -CAfile lab/tls/ca.pem
                            imap        10143  telnet 127.0.1.4 10143
                            imaps       10993  openssl s_client -connect 127.0.1.4:10993 -CAfile lab/tls/ca.pem
(nameserver)     127.0.1.5  dns         10053  dig @127.0.1.5 -p 10053 firma1.intr MX

TLS: trust the lab CA lab/tls/ca.pem (openssl -CAfile, mutt ssl_ca_certificates_file,
Thunderbird: Settings > Privacy & Security > Certificates > Import)."""  # noqa: E501


def test_format_plan_prints_the_table_students_copy(firma1: Scenario) -> None:
    plan = lab_plan(firma1, port_offset=PORT_OFFSET)
    assert format_plan(plan, ca_file="lab/tls/ca.pem") == FIRMA1_TABLE


SMALL_TABLE = """\
lab small: 2 hosts (127.0.1.1..127.0.1.2), nameserver 127.0.1.3, ports standard

host          address    service  port  try it
mx.a.test     127.0.1.1  smtp     25    telnet 127.0.1.1 25
mx.b.test     127.0.1.2  smtp     25    telnet 127.0.1.2 25
(nameserver)  127.0.1.3  dns      53    dig @127.0.1.3 a.test MX

names without a host (nothing listens: connection refused, a machine down):
  old.a.test  127.0.1.4

TLS: trust the lab CA ca.pem (openssl -CAfile, mutt ssl_ca_certificates_file,
Thunderbird: Settings > Privacy & Security > Certificates > Import)."""


def test_format_plan_with_standard_ports_and_unserved_names() -> None:
    zones = {"a.test": Zone("a.test", 600.0, (), {"old.a.test": "192.0.2.7"})}
    assert format_plan(lab_plan(small(zones=zones), port_offset=0)) == SMALL_TABLE


def test_format_plan_says_when_the_system_chose_the_ports(firma1: Scenario) -> None:
    """A lab on ephemeral ports (tests, notebooks) must not claim the standard ones."""
    plan = lab_plan(firma1, port_offset=0)
    moved = dataclasses.replace(
        plan,
        hosts=tuple(
            dataclasses.replace(h, ports={s: 40000 + i for i, s in enumerate(h.ports)})
            for h in plan.hosts
        ),
    )
    assert "ports standard" in format_plan(plan)
    assert "ports chosen by the system (ephemeral)" in format_plan(moved).splitlines()[0]
