"""Simulated DNS: the zones' answers for a mail domain (RFC 5321 section 5.1), and each host's
resolver cache.

:class:`ZoneResolver` is the lab's name service, shared by every node: it answers from the
scenario's zones and fails as the scenario's ``dns.faults`` say at that moment. An MX lookup gives
the exchanges sorted by preference with their A records; a domain without MX records falls back
to its own A record (the "implicit MX", RFC 5321 5.1); a name the zones do not know is NXDOMAIN.

:class:`MXResolver` is one node's view, as smtp(8) sees it (smtp_addr.c smtp_domain_addr()):
answers cached for their TTL, equal preferences shuffled per delivery (smtp_randomize_addresses),
the list truncated where the node finds itself (a backup MX only relays to better MX hosts) and to
smtp_mx_address_limit addresses.

Failure texts and codes are Postfix's (dns_lookup.c, dns_strerror.c, smtp_addr.c):

* NXDOMAIN: the MX lookup finds nothing, the A fallback neither: ``Host or domain name not found.
  Name service error for name=<domain> type=A: Host not found``, 5.4.4, the mail bounces (an
  IPv4-only client's last lookup is type A; a dual-stack one would name AAAA);
* a name that exists without the record: ``... type=A: Host found but no data record of requested
  type``, 5.4.4;
* SERVFAIL or no answer in time: ``... type=MX: Host not found, try again``, 4.4.3, deferred
  (a resolver timeout costs :data:`RESOLVER_TIMEOUT_S` first);
* MX hosts none of which has an address: the last lookup's text, 5.4.4 (4.4.4 with
  smtp_defer_if_no_mx_address_found = yes); a temporary error among them makes it 4.4.3.

Positive answers are cached for the zone's TTL, NXDOMAIN for :data:`NEGATIVE_TTL_S` (RFC 2308);
SERVFAIL and timeouts are not cached, so a fault shows only on a cache miss, as on the Internet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailsim.scenario.faults import DNSFault
from mailsim.scenario.model import DNSConfig, Zone

__all__ = [
    "NEGATIVE_TTL_S",
    "RESOLVER_TIMEOUT_S",
    "MXAnswer",
    "MXHost",
    "MXResolver",
    "ZoneResolver",
]

#: how long a lookup waits for an answer that never comes: glibc's resolv.conf defaults
#: (``timeout:5 attempts:2``) with one name server
RESOLVER_TIMEOUT_S = 10.0
#: how long an NXDOMAIN answer is cached (the SOA minimum of a typical zone, RFC 2308)
NEGATIVE_TTL_S = 300.0

_NOT_FOUND = "Host or domain name not found. Name service error for name={} type={}: {}"
_NXDOMAIN = "Host not found"
_NODATA = "Host found but no data record of requested type"
_TRY_AGAIN = "Host not found, try again"


@dataclass(frozen=True, slots=True)
class MXHost:
    """One address to try: the exchange's name, its IPv4 address and the MX preference (0 for
    the implicit MX of an A-record fallback)."""

    exchange: str
    address: str
    preference: int = 0

    @property
    def label(self) -> str:
        """Postfix's ``name[address]`` form of the host."""
        return f"{self.exchange}[{self.address}]"


@dataclass(frozen=True, slots=True)
class MXAnswer:
    """What a lookup of a mail domain found: hosts by preference, or Postfix's error.

    ``error`` is empty on success, else the reason smtp(8) logs, with ``dsn`` 4.4.3 (temporary)
    or 5.4.4 (not found); ``ttl`` is how long a resolver may cache the answer (0: not at all);
    ``timed_out`` says the query cost a resolver timeout; ``ties`` that some preferences are
    equal, so each delivery shuffles them; ``mx_found`` that the domain has MX records, and
    ``best_preference`` the lowest of them (with or without an address).
    """

    domain: str
    hosts: tuple[MXHost, ...]
    ttl: float
    error: str = ""
    dsn: str = ""
    timed_out: bool = False
    ties: bool = False
    mx_found: bool = False
    best_preference: int = 0

    @property
    def temporary(self) -> bool:
        return self.dsn.startswith("4")


class ZoneResolver:
    """Answer MX questions from the scenario's zones, failing as its DNS faults say."""

    def __init__(self, dns: DNSConfig) -> None:
        self._zones = {name.lower().rstrip("."): zone for name, zone in dns.zones.items()}
        self._a: dict[str, str] = {}
        for zone in self._zones.values():
            for name, address in zone.a.items():
                self._a[name.lower().rstrip(".")] = address
        self._faults = tuple(
            DNSFault(f.domain.lower().rstrip("."), f.kind, f.start, f.end) for f in dns.faults
        )

    def address(self, name: str) -> str:
        """Return the A record of ``name``, or "" if there is none."""
        return self._a.get(name.lower().rstrip("."), "")

    def fault(self, name: str, now: float) -> DNSFault | None:
        """Return the fault in force for ``name`` (or a parent domain) at ``now``, if any."""
        for fault in self._faults:
            if (
                fault.start <= now
                and (fault.end is None or now < fault.end)
                and (name == fault.domain or name.endswith("." + fault.domain))
            ):
                return fault
        return None

    def lookup(self, domain: str, now: float) -> MXAnswer:
        """Resolve ``domain`` as smtp(8) does at ``now``: MX records, else its A record."""
        domain = domain.lower().rstrip(".")
        fault = self.fault(domain, now) if self._faults else None
        if fault is not None and fault.kind != "nxdomain":
            return MXAnswer(
                domain,
                (),
                0.0,
                _NOT_FOUND.format(domain, "MX", _TRY_AGAIN),
                "4.4.3",
                timed_out=fault.kind == "timeout",
            )
        zone = None if fault is not None else self._zone_of(domain)
        if zone is not None and zone.origin == domain and zone.mx:
            return self._mx_hosts(domain, zone, now)
        # no MX records (RFC 5321 5.1 implicit MX): the domain's own A record
        address = self.address(domain) if zone is not None else ""
        if address:
            return MXAnswer(domain, (MXHost(domain, address),), zone.ttl if zone else 0.0)
        reason = _NODATA if zone is not None and zone.origin == domain else _NXDOMAIN
        error = _NOT_FOUND.format(domain, "A", reason)
        return MXAnswer(domain, (), NEGATIVE_TTL_S, error, "5.4.4")

    def _mx_hosts(self, domain: str, zone: Zone, now: float) -> MXAnswer:
        """Look up each exchange's address (smtp_addr_list()): a host without one is skipped;
        if none has one the last error stands, a temporary one dominating (smtp_addr_one())."""
        records = sorted(zone.mx, key=lambda mx: mx.preference)
        hosts: list[MXHost] = []
        error, dsn = "", ""
        for record in records:
            name = record.exchange.lower().rstrip(".")
            fault = self.fault(name, now) if self._faults else None
            if fault is not None and fault.kind != "nxdomain":
                error, dsn = _NOT_FOUND.format(name, "A", _TRY_AGAIN), "4.4.3"
                continue
            address = "" if fault is not None else self.address(name)
            if address:
                hosts.append(MXHost(name, address, record.preference))
            elif not dsn.startswith("4"):
                origin = fault is None and name in self._zones
                error = _NOT_FOUND.format(name, "A", _NODATA if origin else _NXDOMAIN)
                dsn = "5.4.4"
        best = records[0].preference
        if not hosts:
            ttl = NEGATIVE_TTL_S if dsn == "5.4.4" else 0.0
            return MXAnswer(domain, (), ttl, error, dsn, mx_found=True, best_preference=best)
        preferences = [host.preference for host in hosts]
        ties = len(set(preferences)) < len(preferences)
        return MXAnswer(
            domain, tuple(hosts), zone.ttl, ties=ties, mx_found=True, best_preference=best
        )

    def _zone_of(self, domain: str) -> Zone | None:
        labels = domain.split(".")
        for i in range(len(labels)):
            zone = self._zones.get(".".join(labels[i:]))
            if zone is not None:
                return zone
        return None


class MXResolver:
    """One node's resolver as its smtp(8) uses it: cache, shuffle, self-truncation, limits.

    ``own_address`` is the node's address (an MX list that names it is cut at its preference,
    smtp_truncate_self()); ``address_limit`` is smtp_mx_address_limit (0: none); ``randomize``
    smtp_randomize_addresses; ``defer_no_address`` smtp_defer_if_no_mx_address_found.
    """

    def __init__(
        self,
        zones: ZoneResolver,
        generator: np.random.Generator,
        own_address: str,
        address_limit: int = 5,
        randomize: bool = True,
        defer_no_address: bool = False,
    ) -> None:
        self.zones = zones
        self._random = generator
        self._own_address = own_address
        self._address_limit = address_limit
        self._randomize = randomize
        self._defer_no_address = defer_no_address
        self._cache: dict[str, tuple[float, MXAnswer]] = {}

    def cached(self, domain: str, now: float) -> MXAnswer | None:
        """Return a still-valid cached answer, or None (the caller then pays for a query)."""
        entry = self._cache.get(domain)
        if entry is not None and entry[0] > now:
            return entry[1]
        return None

    def resolve(self, domain: str, now: float) -> MXAnswer:
        """Query the zones at ``now`` and cache the answer for its TTL."""
        answer = self.zones.lookup(domain, now)
        if answer.ttl > 0:
            self._cache[domain] = (now + answer.ttl, answer)
        return answer

    def route(self, answer: MXAnswer) -> tuple[tuple[MXHost, ...], str, str]:
        """Return (hosts to try in order, error, dsn) for one delivery of a successful or
        failed answer; the order of equal preferences is drawn anew each time."""
        if answer.error:
            if answer.mx_found and answer.dsn == "5.4.4" and self._defer_no_address:
                return (), answer.error, "4.4.4"  # SMTP_SET_SOFT_DSN(): class 5 -> 4
            return (), answer.error, answer.dsn
        hosts = answer.hosts
        if answer.ties and self._randomize:
            hosts = self._shuffle(hosts)
        for index, host in enumerate(hosts):
            if host.address == self._own_address:
                mine = host.preference
                hosts = tuple(h for h in hosts[:index] if h.preference < mine)
                if not hosts:
                    if answer.best_preference != mine:
                        return (), f"unable to find primary relay for {answer.domain}", "4.4.4"
                    return (), f"mail for {answer.domain} loops back to myself", "5.4.6"
                break
        if self._address_limit and len(hosts) > self._address_limit:
            hosts = hosts[: self._address_limit]
        return hosts, "", ""

    def _shuffle(self, hosts: tuple[MXHost, ...]) -> tuple[MXHost, ...]:
        """Shuffle, then sort by preference (stable): random order among equals, as
        dns_rr_shuffle() then dns_rr_sort() do (RFC 5321 5.1)."""
        order = self._random.permutation(len(hosts))
        shuffled = [hosts[int(i)] for i in order]
        shuffled.sort(key=lambda host: host.preference)
        return tuple(shuffled)
