"""Read ``workload.organisation`` (the per-user description) and compile it at load time.

::

    workload:
      organisation:
        domain: firma1.intr          # default: the domains of the scenario's users
        users: 200                   # generated user1..user200@domain (besides the scenario's)
        messages_per_user_per_day: 40
        peak_hour_share: 0.15        # share of a day's mail in the busiest hour
        outside_share: 0.35          # share of recipients outside the organisation
        spam_share: 0.3              # share of all messages that are spam
        profile: office              # or 24 hourly weights, or {hourly, weekly, origin}

The result is users and ``org-*`` streams (:mod:`mailsim.scenario.organisation`); a problem the
compilation finds is reported at the field it comes from, like every other issue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mailsim.scenario.model import Host, Stream, User, Workload
from mailsim.scenario.organisation import (
    STREAM_NAMES,
    Organisation,
    OrganisationProblem,
    SpamSource,
    compile_organisation,
    organisation_host,
)
from mailsim.scenario.shapeconf import (
    build_popularity,
    build_profile,
    build_recipient_count,
    build_size,
    share,
)
from mailsim.scenario.suggest import ORGANISATION_KEYS, SPAM_KEYS
from mailsim.scenario.traffic import build_fetch, weighted_list
from mailsim.scenario.validate import Checker, Where, describe

__all__ = ["add_organisation"]

_DOMAIN = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_DOMAIN_EXPECTED = "a mail domain such as firma1.intr, or a list of them"


def add_organisation(
    chk: Checker,
    at: Where,
    value: object,
    hosts: Mapping[str, Host],
    users: Sequence[User],
    workload: Workload,
) -> tuple[Workload, list[User]]:
    """Return the workload with the organisation's streams, and the users with its generated
    ones; both unchanged when the workload has no ``organisation``."""
    if not isinstance(value, Mapping) or value.get("organisation") is None:
        return workload, list(users)
    block = value["organisation"]
    where = at.key("organisation", value)
    org = _organisation(chk, where, block, hosts, users)
    if org is None:
        return workload, list(users)
    data: Mapping[object, object] = block if isinstance(block, Mapping) else {}
    try:
        generated, streams = compile_organisation(org, hosts, users)
    except OrganisationProblem as problem:
        key = "domain" if problem.field == "domains" else problem.field
        chk.issue(where.key(key, data), problem.expected, problem.got)
        return workload, list(users)
    _check_names(chk, at, value, workload.streams)
    merged = Workload((*workload.streams, *streams), organisation=org)
    return merged, [*users, *generated]


def _organisation(
    chk: Checker,
    at: Where,
    value: object,
    hosts: Mapping[str, Host],
    users: Sequence[User],
) -> Organisation | None:
    required = {"messages_per_user_per_day": "messages each user sends on a full day"}
    data = chk.fields(at, value, "organisation", ORGANISATION_KEYS, required)
    if data is None:
        return None
    fields: dict[str, Any] = {}
    fields["domains"] = _domains(chk, at.key("domain", data), data.get("domain"), users)
    if data.get("host") is not None:
        where = at.key("host", data)
        fields["host"] = chk.choice(where, data["host"], hosts, "a host of the scenario")
    if data.get("users") is not None:
        fields["users"] = chk.integer(at.key("users", data), data["users"], 0)
    for key in ("messages_per_user_per_day", "inbound_per_user_per_day"):
        if data.get(key) is not None:
            fields[key] = chk.number(at.key(key, data), data[key], "a number of messages >= 0")
    for key in ("peak_hour_share", "outside_share", "spam_share"):
        if data.get(key) is not None:
            fields[key] = share(chk, at.key(key, data), data[key])
    if fields.get("spam_share") == 1:
        chk.issue(at.key("spam_share", data), "a share from 0 to below 1", describe(1))
        fields["spam_share"] = None
    if data.get("profile") is not None:
        fields["profile"] = build_profile(chk, at.key("profile", data), data["profile"])
    if data.get("correspondents") is not None:
        where = at.key("correspondents", data)
        listed = weighted_list(chk, where, data["correspondents"])
        fields["correspondents"] = tuple(w for _, w in listed) or None
    if data.get("popularity") is not None:
        skew = build_popularity(chk, at.key("popularity", data), data["popularity"])
        fields["sender_skew"], fields["recipient_skew"] = skew or (None, None)
    if data.get("recipients_per_message") is not None:
        where = at.key("recipients_per_message", data)
        fields["recipients_per_message"] = build_recipient_count(
            chk, where, data["recipients_per_message"], 0
        )
    if data.get("size") is not None:
        fields["size"] = build_size(chk, at.key("size", data), data["size"])
    if data.get("spam") is not None:
        fields["spam"] = _spam(chk, at.key("spam", data), data["spam"])
    if data.get("fetch") is not None:
        server = fields.get("host") or _first_host(fields.get("domains"), hosts)
        if server:  # without one, compiling reports the domain or host
            fields["fetch"] = build_fetch(chk, at.key("fetch", data), data["fetch"], server, hosts)
    if any(v is None for v in fields.values()) or "messages_per_user_per_day" not in fields:
        return None
    return Organisation(**fields)


def _domains(
    chk: Checker, at: Where, value: object, users: Sequence[User]
) -> tuple[str, ...] | None:
    """Return the organisation's domains; by default those of the scenario's users."""
    if value is None:
        found = tuple(dict.fromkeys(u.domain.lower() for u in users))
        if not found:
            chk.issue(at, "the organisation's mail domain (the scenario has no users)", "nothing")
            return None
        return found
    items = value if isinstance(value, list | tuple) else [value]
    domains: list[str] = []
    for item in items:
        if not isinstance(item, str) or not _DOMAIN.fullmatch(item.strip()):
            chk.issue(at, _DOMAIN_EXPECTED, describe(value))
            return None
        domains.append(item.strip().lower())
    if not domains:
        chk.issue(at, _DOMAIN_EXPECTED, describe(value))
        return None
    return tuple(domains)


def _first_host(domains: tuple[str, ...] | None, hosts: Mapping[str, Host]) -> str:
    found = organisation_host(domains[0], hosts) if domains else []
    return found[0] if len(found) == 1 else ""


def _spam(chk: Checker, at: Where, value: object) -> SpamSource | None:
    data = chk.fields(at, value, "spam", SPAM_KEYS)
    if data is None:
        return None
    fields: dict[str, Any] = {}
    if data.get("senders") is not None:
        listed = weighted_list(chk, at.key("senders", data), data["senders"])
        fields["senders"] = tuple(w.value for _, w in listed) or None
    if data.get("client_address") is not None:
        where = at.key("client_address", data)
        fields["client_address"] = chk.ip_address(where, data["client_address"])
    if data.get("size") is not None:
        size = build_size(chk, at.key("size", data), data["size"])
        fields["size"] = size
    if data.get("recipients_per_message") is not None:
        where = at.key("recipients_per_message", data)
        fields["recipients_per_message"] = build_recipient_count(
            chk, where, data["recipients_per_message"], 0
        )
    if any(v is None for v in fields.values()):
        return None
    return SpamSource(**fields)


def _check_names(
    chk: Checker, at: Where, value: Mapping[object, object], streams: Sequence[Stream]
) -> None:
    """Report a stream of the scenario that takes the name of an organisation stream."""
    for index, stream in enumerate(streams):
        if stream.name in STREAM_NAMES:
            items = value.get("streams")
            item = items[index] if isinstance(items, list) and index < len(items) else None
            where = at.key("streams", value).index(index, items).key("name", item)
            chk.issue(
                where, "a stream name other than org-sent, org-inbound, org-spam", stream.name
            )
