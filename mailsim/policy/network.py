"""mynetworks: the SMTP clients a host trusts (permit_mynetworks).

postconf(5) mynetworks takes network/mask patterns (``127.0.0.0/8``, ``[::1]/128``), single
addresses, and ``!pattern`` to exclude; the first matching pattern decides. When mynetworks is
empty, Postfix derives it from mynetworks_style and the machine's interfaces:

* ``host``: only the machine itself, i.e. its own address and the loopback address
  (127.0.0.1/32, [::1]/128), as ``postconf -d mynetworks`` prints on a host-style machine;
* ``subnet``: the IP subnetworks of its interfaces, i.e. ``Host.network`` and 127.0.0.0/8;
* ``class``: the whole class A/B/C network of its address, and 127.0.0.0/8.

A simulated host has one interface besides loopback: ``Host.address`` (and ``Host.network`` for
its subnet; without it the subnet is the address alone). Host names, ``/file`` and
``type:table`` patterns need lookups the lab does not model; they raise ValueError so the
scenario validator reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = ["NetworkList", "mynetworks_from_style", "parse_network"]

Network = IPv4Network | IPv6Network

_LOOPBACK_HOST = ("127.0.0.1/32", "[::1]/128")
_LOOPBACK_NET = ("127.0.0.0/8", "[::1]/128")
_STYLES = ("host", "subnet", "class")


def parse_network(pattern: str, parameter: str = "mynetworks") -> Network:
    """Parse one address or network/mask pattern (IPv6 in brackets or bare).

    Raises ValueError quoting the pattern: for what is not an address, and for a network with
    host bits set, which Postfix also refuses ("non-null host address bits in ... perhaps you
    should use ... instead").
    """
    text = pattern.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{parameter}: bad address pattern {pattern!r}")
        text = text[1:close] + text[close + 1 :]
    try:
        return ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"{parameter}: {pattern!r} is not an address or network/mask "
            "(host names, /file and type:table patterns are not modelled)"
        ) from None
    raise ValueError(
        f"{parameter}: non-null host address bits in {pattern!r}, "
        f"perhaps you should use {loose.with_prefixlen!r} instead"
    )


class NetworkList:
    """An ordered Postfix match list of networks; ``address in networks`` tests a client.

    Matching is cached per client address, so the hot path costs one dict lookup.
    """

    def __init__(self, patterns: Iterable[str], parameter: str = "mynetworks") -> None:
        rules: list[tuple[Network, bool]] = []
        for pattern in patterns:
            negated = pattern.startswith("!")
            rules.append((parse_network(pattern[1:] if negated else pattern, parameter), negated))
        self.rules: tuple[tuple[Network, bool], ...] = tuple(rules)
        self.match: Callable[[str], bool] = lru_cache(maxsize=65536)(self._match)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and self.match(address)

    def __repr__(self) -> str:
        shown = ", ".join(("!" if neg else "") + net.with_prefixlen for net, neg in self.rules)
        return f"NetworkList([{shown}])"

    def _match(self, address: str) -> bool:
        try:
            ip: IPv4Address | IPv6Address = ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for network, negated in self.rules:
            if ip.version == network.version and ip in network:
                return not negated
        return False


def mynetworks_from_style(style: str, address: str, network: str = "") -> tuple[str, ...]:
    """Return the patterns Postfix computes for an empty mynetworks (postconf(5)
    mynetworks_style) on a machine with one interface ``address`` in subnet ``network``."""
    if style not in _STYLES:
        raise ValueError(f"mynetworks_style: expected one of {_STYLES}, got {style!r}")
    own = ip_address(address)
    if style == "host":
        return (f"{own}/{own.max_prefixlen}", *_LOOPBACK_HOST)
    if style == "subnet":
        subnet = ip_network(network, strict=False) if network else ip_network(address)
        return (subnet.with_prefixlen, *_LOOPBACK_NET)
    return (_classful(own), *_LOOPBACK_NET)


def _classful(address: IPv4Address | IPv6Address) -> str:
    """Return the class A/B/C network of an IPv4 address (a class D/E or IPv6 one alone)."""
    if isinstance(address, IPv6Address):
        return f"{address}/128"
    first = int(address) >> 24
    prefix = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else 32
    return ip_network(f"{address}/{prefix}", strict=False).with_prefixlen
