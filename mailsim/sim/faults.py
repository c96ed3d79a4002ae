"""The remote side of what goes wrong: a host's smtpd misbehaving as its scenario says.

An :class:`~mailsim.sim.mta.MTANode` whose :class:`~mailsim.scenario.faults.HostBehaviour` is not
healthy gets one :class:`ServerFaults`; a healthy node gets none, so its smtpd pays nothing for
this module. The node asks it, with the scenario clock, at each step of a session:

* :meth:`ServerFaults.down`: nothing answers the SMTP port, so a client's connection attempt
  times out after its smtp_connect_timeout (postconf(5));
* :meth:`ServerFaults.connect`: the session limit is reached (the new connection gets
  ``session_limit_reply``, 421 by default, or is closed without a greeting when that is empty),
  or a ``connect`` reply rule answers the greeting (RFC 5321 4.3.1: 554, or 421 "service not
  available");
* :meth:`ServerFaults.helo`, :meth:`ServerFaults.mail`: a rule refuses EHLO or MAIL FROM;
* :meth:`ServerFaults.recipient`: an ``rcpt`` rule, then greylisting, refuses one RCPT TO;
* :meth:`ServerFaults.data`: a ``data`` rule answers the end of DATA.

Rules of a stage are tried in order; the first whose window holds ``now``, whose ``recipients``
pattern matches (``re.search``, case-insensitive, as Postfix regexp tables) and whose
``probability`` draw succeeds answers. Draws come from the host's own stream
(``faults/<host>``) and only for probabilities strictly between 0 and 1. Greylisting keeps one
entry per (client address, sender, recipient) triplet, as postgrey does; its reply is worded as
Postfix's smtpd words a policy server's answer: ``450 4.7.1 <rcpt>: Recipient address rejected:
Greylisted, ...``. The caller exempts the clients a real configuration lets through before the
policy server (``permit_mynetworks, permit_sasl_authenticated, ..., check_policy_service``).
Rule replies are sent exactly as written (like smtp-sink's ``-r``/``-B``), to every client.

The module only decides; it has no clock or process of its own, so the live lab's behaviour
endpoints can ask the same questions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from mailsim.policy import SMTPReply
from mailsim.scenario.faultconf import split_reply
from mailsim.scenario.faults import HostBehaviour, ReplyRule
from mailsim.sim.records import SessionResult

__all__ = ["SessionRefusal", "ServerFaults", "reply_from_line"]

_PASSED = -1.0  # a greylist triplet that got through: accepted from now on


def reply_from_line(line: str) -> SMTPReply:
    """Return the reply a server sends for a scenario's reply line.

    Without an enhanced status code the client assumes ``X.0.0`` of the reply's class, as
    smtp(8) does (smtp_chat.c smtp_chat_resp()).
    """
    parsed = split_reply(line)
    if parsed is None:
        raise ValueError(f"not an SMTP reply line: {line!r}")
    code, dsn, text = parsed
    return SMTPReply(code, dsn or f"{code // 100}.0.0", text)


@dataclass(frozen=True, slots=True)
class SessionRefusal(SessionResult):
    """A server's answer that ends the transaction before every recipient had its say.

    ``stage`` is where: ``connect`` (the greeting; ``reply`` None means the server closed the
    connection without one), ``helo``, ``mail`` or ``data`` (the end of DATA, or a message-size
    refusal there). For ``data``, ``replies`` keeps each RCPT reply, with ``reply`` itself for
    the recipients the server had accepted; for the other stages it is empty.
    """

    stage: str = "connect"
    reply: SMTPReply | None = None


@dataclass(frozen=True, slots=True)
class _Rule:
    reply: SMTPReply
    probability: float
    start: float
    end: float
    pattern: re.Pattern[str] | None


class ServerFaults:
    """Decide, for one host, what its smtpd does with each connection and command."""

    def __init__(self, behaviour: HostBehaviour, generator: np.random.Generator) -> None:
        self.behaviour = behaviour
        self._random = generator
        self._down = tuple(sorted((outage.start, outage.end) for outage in behaviour.down))
        self._rules: dict[str, tuple[_Rule, ...]] = {}
        for stage in ("connect", "helo", "mail", "rcpt", "data"):
            rules = tuple(_compile(rule) for rule in behaviour.replies if rule.stage == stage)
            if rules:
                self._rules[stage] = rules
        self.session_limit = behaviour.session_limit
        limit_reply = behaviour.session_limit_reply
        self._limit_reply = reply_from_line(limit_reply) if limit_reply else None
        greylist = behaviour.greylist
        self._greylist_delay = greylist.delay if greylist is not None else math.inf
        self._greylist_reply = reply_from_line(greylist.reply) if greylist is not None else None
        self._triplets: dict[tuple[str, str, str], float] = {}

    def down(self, now: float) -> bool:
        """Return whether the host is down (nothing answers on port 25) at ``now``."""
        return any(start <= now < end for start, end in self._down)

    def connect(self, sessions: int, now: float) -> SessionRefusal | None:
        """Return the refusal of a new connection while ``sessions`` are open, if any."""
        if self.session_limit and sessions >= self.session_limit:
            return SessionRefusal({}, stage="connect", reply=self._limit_reply)
        reply = self._rule("connect", now)
        return None if reply is None else SessionRefusal({}, stage="connect", reply=reply)

    def helo(self, now: float) -> SMTPReply | None:
        """Return the refusal of EHLO in a session starting at ``now``, if any."""
        return self._rule("helo", now)

    def mail(self, now: float) -> SMTPReply | None:
        """Return the refusal of MAIL FROM at ``now``, if any."""
        return self._rule("mail", now)

    def recipient(
        self, now: float, client: str, sender: str, recipient: str, greylist: bool = True
    ) -> SMTPReply | None:
        """Return the refusal of ``RCPT TO:<recipient>`` the policy accepted, if any;
        ``greylist`` False exempts the client from greylisting."""
        reply = self._rule("rcpt", now, recipient)
        base = self._greylist_reply
        if (
            reply is None
            and base is not None
            and greylist
            and self._greylisted((client, sender.lower(), recipient.lower()), now)
        ):
            text = f"<{recipient}>: Recipient address rejected: {base.text}"
            reply = SMTPReply(base.code, base.dsn, text)
        return reply

    def data(self, now: float) -> SMTPReply | None:
        """Return the reply to the end of DATA that refuses the message, if any."""
        return self._rule("data", now)

    def _rule(self, stage: str, now: float, recipient: str = "") -> SMTPReply | None:
        for rule in self._rules.get(stage, ()):
            if not rule.start <= now < rule.end:
                continue
            if rule.pattern is not None and not rule.pattern.search(recipient):
                continue
            if rule.probability >= 1.0 or (
                rule.probability > 0.0 and self._random.random() < rule.probability
            ):
                return rule.reply
        return None

    def _greylisted(self, triplet: tuple[str, str, str], now: float) -> bool:
        """postgrey: the first attempt of a triplet is deferred; one ``delay`` or more after
        the first is accepted, and so is every later one."""
        first = self._triplets.get(triplet)
        if first is None:
            self._triplets[triplet] = now
            return True
        if first == _PASSED:
            return False
        if now - first >= self._greylist_delay:
            self._triplets[triplet] = _PASSED
            return False
        return True


def _compile(rule: ReplyRule) -> _Rule:
    pattern = re.compile(rule.recipients, re.IGNORECASE) if rule.recipients else None
    end = math.inf if rule.end is None else rule.end
    return _Rule(reply_from_line(rule.reply), rule.probability, rule.start, end, pattern)
