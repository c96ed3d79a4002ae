"""Build the scenario's users and workload streams: who has a mailbox, who sends mail to whom.

Both refer to hosts, so they are built after the hosts, and checked against them the way the
hosts would treat them: a user's domain must be one its host delivers locally (mydestination),
a client must submit and fetch over services its server runs.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mailsim.scenario.mdaconf import build_mda_rules, header_name
from mailsim.scenario.model import FetchConfig, Host, Stream, User, Weighted, Workload
from mailsim.scenario.shapeconf import (
    build_burst,
    build_popularity,
    build_profile,
    build_recipient_count,
    build_size,
    share,
    skewed,
)
from mailsim.scenario.suggest import (
    FETCH_KEYS,
    HEADER_SET_KEYS,
    STREAM_KEYS,
    USER_KEYS,
    WEIGHTED_KEYS,
    WORKLOAD_KEYS,
)
from mailsim.scenario.validate import Checker, Where, describe

__all__ = ["build_fetch", "build_users", "build_workload", "mail_address", "weighted_list"]

_ADDRESS = re.compile(r"[^@\s<>,]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_SUBMIT = ("smtp", "submission")
_FETCH_SERVICES = {"pop3": ("pop3", "pop3s"), "imap": ("imap", "imaps")}


def mail_address(chk: Checker, at: Where, value: object) -> str | None:
    """Return ``value`` if it is a mail address ``local@domain``."""
    if isinstance(value, str) and _ADDRESS.fullmatch(value.strip()):
        return value.strip()
    chk.issue(at, "a mail address such as jura@firma1.intr", describe(value))
    return None


def build_users(chk: Checker, at: Where, value: object, hosts: Mapping[str, Host]) -> list[User]:
    """Return the users; a client address left out is picked inside the user's host network."""
    items = chk.sequence(at, value) or ()
    fields: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        built = _user_fields(chk, at.index(index, items), item, hosts)
        if built is None:
            continue
        key = built["address"].lower()
        if key in first:
            where = at.index(index, items).key("address", item)
            expected = "an address no other user has"
            chk.issue(where, expected, f"{built['address']!r} (also users[{first[key]}])")
        first.setdefault(key, index)
        fields.append(built)
    _assign_client_addresses(fields, hosts)
    return [User(**kwargs) for kwargs in fields]


def _user_fields(
    chk: Checker, at: Where, value: object, hosts: Mapping[str, Host]
) -> dict[str, Any] | None:
    required = {"address": "the user's mail address", "host": "the host of the user's mailbox"}
    data = chk.fields(at, value, "user", USER_KEYS, required)
    if data is None or data.get("address") is None or data.get("host") is None:
        return None
    address = mail_address(chk, at.key("address", data), data["address"]) or ""
    host = chk.choice(at.key("host", data), data["host"], hosts, "a host of the scenario") or ""
    if address and host:
        _check_local_domain(chk, at.key("address", data), address, hosts[host])
    password = data.get("password", "")
    if not isinstance(password, str | int) or isinstance(password, bool):
        chk.issue(at.key("password", data), "a password (text)", describe(password))
        password = ""
    client = data.get("client_address")
    client_address = (
        "" if client is None else chk.ip_address(at.key("client_address", data), client)
    )
    submit_host, service, sasl = _submission(chk, at, data, host, bool(password), hosts)
    return {
        "address": address,
        "host": host,
        "password": str(password),
        "client_address": client_address or "",
        "submit_host": submit_host,
        "submit_service": service,
        "sasl": sasl,
        "fetch": build_fetch(chk, at.key("fetch", data), data.get("fetch"), host, hosts),
        "mda_rules": build_mda_rules(
            chk, at.key("mda_rules", data), data.get("mda_rules"), mail_address
        ),
    }


def _submission(
    chk: Checker,
    at: Where,
    data: Mapping[object, object],
    host: str,
    has_password: bool,
    hosts: Mapping[str, Host],
) -> tuple[str, str, bool]:
    """Return (submit_host, submit_service, sasl) and check the server offers them.

    SASL needs a password and a submit host with smtpd_sasl_auth_enable = yes (postconf(5):
    without it smtpd offers no AUTH); it defaults to on for the submission service.
    """
    submit_host = host
    if data.get("submit_host") is not None:
        where = at.key("submit_host", data)
        submit_host = chk.choice(where, data["submit_host"], hosts, "a host of the scenario") or ""
    where = at.key("submit_service", data)
    service = chk.choice(where, data.get("submit_service", "smtp"), _SUBMIT, "a submit service")
    if service and submit_host and service not in hosts[submit_host].services:
        served = ", ".join(hosts[submit_host].services)
        chk.issue(where, f"a service {submit_host} runs ({served})", repr(service))
    sasl = service == "submission"
    if "sasl" in data:
        sasl = bool(chk.boolean(at.key("sasl", data), data["sasl"]))
    if sasl and not has_password:
        chk.issue(at.key("password", data), "a password (SASL authentication needs one)", "nothing")
    if sasl and submit_host and not hosts[submit_host].postfix.boolean("smtpd_sasl_auth_enable"):
        expected = f"false: {submit_host} has smtpd_sasl_auth_enable = no"
        chk.issue(at.key("sasl", data), expected, "True")
    return submit_host, service or "smtp", sasl


def _check_local_domain(chk: Checker, at: Where, address: str, host: Host) -> None:
    """Report a user whose domain the host does not deliver locally (postconf(5) mydestination)."""
    try:
        local = [d.lower() for d in host.postfix.list("mydestination") if ":" not in d]
    except ValueError:
        return  # the broken mydestination is reported with the host
    if address.rpartition("@")[2].lower() not in local:
        expected = f"an address in a domain {host.name} delivers locally"
        chk.issue(at, f"{expected} (mydestination: {', '.join(local)})", repr(address))


def build_fetch(
    chk: Checker, at: Where, value: object, host: str, hosts: Mapping[str, Host]
) -> FetchConfig | None:
    """Return how the user's client collects mail; no ``fetch`` means it reads on the host."""
    if value is None:
        return None
    data = chk.fields(at, value, "fetch", FETCH_KEYS)
    if data is None:
        return None
    where = at.key("protocol", data)
    protocol = chk.choice(where, data.get("protocol", "pop3"), _FETCH_SERVICES, "a protocol")
    interval = chk.quantity(at.key("interval", data), data.get("interval", 300.0), "duration")
    if interval == 0:
        chk.issue(at.key("interval", data), "a poll interval > 0", describe(data["interval"]))
    server = host
    if data.get("host") is not None:
        server = (
            chk.choice(at.key("host", data), data["host"], hosts, "a host of the scenario") or ""
        )
    if protocol and server and not set(_FETCH_SERVICES[protocol]) & set(hosts[server].services):
        served = ", ".join(hosts[server].services)
        chk.issue(where, f"a protocol {server} serves (services: {served})", repr(protocol))
    return FetchConfig(
        protocol="imap" if protocol == "imap" else "pop3",
        interval=interval or 300.0,
        host=server,
    )


def _assign_client_addresses(fields: list[dict[str, Any]], hosts: Mapping[str, Host]) -> None:
    """Give each user without a client address a free one in its host's network, else the
    host's own address (the user then runs the client on the server itself)."""
    used = {h.address for h in hosts.values()} | {f["client_address"] for f in fields}
    for user in fields:
        host = hosts.get(user["host"])
        if user["client_address"] or host is None:
            continue
        user["client_address"] = host.address
        if host.network:
            candidates = itertools.islice(ipaddress.ip_network(host.network).hosts(), 65536)
            free = next((str(a) for a in candidates if str(a) not in used), "")
            if free:
                user["client_address"] = free
                used.add(free)


def build_workload(
    chk: Checker,
    at: Where,
    value: object,
    hosts: Mapping[str, Host],
    users: Sequence[User],
) -> Workload:
    """Return the workload: its streams, each checked against the hosts and users."""
    data = chk.fields(at, value, "workload", WORKLOAD_KEYS)
    items = chk.sequence(at.key("streams", data), (data or {}).get("streams")) or ()
    by_address = {u.address.lower(): u for u in users}
    streams: list[Stream] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        where = at.key("streams", data).index(index, items)
        stream = _stream(chk, where, item, index, hosts, by_address)
        if stream is None:
            continue
        if stream.name in names:
            chk.issue(where.key("name", item), "a stream name used once", repr(stream.name))
        names.add(stream.name)
        streams.append(stream)
    return Workload(tuple(streams))


def _stream(
    chk: Checker,
    at: Where,
    value: object,
    index: int,
    hosts: Mapping[str, Host],
    users: Mapping[str, User],
) -> Stream | None:
    data = chk.fields(at, value, "stream", STREAM_KEYS)
    if data is None:
        return None
    required = {
        "senders": "a list of sender addresses",
        "recipients": "a list of recipient addresses",
    }
    if data.get("burst") is None:
        required = {"rate": "the stream's rate, such as 240/h", **required}
    for key, expected in required.items():
        if data.get(key) is None:
            chk.issue(at.key(key, data), expected, "nothing")
    name = f"stream{index + 1}"
    if data.get("name") is not None:
        name = chk.text(at.key("name", data), data["name"], "a stream name") or name
    rate = chk.quantity(at.key("rate", data), data.get("rate"), "rate") if "rate" in data else None
    start = chk.quantity(at.key("start", data), data.get("start", 0.0), "duration")
    stop = None
    if data.get("stop") is not None:
        stop = chk.quantity(at.key("stop", data), data["stop"], "duration")
        if stop is not None and start is not None and stop <= start:
            chk.issue(
                at.key("stop", data), f"a stop time after start ({start:g}s)", repr(data["stop"])
            )
    senders = weighted_list(chk, at.key("senders", data), data.get("senders"))
    recipients = weighted_list(chk, at.key("recipients", data), data.get("recipients"))
    shapes = _shapes(chk, at, data)
    per_message = build_recipient_count(
        chk,
        at.key("recipients_per_message", data),
        data.get("recipients_per_message", 1),
        len(recipients) + len(shapes.get("remote_recipients", ())),
    )
    connect_to, client_address = "", ""
    if data.get("connect_to") is not None:
        where = at.key("connect_to", data)
        connect_to = chk.choice(where, data["connect_to"], hosts, "a host of the scenario") or ""
    if data.get("client_address") is not None:
        where = at.key("client_address", data)
        client_address = chk.ip_address(where, data["client_address"]) or ""
    service = ""
    if data.get("service") is not None:
        where = at.key("service", data)
        service = chk.choice(where, data["service"], _SUBMIT, "a submit service") or ""
        if service and connect_to and service not in hosts[connect_to].services:
            chk.issue(where, f"a service {connect_to} runs", repr(service))
    for position, sender in senders:
        if sender.value.lower() not in users and not (connect_to and client_address):
            where = at.key("senders", data).index(position, data.get("senders"))
            expected = "a user of the scenario, or connect_to and client_address for an outsider"
            chk.issue(where, expected, repr(sender.value))
    headers = _header_sets(chk, at.key("headers", data), data.get("headers"))
    if "burst" in shapes:
        rate = rate or 0.0
    if rate is None or start is None or not senders or not recipients or per_message is None:
        return None
    if shapes.get("invalid"):
        return None
    skew = shapes.get("popularity", (0.0, 0.0))
    optional: dict[str, Any] = {k: v for k, v in shapes.items() if k != "popularity"}
    if headers:
        optional["headers"] = headers
    return Stream(
        name=name,
        rate=rate,
        senders=skewed([weighted for _, weighted in senders], skew[0]),
        recipients=skewed([weighted for _, weighted in recipients], skew[1]),
        recipients_per_message=per_message,
        start=start,
        stop=stop,
        connect_to=connect_to,
        client_address=client_address,
        service="submission" if service == "submission" else "smtp" if service else "",
        **optional,
    )


def _shapes(chk: Checker, at: Where, data: Mapping[object, object]) -> dict[str, Any]:
    """Return the stream's issue-5 fields that are given, checked (``invalid``: one was not)."""
    found: dict[str, Any] = {}
    builders = {
        "profile": build_profile,
        "burst": build_burst,
        "popularity": build_popularity,
    }
    for key, build in builders.items():
        if data.get(key) is not None:
            found[key] = build(chk, at.key(key, data), data[key])
    if data.get("size") is not None:
        found["size"] = build_size(chk, at.key("size", data), data["size"])
    if data.get("remote_recipients") is not None:
        listed = weighted_list(chk, at.key("remote_recipients", data), data["remote_recipients"])
        found["remote_recipients"] = tuple(weighted for _, weighted in listed)
    if data.get("remote_share") is not None:
        found["remote_share"] = share(chk, at.key("remote_share", data), data["remote_share"])
        if found["remote_share"] and not found.get("remote_recipients"):
            expected = "remote_recipients to draw from (or remote_share: 0)"
            chk.issue(at.key("remote_recipients", data), expected, "nothing")
            found["invalid"] = True
    if data.get("burst") is not None:
        for key in ("rate", "start", "stop", "profile"):
            if key in data:
                chk.issue(at.key(key, data), "no rate, start, stop or profile with a burst", key)
    if any(value is None for value in found.values()):
        found["invalid"] = True
    return found


def weighted_list(chk: Checker, at: Where, value: object) -> list[tuple[int, Weighted]]:
    """Return (index in the list, address with weight) for ``addr`` or ``{address: addr,
    weight: 2}`` items; the index lets later issues point at the item."""
    items = chk.sequence(at, value)
    if items is None:
        return []
    if not items:
        chk.issue(at, "a non-empty list of addresses", "an empty list")
        return []
    chosen: list[tuple[int, Weighted]] = []
    for index, item in enumerate(items):
        where = at.index(index, items)
        weight: float | None = 1.0
        if isinstance(item, Mapping):
            required = {"address": "a mail address"}
            data = chk.fields(where, item, "weighted address", WEIGHTED_KEYS, required)
            if data is None or data.get("address") is None:
                continue
            address = mail_address(chk, where.key("address", data), data["address"])
            weight = chk.number(where.key("weight", data), data.get("weight", 1.0), "a weight >= 0")
        else:
            address = mail_address(chk, where, item)
        if address is not None and weight is not None:
            chosen.append((index, Weighted(address, weight)))
    if chosen and len(chosen) == len(items) and not any(w.weight > 0 for _, w in chosen):
        chk.issue(at, "at least one weight > 0", "all weights 0")
    return chosen


def _header_sets(
    chk: Checker, at: Where, value: object
) -> tuple[tuple[tuple[tuple[str, str], ...], float], ...]:
    """Return a stream's weighted header sets: ``[{headers: {Subject: ...}, weight: 2}, ...]``.

    Each message of the stream gets one set, chosen by weight; an empty set (``headers: {}``)
    stands for messages without any of the headers the rules look at.
    """
    items = chk.sequence(at, value) or ()
    sets: list[tuple[tuple[tuple[str, str], ...], float]] = []
    for index, item in enumerate(items):
        where = at.index(index, items)
        required = {"headers": "a mapping of header names to values, such as {Subject: Hi}"}
        data = chk.fields(where, item, "header set", HEADER_SET_KEYS, required)
        if data is None or data.get("headers") is None:
            continue
        block = chk.mapping(where.key("headers", data), data.get("headers"))
        weight = chk.number(where.key("weight", data), data.get("weight", 1.0), "a weight >= 0")
        pairs: list[tuple[str, str]] = []
        for name, text in (block or {}).items():
            field = where.key("headers", data).key(name, block)
            checked = header_name(chk, field, name)
            if not isinstance(text, str | int | float) or isinstance(text, bool):
                chk.issue(field, "the header's value (text)", describe(text))
            elif checked is not None:
                pairs.append((checked, str(text)))
        if block is not None and weight is not None and len(pairs) == len(block):
            sets.append((tuple(pairs), weight))
    if sets and len(sets) == len(items) and not any(weight > 0 for _, weight in sets):
        chk.issue(at, "at least one weight > 0", "all weights 0")
    return tuple(sets)
