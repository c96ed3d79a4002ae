"""The per-user description of an organisation's mail, compiled into users and streams.

A capacity planner knows her organisation in a few figures: how many users, how many messages
each sends on a working day, how much of it arrives in the busiest hour, how much goes outside,
how much of what arrives is spam. :func:`compile_organisation` turns those figures into the
scenario's own records, so both engines run them like any other workload:

* **users**: the scenario's users in the organisation's domains, plus ``users`` generated ones
  (``user1@domain`` ...) on the host that delivers the domain (its mydestination), with client
  addresses in that host's network;
* ``org-sent``: what the users write, ``users * messages_per_user_per_day`` messages on a full
  day, following the profile sharpened or flattened to ``peak_hour_share``; each recipient is
  outside the organisation (a correspondent) with probability ``outside_share``;
* ``org-inbound``: what correspondents who are users of the scenario send to the
  organisation, ``users * inbound_per_user_per_day`` on a full day (by default as much as goes
  out: ``messages_per_user_per_day * outside_share``), submitted at their own hosts;
* ``org-spam``: spam, a share ``spam_share`` of all the day's messages, at a flat rate (spam
  does not keep office hours; Gomes et al., see :mod:`mailsim.scenario.shape`), from outside
  (``spam.client_address``) straight to the organisation's host, with its own sizes and
  recipient counts, to users picked without popularity skew.

Volumes are per *full day* (a day with the profile's largest weekly weight); on other days
they scale with the weekly weights, spam excepted.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mailsim.scenario.model import (
    Distribution,
    FetchConfig,
    Host,
    Scenario,
    Stream,
    User,
    Weighted,
    Workload,
)
from mailsim.scenario.shape import DAY, LognormalPareto, Profile, SizeLaw, ZipfCount

__all__ = [
    "SPAM_SENDERS",
    "Organisation",
    "OrganisationProblem",
    "SpamSource",
    "compile_organisation",
    "find_host",
    "organisation_host",
    "with_organisation",
]

#: Default envelope senders of spam (documentation domains, RFC 2606).
SPAM_SENDERS: tuple[str, ...] = tuple(f"offer{i}@bulk{i}.example" for i in range(1, 11))
STREAM_NAMES = ("org-sent", "org-inbound", "org-spam")


@dataclass(frozen=True, slots=True)
class SpamSource:
    """Where spam comes from and what it looks like.

    It enters the organisation's host over SMTP from ``client_address`` (TEST-NET-3 by
    default, RFC 5737). Sizes default to a lognormal with median 3 kB and sigma 1.0 and
    recipient counts to a Zipf law with s = 1.5 on 1..20: assumptions in the direction Gomes et
    al. report (spam names more recipients per message than legitimate mail), not fits.
    """

    senders: tuple[str, ...] = SPAM_SENDERS
    client_address: str = "203.0.113.66"
    size: SizeLaw = field(default_factory=lambda: Distribution.lognormal(3000.0, 1.0))
    recipients_per_message: tuple[int, int] | ZipfCount = field(
        default_factory=lambda: ZipfCount(1.5, 20)
    )


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation's mail in per-user figures (see the module docstring).

    ``correspondents`` empty means the scenario's users outside ``domains``; ``host`` empty
    means the one host whose mydestination lists the first domain. ``sender_skew`` and
    ``recipient_skew`` are Zipf exponents over the organisation's users in order (0: all
    alike, so each user sends ``messages_per_user_per_day``). ``fetch`` is how generated users
    collect their mail (None: they read it on the host).
    """

    domains: tuple[str, ...]
    messages_per_user_per_day: float
    users: int = 0
    host: str = ""
    peak_hour_share: float | None = None
    outside_share: float = 0.0
    inbound_per_user_per_day: float | None = None
    spam_share: float = 0.0
    profile: Profile = field(default_factory=Profile.office)
    correspondents: tuple[Weighted, ...] = ()
    sender_skew: float = 0.0
    recipient_skew: float = 0.0
    recipients_per_message: tuple[int, int] | ZipfCount = field(default_factory=ZipfCount)
    size: SizeLaw = field(default_factory=LognormalPareto)
    spam: SpamSource = field(default_factory=SpamSource)
    fetch: FetchConfig | None = None


class OrganisationProblem(ValueError):
    """An organisation that cannot be compiled; names the field, the expectation and the value
    (the YAML loader turns it into an issue at that field)."""

    def __init__(self, field_name: str, expected: str, got: str = "") -> None:
        super().__init__(f"organisation.{field_name}: expected {expected}, got {got}")
        self.field = field_name
        self.expected = expected
        self.got = got


def organisation_host(domain: str, hosts: Mapping[str, Host]) -> list[str]:
    """Return the hosts whose mydestination lists ``domain`` (postconf(5))."""
    found = []
    for name, host in hosts.items():
        try:
            local = [d.lower() for d in host.postfix.list("mydestination")]
        except ValueError:
            continue
        if domain.lower() in local:
            found.append(name)
    return sorted(found)


def compile_organisation(
    org: Organisation, hosts: Mapping[str, Host], users: Sequence[User]
) -> tuple[tuple[User, ...], tuple[Stream, ...]]:
    """Return (the generated users, the org-* streams); raise OrganisationProblem."""
    domains = {d.lower() for d in org.domains}
    host = find_host(org, hosts)
    existing = [u for u in users if u.domain.lower() in domains]
    generated = _generate_users(org, hosts[host], users)
    members = [*existing, *generated]
    if not members:
        raise OrganisationProblem(
            "users", f"users: N, or users of the scenario in {', '.join(org.domains)}", "none"
        )
    correspondents = org.correspondents or tuple(
        Weighted(u.address) for u in users if u.domain.lower() not in domains
    )
    if org.outside_share > 0 and not correspondents:
        raise OrganisationProblem(
            "outside_share",
            "0, or correspondents: users in another domain or a correspondents list",
            repr(org.outside_share),
        )
    profile = _profile(org)
    count = len(members)
    sent = count * org.messages_per_user_per_day / DAY
    inbound_per_user = org.inbound_per_user_per_day
    if inbound_per_user is None:
        inbound_per_user = org.messages_per_user_per_day * org.outside_share
    inbound = count * inbound_per_user / DAY
    spam = org.spam_share / (1 - org.spam_share) * (sent + inbound)
    ranked = _ranked(members, org.recipient_skew)
    streams: list[Stream] = []
    if sent > 0:
        streams.append(
            Stream(
                "org-sent",
                sent,
                senders=_ranked(members, org.sender_skew),
                recipients=ranked,
                size=org.size,
                recipients_per_message=org.recipients_per_message,
                profile=profile,
                remote_recipients=correspondents if org.outside_share > 0 else (),
                remote_share=org.outside_share,
            )
        )
    if inbound > 0:
        by_address = {u.address.lower() for u in users}
        senders = tuple(w for w in correspondents if w.value.lower() in by_address)
        if not senders:
            raise OrganisationProblem(
                "inbound_per_user_per_day",
                "0, or correspondents who are users of the scenario (they submit at their hosts)",
                repr(inbound_per_user),
            )
        rpm = _capped(org.recipients_per_message, count)
        streams.append(
            Stream("org-inbound", inbound, senders, ranked, org.size, rpm, profile=profile)
        )
    if spam > 0:
        streams.append(_spam(org.spam, spam, members, host, hosts[host], profile.origin))
    return tuple(generated), tuple(streams)


def with_organisation(scenario: Scenario, org: Organisation) -> Scenario:
    """Return ``scenario`` with the organisation's generated users and streams added."""
    generated, streams = compile_organisation(org, scenario.hosts, scenario.users)
    taken = {s.name for s in scenario.workload.streams} & set(STREAM_NAMES)
    if taken:
        raise ValueError(f"the scenario already has streams named {sorted(taken)}")
    workload = Workload((*scenario.workload.streams, *streams), organisation=org)
    return scenario.replace(users=(*scenario.users, *generated), workload=workload)


def find_host(org: Organisation, hosts: Mapping[str, Host]) -> str:
    """Return the organisation's host: ``org.host``, or the one delivering its first domain."""
    if not org.domains:
        raise OrganisationProblem("domain", "the organisation's mail domain", "none")
    if org.host:
        if org.host not in hosts:
            raise OrganisationProblem("host", "a host of the scenario", repr(org.host))
        if org.host not in organisation_host(org.domains[0], hosts):
            expected = f"a host that delivers {org.domains[0]} locally (mydestination)"
            raise OrganisationProblem("host", expected, repr(org.host))
        return org.host
    found = organisation_host(org.domains[0], hosts)
    if len(found) != 1:
        got = "none" if not found else ", ".join(found)
        expected = f"one host whose mydestination lists {org.domains[0]}, or host: NAME"
        raise OrganisationProblem("domain", expected, got)
    return found[0]


def _profile(org: Organisation) -> Profile:
    if org.peak_hour_share is None:
        return org.profile
    try:
        return org.profile.with_peak_share(org.peak_hour_share)
    except ValueError:
        low, high = org.profile.peak_share_range()
        expected = f"a peak hour share between {low:.4g} and {high:.4g} for this profile"
        if low == high:
            expected = f"{low:.4g}, the only peak hour share of this profile"
        raise OrganisationProblem("peak_hour_share", expected, repr(org.peak_hour_share)) from None


def _generate_users(org: Organisation, host: Host, users: Sequence[User]) -> list[User]:
    """Return user1..userN@domain on ``host``, client addresses free in its network."""
    if not org.users:
        return []
    taken = {u.address.lower() for u in users}
    domain = org.domains[0]
    addresses = [f"user{i}@{domain}" for i in range(1, org.users + 1)]
    clash = [a for a in addresses if a.lower() in taken]
    if clash:
        raise OrganisationProblem("users", "generated addresses no user has", repr(clash[0]))
    used = {host.address} | {u.client_address for u in users}
    free: Sequence[str] = ()
    if host.network:
        candidates = itertools.islice(ipaddress.ip_network(host.network).hosts(), 1 << 20)
        free = list(
            itertools.islice((a for a in map(str, candidates) if a not in used), len(addresses))
        )
    return [
        User(
            address,
            host.name,
            client_address=free[i] if i < len(free) else host.address,
            submit_host=host.name,
            fetch=org.fetch,
        )
        for i, address in enumerate(addresses)
    ]


def _ranked(members: Sequence[User], skew: float) -> tuple[Weighted, ...]:
    """Return the members as a population, weight rank**-skew in their order."""
    return tuple(Weighted(u.address, float(rank) ** -skew) for rank, u in enumerate(members, 1))


def _capped(law: tuple[int, int] | ZipfCount, population: int) -> tuple[int, int] | ZipfCount:
    """Return a recipient-count law that never asks for more than ``population`` recipients."""
    if isinstance(law, ZipfCount):
        return ZipfCount(law.s, min(law.maximum, population))
    low, high = law
    return min(low, population), min(high, population)


def _spam(
    source: SpamSource, rate: float, members: Sequence[User], host: str, server: Host, origin: float
) -> Stream:
    if "smtp" not in server.services:
        raise OrganisationProblem("spam_share", f"0: {host} runs no smtp service", "")
    return Stream(
        "org-spam",
        rate,
        senders=tuple(Weighted(s) for s in source.senders),
        recipients=tuple(Weighted(u.address) for u in members),
        size=source.size,
        recipients_per_message=_capped(source.recipients_per_message, len(members)),
        profile=Profile.flat(origin),
        connect_to=host,
        client_address=source.client_address,
        service="smtp",
    )
