"""Time on the wire between two nodes, from the scenario's links.

An SMTP session costs round trips and the message bytes: with PIPELINING (RFC 2920) a client
needs about five round trips (banner, EHLO, MAIL+RCPT+DATA, end of data, QUIT), and the body
takes ``size / bandwidth`` seconds. A bandwidth of 0 means "unlimited" (no transfer time), which
theory-check scenarios use to get pure service times.
"""

from __future__ import annotations

from mailsim.scenario.model import Link, Scenario

__all__ = ["SMTP_ROUND_TRIPS", "Network"]

SMTP_ROUND_TRIPS = 5


class Network:
    """Look up links once per pair and answer transfer-time questions."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._cache: dict[tuple[str, str], Link] = {}
        self._names = {host.address: name for name, host in scenario.hosts.items()}

    def link(self, a: str, b: str) -> Link:
        """Return the link between ``a`` and ``b``, each a host name, a host's address or a
        client address (a host's address means that host, whichever way the link names it)."""
        key = (a, b) if a <= b else (b, a)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._scenario.link(
                self._names.get(a, a), self._names.get(b, b)
            )
        return found

    def latency(self, a: str, b: str) -> float:
        """Return the one-way latency between ``a`` and ``b`` in seconds."""
        return self.link(a, b).latency

    def session_time(self, a: str, b: str, size: int) -> float:
        """Return the wire time of one SMTP session carrying ``size`` bytes."""
        link = self.link(a, b)
        transfer = size / link.bandwidth if link.bandwidth > 0 else 0.0
        return 2.0 * link.latency * SMTP_ROUND_TRIPS + transfer

    def transfer_time(self, a: str, b: str, size: int) -> float:
        """Return the time to move ``size`` bytes plus one round trip (a POP3 RETR, say)."""
        link = self.link(a, b)
        transfer = size / link.bandwidth if link.bandwidth > 0 else 0.0
        return 2.0 * link.latency + transfer
