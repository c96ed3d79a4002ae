"""Build the scenario's faults: a host's ``behaviour`` and the resolver's ``dns.faults``.

A host block may say how its SMTP server misbehaves::

    behaviour:
      down: [{start: 1h, end: 4h}]                   # nothing answers port 25
      replies:                                       # answers instead of accepting
        - {reply: "450 4.2.1 Mailbox busy", stage: rcpt, probability: 0.2, recipients: "^old\\."}
      greylist: {delay: 5m, reply: "450 4.7.1 Greylisted, please try again later"}
      session_limit: 10                              # simultaneous sessions, 0: none
      session_limit_reply: "421 4.7.0 Too many concurrent SMTP connections"

and ``dns.faults`` lists resolver failures: ``[{domain: firma3.intr, kind: servfail, start: 2h,
end: 3h}]``. Times are durations since the start of the run; ``end`` may be left out for "until
the end" except for an outage. Reply lines are checked as smtp(8) reads them (RFC 5321 4.2: a
three-digit code; RFC 3463: an optional enhanced status code whose class is the code's first
digit), and must be 4xx or 5xx because they refuse something.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mailsim.scenario.faults import DNSFault, Greylist, HostBehaviour, Outage, ReplyRule
from mailsim.scenario.suggest import (
    BEHAVIOUR_KEYS,
    DNS_FAULT_KEYS,
    DNS_FAULT_KINDS,
    GREYLIST_KEYS,
    OUTAGE_KEYS,
    REPLY_RULE_KEYS,
    SMTP_STAGES,
)
from mailsim.scenario.validate import Checker, Where, describe

__all__ = ["build_behaviour", "build_dns_faults", "split_reply"]

_REPLY = re.compile(r"([0-9]{3})(?: ([0-9])\.([0-9]{1,3})\.([0-9]{1,3})(?= |$))?(?: (.*))?")
_DOMAIN = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_EXPECT_REPLY = (
    "an SMTP reply line: a 4xx or 5xx code, an optional enhanced status code of the same class "
    "and a text, such as '450 4.2.1 Mailbox temporarily unavailable'"
)


def split_reply(line: str) -> tuple[int, str, str] | None:
    """Return (code, enhanced status or "", text) of a 4xx/5xx reply line, or None."""
    match = _REPLY.fullmatch(line.strip())
    if match is None:
        return None
    code = int(match.group(1))
    if not 400 <= code <= 599:
        return None
    dsn = ""
    if match.group(2) is not None:
        if match.group(2) != str(code // 100):
            return None
        dsn = f"{match.group(2)}.{int(match.group(3))}.{int(match.group(4))}"
    return code, dsn, (match.group(5) or "").strip()


def build_behaviour(chk: Checker, at: Where, value: object) -> HostBehaviour:
    """Return a host's behaviour (healthy when absent); problems go to ``chk``."""
    if isinstance(value, HostBehaviour):
        return value
    data = chk.fields(at, value, "behaviour", BEHAVIOUR_KEYS)
    if not data:
        return HostBehaviour()
    outages: list[Outage] = []
    down = chk.sequence(at.key("down", data), data.get("down")) or ()
    for index, item in enumerate(down):
        where = at.key("down", data).index(index, down)
        required = {"end": "when the outage ends, such as 4h"}
        fields = chk.fields(where, item, "outage", OUTAGE_KEYS, required)
        window = None if fields is None else _window(chk, where, fields, end_required=True)
        if window is not None and window[1] is not None:
            outages.append(Outage(window[0], window[1]))
    rules: list[ReplyRule] = []
    items = chk.sequence(at.key("replies", data), data.get("replies")) or ()
    for index, item in enumerate(items):
        rule = _reply_rule(chk, at.key("replies", data).index(index, items), item)
        if rule is not None:
            rules.append(rule)
    greylist = None
    if data.get("greylist") is not None:
        greylist = _greylist(chk, at.key("greylist", data), data["greylist"])
    limit = chk.integer(at.key("session_limit", data), data.get("session_limit", 0))
    limit_reply = HostBehaviour().session_limit_reply
    if "session_limit_reply" in data:
        where = at.key("session_limit_reply", data)
        raw = data["session_limit_reply"]
        if raw == "":
            limit_reply = ""  # the server closes excess connections without a greeting
        else:
            limit_reply = _reply(chk, where, raw, "an SMTP reply line, or '' (close)") or ""
    return HostBehaviour(
        down=tuple(outages),
        replies=tuple(rules),
        greylist=greylist,
        session_limit=limit or 0,
        session_limit_reply=limit_reply,
    )


def build_dns_faults(chk: Checker, at: Where, value: object) -> tuple[DNSFault, ...]:
    """Return the resolver's faults, each for a domain (and the names below it)."""
    faults: list[DNSFault] = []
    items = chk.sequence(at, value) or ()
    for index, item in enumerate(items):
        where = at.index(index, items)
        required = {
            "domain": "the domain whose lookups fail",
            "kind": "servfail, timeout or nxdomain",
        }
        data = chk.fields(where, item, "DNS fault", DNS_FAULT_KEYS, required)
        if data is None or data.get("domain") is None or data.get("kind") is None:
            continue
        domain = data["domain"]
        if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain.strip().rstrip(".")):
            chk.issue(
                where.key("domain", data), "a domain name such as firma3.intr", describe(domain)
            )
            domain = None
        kind = chk.choice(
            where.key("kind", data), data["kind"], DNS_FAULT_KINDS, "a DNS fault kind"
        )
        window = _window(chk, where, data, end_required=False)
        if domain is None or kind is None or window is None:
            continue
        name = domain.strip().rstrip(".").lower()
        faults.append(DNSFault(name, kind, window[0], window[1]))  # type: ignore[arg-type]
    return tuple(faults)


def _window(
    chk: Checker, at: Where, data: Mapping[object, object], end_required: bool
) -> tuple[float, float | None] | None:
    """Return (start, end) of a time window in checked ``data``; ``end`` comes after ``start``."""
    start = chk.quantity(at.key("start", data), data.get("start", 0.0), "duration")
    end = None
    if data.get("end") is not None:
        end = chk.quantity(at.key("end", data), data["end"], "duration")
        if end is None:
            return None
        if start is not None and end <= start:
            expected = f"an end after start ({start:g}s)"
            chk.issue(at.key("end", data), expected, describe(data["end"]))
            return None
    elif end_required:
        return None
    return None if start is None else (start, end)


def _reply(chk: Checker, at: Where, value: object, expected: str = _EXPECT_REPLY) -> str | None:
    """Return a valid 4xx/5xx reply line, suggesting the fixed class of a mismatched DSN."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and split_reply(value) is not None:
        return value.strip()
    suggestion = ""
    match = _REPLY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None and match.group(2) is not None and 400 <= int(match.group(1)) <= 599:
        fixed = f"{match.group(1)[0]}.{match.group(3)}.{match.group(4)}"
        suggestion = f"{match.group(1)} {fixed} {match.group(5) or ''}".strip()
        expected = f"an enhanced status code of class {match.group(1)[0]} (as the reply code)"
    chk.issue(at, expected, describe(value), suggestion)
    return None


def _reply_rule(chk: Checker, at: Where, value: object) -> ReplyRule | None:
    required = {"reply": "the reply line the server sends, such as '450 4.2.1 Try later'"}
    data = chk.fields(at, value, "reply rule", REPLY_RULE_KEYS, required)
    if data is None or data.get("reply") is None:
        return None
    reply = _reply(chk, at.key("reply", data), data["reply"])
    stage = chk.choice(
        at.key("stage", data), data.get("stage", "rcpt"), SMTP_STAGES, "an SMTP stage"
    )
    probability = chk.number(
        at.key("probability", data), data.get("probability", 1.0), "a probability from 0 to 1"
    )
    if probability is not None and probability > 1:
        chk.issue(at.key("probability", data), "a probability from 0 to 1", describe(probability))
        probability = None
    window = _window(chk, at, data, end_required=False)
    recipients = data.get("recipients", "")
    if recipients:
        where = at.key("recipients", data)
        if stage is not None and stage != "rcpt":
            chk.issue(
                where, "no recipients pattern: it applies at the rcpt stage only", repr(recipients)
            )
        elif not isinstance(recipients, str):
            chk.issue(
                where, "a regular expression matched against the recipient", describe(recipients)
            )
        else:
            try:
                re.compile(recipients)
            except re.error as exc:
                chk.issue(where, "a valid regular expression (Python re)", f"{recipients!r}: {exc}")
    if reply is None or stage is None or probability is None or window is None:
        return None
    return ReplyRule(
        reply=reply,
        stage=stage,  # type: ignore[arg-type]
        probability=probability,
        start=window[0],
        end=window[1],
        recipients=recipients if isinstance(recipients, str) else "",
    )


def _greylist(chk: Checker, at: Where, value: object) -> Greylist | None:
    data = chk.fields(at, value, "greylist", GREYLIST_KEYS)
    if data is None:
        return None
    default = Greylist()
    delay = chk.quantity(at.key("delay", data), data.get("delay", default.delay), "duration")
    reply = default.reply
    if data.get("reply") is not None:
        reply = _reply(chk, at.key("reply", data), data["reply"]) or ""
        parsed = split_reply(reply) if reply else None
        if parsed is not None and parsed[0] >= 500:
            code, dsn, text = parsed
            fixed = " ".join(
                part for part in (f"4{code % 100:02d}", "4" + dsn[1:] if dsn else "", text) if part
            )
            expected = "a 4xx reply: greylisting defers (a 5xx would bounce the mail)"
            chk.issue(at.key("reply", data), expected, repr(reply), fixed)
            reply = ""
    if delay is None or not reply:
        return None
    return Greylist(delay=delay, reply=reply)
