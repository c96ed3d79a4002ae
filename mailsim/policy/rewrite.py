"""trivial-rewrite(8): qualify an address and resolve it to (transport, nexthop).

Postfix's address classes (ADDRESS_CLASS_README) that the lab models:

* **local**: the domain matches $mydestination, or is ``[address]`` of one of the host's
  interfaces ($inet_interfaces); transport ``local``, nexthop $myhostname (local_transport =
  local:$myhostname).
* **relay**: the domain matches $relay_domains; Postfix's relay_transport is ``relay``, a clone
  of ``smtp`` in master.cf, so the lab uses ``smtp`` for both, and the MX lookup of the nexthop
  domain happens in the engine.
* **default**: everything else; transport ``smtp``, nexthop the domain, or $relayhost when set
  (``[host]`` there means "no MX lookup", as in Postfix).

An address whose domain is not a valid host name resolves to the ``error`` transport, which
smtpd turns into ``501 5.1.3 Bad recipient address syntax``. Sender-specified routing
(``user@elsewhere@here``, ``user%elsewhere@here``, ``elsewhere!user@here``) is unwrapped when
``here`` is local, as resolve.c does with allow_percent_hack and swap_bangpath, and the result
is flagged ``routed``; permit_auth_destination never trusts a routed address.

mydestination and relay_domains entries that are ``/file`` or ``type:table`` need lookups the lab
does not model and are ignored; a relay_domains name also matches its subdomains
(parent_domain_matches_subdomains lists relay_domains), ``.domain`` only the subdomains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address

from mailsim.policy.address import canonical, split_address, valid_domain
from mailsim.policy.params import param, param_bool
from mailsim.scenario.postfix import PostfixSettings

__all__ = ["LocalTarget", "Resolution", "TrivialRewrite"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where trivial-rewrite sends one recipient.

    ``transport`` is ``local``, ``smtp`` or ``error``; ``nexthop`` the domain (or $relayhost) for
    smtp, $myhostname for local, the reason for error; ``recipient`` the canonical address.
    ``address_class`` is ``local``, ``relay``, ``default`` or ``error``; ``routed`` marks
    sender-specified routing.
    """

    transport: str
    nexthop: str
    recipient: str
    address_class: str = "default"
    routed: bool = False


@dataclass(frozen=True, slots=True)
class LocalTarget:
    """One destination local(8) delivers a local recipient to, after alias expansion.

    ``kind`` is ``mailbox`` (``value``: the canonical local address, extension removed),
    ``forward`` (``value``: the remote address; the engine re-queues a copy), ``command`` (the
    command line after ``|``), ``file`` (the path; one ending in ``/`` is a maildir) or
    ``bounce`` (``value``: local(8)'s reason, ``dsn`` its status, for an alias member that is no
    user or an alias loop). ``orig_to`` is the recipient the expansion started from when an
    alias was involved (Postfix logs it as ``orig_to=<...>``), else "".
    """

    kind: str
    value: str
    orig_to: str
    dsn: str = ""

    @property
    def user(self) -> str:
        """The local user of a mailbox target (the part of ``value`` before ``@``)."""
        return self.value.rpartition("@")[0] if "@" in self.value else self.value


class TrivialRewrite:
    """Canonicalize and resolve addresses for one host; results are cached per address."""

    def __init__(self, settings: PostfixSettings, host_address: str) -> None:
        self.myhostname = settings.value("myhostname")
        self.myorigin = settings.value("myorigin").lower()
        self.local_domains = frozenset(
            _domain_key(entry) for entry in settings.list("mydestination") if _is_name(entry)
        ) | frozenset(_interface_literals(settings, host_address))
        relay = [_domain_key(entry) for entry in settings.list("relay_domains") if _is_name(entry)]
        self._relay_exact = frozenset(name for name in relay if not name.startswith("."))
        self._relay_parents = frozenset(name.lstrip(".") for name in relay)
        self.relayhost = param(settings, "relayhost")
        self._unwrap = (
            "@"
            + ("%" if param_bool(settings, "allow_percent_hack") else "")
            + ("!" if param_bool(settings, "swap_bangpath") else "")
        )
        self.resolve: Callable[[str], Resolution] = lru_cache(maxsize=65536)(self._resolve)

    def canonicalize(self, address: str) -> str:
        """Return ``address`` qualified with $myorigin and with a lower-case domain."""
        return canonical(address, self.myorigin)

    def is_local_domain(self, domain: str) -> bool:
        """Return whether Postfix is the final destination for ``domain`` (mydestination)."""
        return _domain_key(domain) in self.local_domains

    def is_relay_domain(self, domain: str) -> bool:
        """Return whether ``domain`` matches $relay_domains (a listed name or a subdomain)."""
        domain = _domain_key(domain)
        if domain in self._relay_exact:
            return True
        dot = domain.find(".")
        while dot >= 0:
            if domain[dot + 1 :] in self._relay_parents:
                return True
            dot = domain.find(".", dot + 1)
        return False

    def _resolve(self, recipient: str) -> Resolution:
        address = self.canonicalize(recipient)
        if not address:
            return Resolution("error", "bad address syntax", "", "error")
        routed = False
        local, domain = split_address(address)
        while self.is_local_domain(domain):
            inner = _unwrap_route(local, self._unwrap)
            if inner is None:
                return Resolution("local", self.myhostname, address, "local", routed)
            routed = True
            address = self.canonicalize(inner)
            local, domain = split_address(address)
        routed = routed or any(char in local for char in self._unwrap)
        if not valid_domain(domain):
            return Resolution("error", "bad address syntax", address, "error", routed)
        nexthop = self.relayhost or domain
        if self.is_relay_domain(domain):
            return Resolution("smtp", nexthop, address, "relay", routed)
        return Resolution("smtp", nexthop, address, "default", routed)


def _unwrap_route(local: str, operators: str) -> str | None:
    """Return the address routed through a local domain, or None when there is none.

    ``user@host`` (a local part with @), then ``user%host`` (the rightmost %), then
    ``host!user`` (the first !), as resolve.c and rewrite.c try them.
    """
    if "@" in local:
        return local
    if "%" in operators and "%" in local:
        user, _, host = local.rpartition("%")
        return f"{user}@{host}"
    if "!" in operators and "!" in local:
        host, _, user = local.partition("!")
        if host and user:
            return f"{user}@{host}"
    return None


def _is_name(entry: str) -> bool:
    """Return whether a list entry is a plain domain name (not /file or type:table)."""
    return not entry.startswith("/") and ":" not in entry


def _domain_key(domain: str) -> str:
    domain = domain.lower()
    return domain[:-1] if domain.endswith(".") and not domain.endswith("..") else domain


def _interface_literals(settings: PostfixSettings, host_address: str) -> set[str]:
    """Return ``[address]`` for the host's interfaces: mail to user@[address] is local."""
    interfaces = settings.list("inet_interfaces")
    addresses: set[str] = set()
    for entry in interfaces:
        if entry == "all":
            addresses.update((host_address, "127.0.0.1"))
        elif entry in ("loopback-only", "localhost"):
            addresses.add("127.0.0.1")
        elif entry == settings.value("myhostname"):
            addresses.add(host_address)
        else:
            try:
                addresses.add(str(ip_address(entry.strip("[]"))))
            except ValueError:
                continue
    return {f"[{address}]" for address in addresses if address}
