"""The MDA's filter: procmail/maildrop recipes deciding where a delivered message goes.

Postfix's local(8) hands each message for a user to ``mailbox_command`` (the lecture's
``procmail -a "$EXTENSION"``), which reads the site's recipes (/etc/procmailrc) and then the
user's (~/.procmailrc), and the first recipe whose conditions all hold decides; a message no
recipe matches goes to the inbox (procmail(1), "the default mailbox"; maildrop(1) the same with
/etc/maildroprc and ~/.mailfilter). Conditions, as :class:`~mailsim.scenario.mda.MDARule` gives
them, are regular expressions matched anywhere in a header's value or in the envelope sender,
ignoring case as both filters do by default (procmailrc(5) flag ``D``, maildropfilter(7) flag
``D``: "distinguish between upper and lower case"), and size bounds in bytes (procmailrc(5)
``* > n`` / ``* < n`` conditions, inclusive here). The patterns are Python regular expressions,
which agree with procmail's egrep dialect for everything recipes commonly use.

The vacation rules are those of vacation(1) and RFC 3834 (automatic responses): never answer
the null sender (a bounce), a sender whose local part ends in ``-request``, ``postmaster``,
``uucp``, ``mailer-daemon``, ``mailer`` or ``-relay`` (vacation.c junkmail()), a message with
``Precedence: bulk``, ``junk`` or ``list``, a mailing-list message (``List-Id`` and the other
``List-*`` headers, RFC 3834 section 2) or an automatic one (``Auto-Submitted`` other than
``no``, RFC 3834 section 5); and answer each sender at most once per reply interval (vacation(1)
``-r``: an interval of 0 answers every message, an infinite one only the first). The engines
keep when each (user, sender) was last answered; :func:`vacation_due` only decides.

Everything here is pure and precompiled: a :class:`MDAFilter` per user is built once per host,
and evaluating one message is a few compiled-regex searches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mailsim.scenario.mda import MDARule

__all__ = [
    "INBOX",
    "MDADecision",
    "MDAFilter",
    "VACATION_HEADERS",
    "build_filters",
    "vacation_due",
    "vacation_exempt",
]

Headers = Sequence[tuple[str, str]]

#: Headers of a vacation reply (vacation(1)'s default .vacation.msg has ``Precedence: bulk``;
#: RFC 3834 section 5 adds ``Auto-Submitted: auto-replied``), so two absent users never loop.
VACATION_HEADERS: tuple[tuple[str, str], ...] = (
    ("Subject", "I am on vacation"),
    ("Precedence", "bulk"),
    ("Auto-Submitted", "auto-replied"),
)

#: vacation.c junkmail(): local parts that end in one of these are never answered.
_JUNK_SUFFIXES: tuple[str, ...] = (
    "-request",
    "postmaster",
    "uucp",
    "mailer-daemon",
    "mailer",
    "-relay",
)
_BULK_PRECEDENCE = re.compile(r"\s*(bulk|junk|list)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MDADecision:
    """What the MDA does with one message: ``inbox`` (no rule matched), ``folder``,
    ``discard``, ``forward`` or ``vacation``; ``rule`` names the rule that decided."""

    action: str
    rule: str = ""
    folder: str = ""
    forward_to: str = ""
    vacation_period: float = 0.0
    vacation_text: str = ""


#: The decision when no rule matches: the user's inbox.
INBOX = MDADecision("inbox")


class _CompiledRule:
    """One recipe with its regular expressions compiled and its decision made in advance."""

    __slots__ = ("decision", "header", "max_size", "min_size", "pattern", "sender")

    def __init__(self, rule: MDARule, name: str) -> None:
        self.header = rule.header.lower()
        self.pattern = re.compile(rule.pattern, re.IGNORECASE) if self.header else None
        self.sender = re.compile(rule.sender, re.IGNORECASE) if rule.sender else None
        self.min_size = rule.min_size
        self.max_size = rule.max_size
        self.decision = MDADecision(
            rule.action,
            name,
            folder=rule.folder,
            forward_to=rule.forward_to,
            vacation_period=rule.vacation_period,
            vacation_text=rule.vacation_text,
        )

    def matches(self, sender: str, size: int, headers: Headers) -> bool:
        """Return whether every condition the rule gives holds for the message."""
        if size < self.min_size or (self.max_size and size > self.max_size):
            return False
        if self.sender is not None and self.sender.search(sender) is None:
            return False
        pattern = self.pattern
        if pattern is None:
            return True
        wanted = self.header
        return any(
            name.lower() == wanted and pattern.search(value) is not None for name, value in headers
        )


class MDAFilter:
    """The recipes one user's mail goes through: the site's, then the user's own."""

    __slots__ = ("_rules",)

    def __init__(self, rules: Sequence[_CompiledRule]) -> None:
        self._rules = tuple(rules)

    def __len__(self) -> int:
        return len(self._rules)

    def decide(self, sender: str, size: int, headers: Headers) -> MDADecision:
        """Return the decision of the first rule that matches, else :data:`INBOX`."""
        for rule in self._rules:
            if rule.matches(sender, size, headers):
                return rule.decision
        return INBOX


def _compile(rules: Iterable[MDARule], scope: str) -> list[_CompiledRule]:
    """Compile ``rules``; an unnamed rule is called after its place (``site rule 1``)."""
    return [
        _CompiledRule(rule, rule.name or f"{scope} rule {index}")
        for index, rule in enumerate(rules, start=1)
    ]


def build_filters(
    site: Sequence[MDARule], users: Mapping[str, Sequence[MDARule]], accounts: Iterable[str]
) -> dict[str, MDAFilter]:
    """Return the filter of every account that has one, keyed by lower-case login name.

    ``site`` holds the host's rules, ``users`` each login's own; ``accounts`` lists every login
    of the host, which all get the site's rules. Accounts without any rule are left out, so the
    engine's lookup for them is one miss (and none at all on a host without rules).
    """
    site_rules = _compile(site, "site")
    filters: dict[str, MDAFilter] = {}
    own = {login.lower(): rules for login, rules in users.items() if rules}
    for login in sorted({a.lower() for a in accounts} | set(own)):
        rules = site_rules + _compile(own.get(login, ()), "user")
        if rules:
            filters[login] = MDAFilter(rules)
    return filters


def vacation_exempt(sender: str, headers: Headers) -> str:
    """Return why vacation(1) would not answer this message ("" when it would).

    See the module docstring for the rules and where they come from.
    """
    if not sender:
        return "null sender"
    # junkmail(): the name ends at the first '%', else at the first '@'
    local = sender.partition("%")[0] if "%" in sender else sender.partition("@")[0]
    local = local.lower()
    for suffix in _JUNK_SUFFIXES:
        if local.endswith(suffix):
            return f"sender {sender}"
    for name, value in headers:
        lowered = name.lower()
        if lowered == "precedence" and _BULK_PRECEDENCE.match(value):
            return f"Precedence: {value.strip()}"
        if lowered.startswith("list-"):
            return f"{name} header"
        if lowered == "auto-submitted" and value.strip().lower() != "no":
            return f"Auto-Submitted: {value.strip()}"
    return ""


def vacation_due(last_reply: float | None, now: float, period: float) -> bool:
    """Return whether a vacation reply is due to a sender last answered at ``last_reply``
    (None: never) when the interval is ``period`` seconds (vacation(1) ``-r``)."""
    return last_reply is None or now - last_reply >= period
