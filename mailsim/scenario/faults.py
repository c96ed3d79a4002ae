"""Scenario records for what can go wrong: outages, refusals, greylisting, DNS failures.

These are contracts shared by the loader (``faults:`` in YAML), the simulation and, later, the
live lab's behaviour endpoints (DESIGN.md section 2). Times are scenario seconds; replies are
SMTP reply lines as a server would send them (``450 4.2.1 Mailbox temporarily unavailable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DNSFault", "Greylist", "HostBehaviour", "Outage", "ReplyRule"]

SMTPStage = Literal["connect", "helo", "mail", "rcpt", "data"]


@dataclass(frozen=True, slots=True)
class Outage:
    """The host is down from ``start`` to ``end``: nothing answers its SMTP port, so a client's
    connection attempt fails after smtp_connect_timeout (postconf(5))."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class ReplyRule:
    """The host's smtpd answers ``reply`` at ``stage`` instead of accepting.

    Applies during [``start``, ``end``) (``end`` None: to the end of the run), with probability
    ``probability`` per session (or per recipient at the ``rcpt`` stage), and at ``rcpt`` only to
    recipients whose address matches the regular expression ``recipients`` (empty: all).
    """

    reply: str
    stage: SMTPStage = "rcpt"
    probability: float = 1.0
    start: float = 0.0
    end: float | None = None
    recipients: str = ""


@dataclass(frozen=True, slots=True)
class Greylist:
    """Greylisting (as postgrey does it): the first delivery attempt of a (client address,
    sender, recipient) triplet gets ``reply``; an attempt at least ``delay`` seconds later is
    accepted, and so is every later one."""

    delay: float = 300.0
    reply: str = "450 4.7.1 Greylisted, please try again later"


@dataclass(frozen=True, slots=True)
class HostBehaviour:
    """How a host's SMTP server misbehaves (empty: it behaves like a healthy Postfix).

    ``session_limit`` (0: none) is the number of simultaneous SMTP sessions it accepts; beyond
    it, a new connection gets ``session_limit_reply`` and is closed (Postfix's
    smtpd_client_connection_count_limit, or a small server's process limit with 421).
    """

    down: tuple[Outage, ...] = ()
    replies: tuple[ReplyRule, ...] = ()
    greylist: Greylist | None = None
    session_limit: int = 0
    session_limit_reply: str = "421 4.7.0 Too many concurrent SMTP connections"

    @property
    def healthy(self) -> bool:
        return not (self.down or self.replies or self.greylist or self.session_limit)


@dataclass(frozen=True, slots=True)
class DNSFault:
    """The resolver fails for ``domain`` during [``start``, ``end``): ``servfail`` and
    ``timeout`` are temporary (Postfix defers, 4.4.3), ``nxdomain`` says the domain does not
    exist (Postfix bounces)."""

    domain: str
    kind: Literal["servfail", "timeout", "nxdomain"]
    start: float = 0.0
    end: float | None = None
