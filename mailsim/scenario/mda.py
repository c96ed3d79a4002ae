"""Scenario records for MDA rules: procmail/maildrop-style recipes (the lecture's chapter 2).

A host may have site-wide rules (/etc/procmailrc) and each user their own (~/.procmailrc); the
MDA tries the site's rules, then the user's, and the first rule that matches decides. A message
no rule matches goes to the inbox. Conditions that are given must all hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MDARule"]

MDAAction = Literal["folder", "discard", "forward", "vacation"]


@dataclass(frozen=True, slots=True)
class MDARule:
    """One recipe: conditions (regular expressions, size bounds) and one action.

    ``header`` + ``pattern``: the header's value matches ``pattern`` (``header: Subject``,
    ``pattern: "^\\[SPAM\\]"``); ``sender``: the envelope sender matches; ``min_size`` /
    ``max_size`` (0: no bound) in bytes. Actions: ``folder`` files the message into ``folder``,
    ``discard`` drops it (procmail's /dev/null), ``forward`` sends it on to ``forward_to``,
    ``vacation`` delivers it and answers the sender with ``vacation_text`` at most once per
    sender every ``vacation_period`` seconds (vacation(1)), never to the null sender or to
    mailing lists.
    """

    action: MDAAction
    name: str = ""
    header: str = ""
    pattern: str = ""
    sender: str = ""
    min_size: int = 0
    max_size: int = 0
    folder: str = ""
    forward_to: str = ""
    vacation_period: float = 7 * 86400.0
    vacation_text: str = "I am away and will read your message when I am back."
