"""Simulated DNS resolution of a mail domain to the hosts to try (RFC 5321 section 5.1).

MX records are tried lowest preference first; a domain without MX records falls back to its A
record (the "implicit MX"); a domain the zones do not know is NXDOMAIN. Answers are cached for
the zone's TTL, so only a cache miss costs a query (and an event). Issue 3 adds random order
among equal preferences, SERVFAIL and timeouts, smtp_mx_address_limit and smtp_mx_session_limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailsim.scenario.model import DNSConfig, Zone

__all__ = ["MXAnswer", "ZoneResolver"]


@dataclass(frozen=True, slots=True)
class MXAnswer:
    """The hosts to try for a domain, in order, as (exchange name, IPv4 address) pairs.

    ``error`` is empty on success, else a Postfix-style reason (``Host or domain name not found``).
    """

    domain: str
    hosts: tuple[tuple[str, str], ...]
    ttl: float
    error: str = ""


class ZoneResolver:
    """Answer MX questions from the scenario's zones, with a TTL cache."""

    def __init__(self, dns: DNSConfig) -> None:
        self._zones = {name.lower().rstrip("."): zone for name, zone in dns.zones.items()}
        self._a: dict[str, str] = {}
        for zone in self._zones.values():
            for name, address in zone.a.items():
                self._a[name.lower().rstrip(".")] = address
        self._cache: dict[str, tuple[float, MXAnswer]] = {}

    def cached(self, domain: str, now: float) -> MXAnswer | None:
        """Return a still-valid cached answer, or None (the caller then pays for a query)."""
        entry = self._cache.get(domain)
        if entry is not None and entry[0] > now:
            return entry[1]
        return None

    def resolve(self, domain: str, now: float) -> MXAnswer:
        """Resolve ``domain`` (no cache), store the answer until now + TTL, and return it."""
        answer = self._answer(domain.lower().rstrip("."))
        self._cache[domain] = (now + answer.ttl, answer)
        return answer

    def address(self, name: str) -> str:
        """Return the A record of ``name``, or "" if there is none."""
        return self._a.get(name.lower().rstrip("."), "")

    def _answer(self, domain: str) -> MXAnswer:
        zone = self._zone_of(domain)
        if zone is None:
            return MXAnswer(domain, (), 300.0, "Host or domain name not found")
        if zone.origin.lower().rstrip(".") == domain and zone.mx:
            records = sorted(zone.mx, key=lambda mx: mx.preference)
            hosts = tuple(
                (mx.exchange, self.address(mx.exchange))
                for mx in records
                if self.address(mx.exchange)
            )
            if not hosts:
                return MXAnswer(domain, (), zone.ttl, "Host or domain name not found")
            return MXAnswer(domain, hosts, zone.ttl)
        address = self.address(domain)
        if address:
            return MXAnswer(domain, ((domain, address),), zone.ttl)
        return MXAnswer(domain, (), zone.ttl, "Host or domain name not found")

    def _zone_of(self, domain: str) -> Zone | None:
        labels = domain.split(".")
        for i in range(len(labels)):
            zone = self._zones.get(".".join(labels[i:]))
            if zone is not None:
                return zone
        return None
