"""mynetworks and mynetworks_style: which SMTP clients permit_mynetworks trusts."""

from __future__ import annotations

import pytest

from mailsim.policy import ClientSession, HostPolicy
from mailsim.policy.network import NetworkList, mynetworks_from_style, parse_network

from test_policy_host import make_policy

BASE = {
    "myhostname": "mx.firma2.intr",
    "mydomain": "firma2.intr",
    "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
}


def style_policy(
    style: str, address: str = "192.168.10.5", network: str = "192.168.10.0/24"
) -> HostPolicy:
    return make_policy(
        base=BASE, name="mx.firma2.intr", address=address, network=network, mynetworks_style=style
    )


def test_explicit_mynetworks_wins_over_style() -> None:
    """postconf(5): mynetworks_style is used only when mynetworks is empty."""
    policy = make_policy(mynetworks="10.1.0.0/16", mynetworks_style="class")
    assert policy.in_mynetworks("10.1.200.1")
    assert not policy.in_mynetworks("127.0.0.1")


def test_style_host_trusts_only_the_machine_itself() -> None:
    """mynetworks_style = host (Postfix 3.x default): the host's own addresses only,
    i.e. its interface address and the loopback address, each as a /32."""
    policy = style_policy("host")
    assert policy.in_mynetworks("192.168.10.5")
    assert policy.in_mynetworks("127.0.0.1")
    assert not policy.in_mynetworks("192.168.10.6")
    assert not policy.in_mynetworks("127.0.0.21")


def test_style_subnet_trusts_the_interface_subnets() -> None:
    """mynetworks_style = subnet: Host.network and the loopback network 127.0.0.0/8."""
    policy = style_policy("subnet")
    assert policy.in_mynetworks("192.168.10.200")
    assert policy.in_mynetworks("127.0.0.21")
    assert not policy.in_mynetworks("192.168.11.1")


def test_style_subnet_without_a_known_network_is_the_address_alone() -> None:
    """Without Host.network the subnet of the interface is unknown; only the address counts."""
    policy = style_policy("subnet", network="")
    assert policy.in_mynetworks("192.168.10.5")
    assert not policy.in_mynetworks("192.168.10.6")


@pytest.mark.parametrize(
    ("address", "inside", "outside"),
    [
        ("10.20.30.40", "10.99.0.1", "11.0.0.1"),  # class A: /8
        ("172.16.5.4", "172.16.200.1", "172.17.0.1"),  # class B: /16
        ("192.168.10.5", "192.168.10.77", "192.168.11.77"),  # class C: /24
    ],
)
def test_style_class_trusts_the_classful_network(address: str, inside: str, outside: str) -> None:
    """mynetworks_style = class: the whole class A/B/C network of the host's address."""
    policy = style_policy("class", address=address, network="")
    assert policy.in_mynetworks(inside)
    assert not policy.in_mynetworks(outside)


def test_unknown_style_is_refused() -> None:
    """Postfix refuses an unknown mynetworks_style value."""
    with pytest.raises(ValueError, match="mynetworks_style"):
        style_policy("world")


def test_style_decides_relay_permission() -> None:
    """permit_mynetworks uses the computed networks: a subnet neighbour may relay under
    subnet style and is denied under host style."""
    session = ClientSession("192.168.10.77")
    assert style_policy("subnet").check_rcpt(session, "", "x@firma9.intr").ok
    assert not style_policy("host").check_rcpt(session, "", "x@firma9.intr").ok


def test_negated_pattern_excludes_and_first_match_wins() -> None:
    """Postfix match lists: "!pattern" excludes, the first matching pattern decides."""
    networks = NetworkList(["!10.1.2.3", "10.1.0.0/16"])
    assert "10.1.2.4" in networks
    assert "10.1.2.3" not in networks
    assert "10.2.0.1" not in networks


def test_ipv6_patterns_and_mapped_clients() -> None:
    """IPv6 networks are written in brackets; an IPv4-mapped client matches its IPv4 net."""
    networks = NetworkList(["[2001:db8::]/32", "127.0.0.0/8"])
    assert "2001:db8::1" in networks
    assert "::ffff:127.0.0.1" in networks
    assert "2001:db9::1" not in networks


def test_unparsable_client_address_is_not_trusted() -> None:
    """A client without a usable address (e.g. "unknown") never matches."""
    assert "unknown" not in NetworkList(["0.0.0.0/0"])


def test_host_bits_in_a_network_are_refused_like_postfix() -> None:
    """cidr_match: "non-null host address bits in 127.0.0.1/8, perhaps you should use
    127.0.0.0/8 instead"."""
    with pytest.raises(ValueError, match=r"non-null host address bits.*127\.0\.0\.0/8"):
        parse_network("127.0.0.1/8")


def test_tables_and_hostnames_are_not_modelled() -> None:
    """/file, type:table and host-name patterns need lookups the lab does not have."""
    for pattern in ("hash:/etc/postfix/network_table", "/etc/postfix/networks", "ws1.lan"):
        with pytest.raises(ValueError, match="not an address"):
            parse_network(pattern)


def test_style_patterns_are_what_postfix_prints() -> None:
    """postconf -d mynetworks on a one-interface machine, per style."""
    assert mynetworks_from_style("host", "192.168.10.5", "192.168.10.0/24") == (
        "192.168.10.5/32",
        "127.0.0.1/32",
        "[::1]/128",
    )
    assert mynetworks_from_style("subnet", "192.168.10.5", "192.168.10.0/24") == (
        "192.168.10.0/24",
        "127.0.0.0/8",
        "[::1]/128",
    )
