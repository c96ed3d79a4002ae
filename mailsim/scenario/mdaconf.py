"""Read MDA recipes from the scenario: ``hosts.<name>.mda_rules`` and ``users[i].mda_rules``.

Each item is one :class:`~mailsim.scenario.mda.MDARule`::

    mda_rules:
      - {name: spam, header: Subject, pattern: '^\\[SPAM\\]', action: folder, folder: .Spam}
      - {name: big, min_size: 5MB, action: discard}
      - {name: boss, sender: '^boss@', action: forward, forward_to: jura@firma2.intr}
      - {name: away, action: vacation, vacation_period: 7d, vacation_text: "Back on Monday."}

``action`` is required; the conditions given must all hold (none: the rule matches every
message). ``header`` names a header field (RFC 5322 section 3.6.8) and ``pattern`` is a regular
expression searched in its value (a ``header`` without ``pattern`` asks only that the header be
there); ``sender`` is one searched in the envelope sender; sizes take units (``100KB``).
``folder`` goes with ``folder`` only, ``forward_to`` with ``forward``, ``vacation_period``
(a duration, or ``infinite`` as vacation(1) ``-r`` takes it) and ``vacation_text`` with
``vacation``. Every problem is reported with its path: a pattern that does not compile names
the regular-expression error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from mailsim.scenario.mda import MDARule
from mailsim.scenario.suggest import MDA_ACTIONS, MDA_RULE_KEYS
from mailsim.scenario.validate import Checker, Where, describe

__all__ = ["HEADER_NAME", "build_mda_rules", "header_name"]

#: RFC 5322 3.6.8: a field name is printable US-ASCII except the colon.
HEADER_NAME = re.compile(r"[!-9;-~]+")

AddressCheck = Callable[[Checker, Where, object], str | None]

#: The keys that belong to one action only.
_ACTION_KEYS: dict[str, str] = {
    "folder": "folder",
    "forward_to": "forward",
    "vacation_period": "vacation",
    "vacation_text": "vacation",
}
_INFINITE = ("infinite", "inf", "forever")


def header_name(chk: Checker, at: Where, value: object) -> str | None:
    """Return ``value`` if it is a header field name such as ``Subject`` or ``List-Id``."""
    if isinstance(value, str) and HEADER_NAME.fullmatch(value.strip()):
        return value.strip()
    bare = value.strip().rstrip(":").strip() if isinstance(value, str) else ""
    suggestion = bare if HEADER_NAME.fullmatch(bare) else ""
    expected = "a header field name such as Subject (no colon, no spaces)"
    chk.issue(at, expected, describe(value), suggestion)
    return None


def build_mda_rules(
    chk: Checker, at: Where, value: object, mail_address: AddressCheck
) -> tuple[MDARule, ...]:
    """Return the recipes listed at ``at``; ``mail_address`` checks ``forward_to``."""
    items = chk.sequence(at, value) or ()
    rules: list[MDARule] = []
    for index, item in enumerate(items):
        rule = _rule(chk, at.index(index, items), item, mail_address)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(chk: Checker, at: Where, value: object, mail_address: AddressCheck) -> MDARule | None:
    required = {"action": f"the rule's action ({', '.join(MDA_ACTIONS)})"}
    data = chk.fields(at, value, "MDA rule", MDA_RULE_KEYS, required)
    if data is None or data.get("action") is None:
        return None
    action = chk.choice(at.key("action", data), data["action"], MDA_ACTIONS, "an MDA action")
    fields: dict[str, Any] = {}
    ok = action is not None
    for key, owner in _ACTION_KEYS.items():
        if key in data and action is not None and action != owner:
            chk.issue(at.key(key, data), f"{key} only in a rule with action {owner}", action)
            ok = False
    if data.get("name") is not None:
        fields["name"] = chk.text(at.key("name", data), data["name"], "a rule name")
    if data.get("header") is not None:
        fields["header"] = header_name(chk, at.key("header", data), data["header"])
        ok = ok and fields["header"] is not None
    for key in ("pattern", "sender"):
        if data.get(key) is not None:
            fields[key] = _regex(chk, at.key(key, data), data[key])
            ok = ok and fields[key] is not None
    if "pattern" in fields and "header" not in data:
        chk.issue(at.key("pattern", data), "a header for the pattern (header: Subject)", "none")
        ok = False
    ok = _sizes(chk, at, data, fields) and ok
    if action == "folder":
        fields["folder"] = _folder(chk, at, data)
    elif action == "forward":
        where = at.key("forward_to", data)
        if data.get("forward_to") is None:
            chk.issue(where, "the address to forward to (forward_to)", "nothing")
            fields["forward_to"] = None
        else:
            fields["forward_to"] = mail_address(chk, where, data["forward_to"])
    elif action == "vacation":
        ok = _vacation(chk, at, data, fields) and ok
    if not ok or any(v is None for v in fields.values()):
        return None
    return MDARule(action=action, **fields)  # type: ignore[arg-type]


def _regex(chk: Checker, at: Where, value: object) -> str | None:
    """Return ``value`` if it is a regular expression that compiles."""
    if not isinstance(value, str):
        chk.issue(at, "a regular expression (text)", describe(value))
        return None
    try:
        re.compile(value)
    except re.error as exc:
        chk.issue(at, "a regular expression", f"{value!r} ({exc})")
        return None
    return value


def _sizes(chk: Checker, at: Where, data: Mapping[object, object], fields: dict[str, Any]) -> bool:
    """Read min_size and max_size (0: no bound); report max below min."""
    ok = True
    for key in ("min_size", "max_size"):
        if data.get(key) is not None:
            size = chk.quantity(at.key(key, data), data[key], "size")
            fields[key] = None if size is None else round(size)
            ok = ok and size is not None
    low, high = fields.get("min_size") or 0, fields.get("max_size") or 0
    if low and high and high < low:
        chk.issue(at.key("max_size", data), f"max_size >= min_size ({low} bytes)", f"{high}")
        return False
    return ok


def _folder(chk: Checker, at: Where, data: Mapping[object, object]) -> str | None:
    """Return the folder of a folder rule: a name such as ``.Spam`` or ``Mail/lists``."""
    where = at.key("folder", data)
    if data.get("folder") is None:
        chk.issue(where, "the folder to file into (folder: .Spam)", "nothing")
        return None
    name = chk.text(where, data["folder"], "a folder name such as .Spam")
    if name is not None and (name.startswith("/") or ".." in name.split("/") or "\n" in name):
        chk.issue(where, "a folder name inside the mailbox, such as .Spam", repr(name))
        return None
    return name


def _vacation(
    chk: Checker, at: Where, data: Mapping[object, object], fields: dict[str, Any]
) -> bool:
    """Read vacation_period (a duration or ``infinite``) and vacation_text."""
    ok = True
    raw = data.get("vacation_period")
    if raw is not None:
        where = at.key("vacation_period", data)
        if isinstance(raw, str) and raw.strip().lower() in _INFINITE:
            fields["vacation_period"] = math.inf
        else:
            period = chk.quantity(where, raw, "duration")
            fields["vacation_period"] = period
            ok = period is not None
    if data.get("vacation_text") is not None:
        where = at.key("vacation_text", data)
        fields["vacation_text"] = chk.text(where, data["vacation_text"], "the reply's text")
        ok = ok and fields["vacation_text"] is not None
    return ok
