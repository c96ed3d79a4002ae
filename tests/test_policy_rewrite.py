"""trivial-rewrite(8): canonical addresses and (transport, nexthop) resolution."""

from __future__ import annotations

import pytest

from mailsim.policy import HostPolicy, Resolution
from mailsim.policy.address import canonical, is_null_sender, split_extension, valid_domain

from test_policy_host import NEO, make_policy


@pytest.fixture
def neo() -> HostPolicy:
    return make_policy()


# -- canonical form ------------------------------------------------------------------------------
def test_unqualified_address_gets_myorigin_expanded_from_mydomain(neo: HostPolicy) -> None:
    """postconf(5) myorigin = $mydomain; append_at_myorigin qualifies "jura" (lecture, ch. 6)."""
    assert neo.canonicalize("jura") == "jura@firma1.intr"


def test_default_myorigin_is_myhostname() -> None:
    """postconf(5): myorigin defaults to $myhostname."""
    base = {"myhostname": NEO, "mydomain": "firma1.intr"}
    policy = make_policy(base=base, smtpd_relay_restrictions="reject_unauth_destination")
    assert policy.canonicalize("jura") == "jura@neo.firma1.intr"


def test_domain_is_folded_local_part_kept(neo: HostPolicy) -> None:
    """Postfix folds the domain (case-insensitive, RFC 5321 2.4) but keeps the local part."""
    assert neo.canonicalize("<Jura.Novak@Firma1.INTR>") == "Jura.Novak@firma1.intr"


def test_null_sender_stays_null(neo: HostPolicy) -> None:
    """MAIL FROM:<> is the bounce sender; cleanup does not qualify it (RFC 5321 4.5.5)."""
    assert neo.canonicalize("") == ""
    assert neo.canonicalize("<>") == ""


def test_trailing_dot_of_the_domain_is_dropped() -> None:
    """resolve.c strips one trailing dot ("user@domain." is "user@domain")."""
    assert canonical("a@Firma2.Intr.", "x") == "a@firma2.intr"


@pytest.mark.parametrize(
    ("local", "delimiters", "expected"),
    [
        ("bob+lists", "+", ("bob", "lists")),
        ("bob", "+", ("bob", "")),
        ("bob-x+y", "+-", ("bob", "x+y")),
        ("+bob", "+", ("+bob", "")),
        ("owner-staff", "-", ("owner-staff", "")),
        ("staff-request", "-", ("staff-request", "")),
        ("postmaster+x", "", ("postmaster+x", "")),
        ("MAILER-DAEMON", "-", ("MAILER-DAEMON", "")),
    ],
)
def test_split_extension_follows_split_addr(
    local: str, delimiters: str, expected: tuple[str, str]
) -> None:
    """split_addr(3): first delimiter of recipient_delimiter splits; owner-x, x-request and
    MAILER-DAEMON stay whole; no split that leaves an empty user."""
    assert split_extension(local, delimiters) == expected


def test_null_sender_forms() -> None:
    """The null reverse-path is stored as "" and shown as MAILER-DAEMON."""
    assert is_null_sender("") and is_null_sender("<>") and is_null_sender("MAILER-DAEMON")
    assert not is_null_sender("mailer-daemon@firma1.intr")


@pytest.mark.parametrize(
    ("domain", "valid"),
    [("firma1.intr", True), ("[127.0.0.1]", True), ("a..b", False), ("bad domain", False)],
)
def test_valid_domain(domain: str, valid: bool) -> None:
    """valid_hostname(3) and address literals (RFC 5321 4.1.3)."""
    assert valid_domain(domain) is valid


# -- resolution --------------------------------------------------------------------------------
def test_mydestination_domains_resolve_to_local(neo: HostPolicy) -> None:
    """trivial-rewrite(8): a domain in $mydestination uses local_transport (local:$myhostname)."""
    for address in ("alice@firma1.intr", "alice@neo.firma1.intr", "alice@localhost", "alice"):
        assert neo.resolve(address) == Resolution("local", NEO, neo.canonicalize(address), "local")


def test_mydestination_match_is_case_insensitive(neo: HostPolicy) -> None:
    """Domain names compare case-insensitively (postconf(5) mydestination)."""
    assert neo.is_local_domain("FIRMA1.Intr")
    assert neo.resolve("Alice@FIRMA1.INTR").transport == "local"


def test_mydestination_does_not_match_subdomains(neo: HostPolicy) -> None:
    """mydestination is not in parent_domain_matches_subdomains: only listed names are local."""
    assert not neo.is_local_domain("sub.firma1.intr")
    assert neo.resolve("a@sub.firma1.intr").transport == "smtp"


def test_own_address_literal_is_local(neo: HostPolicy) -> None:
    """resolve_local(): user@[address] of an interface ($inet_interfaces) is final delivery."""
    assert neo.is_local_domain("[127.0.0.1]")
    assert neo.resolve("alice@[127.0.0.1]").transport == "local"
    assert neo.resolve("alice@[10.9.9.9]").transport == "smtp"


def test_other_domains_go_to_smtp_with_the_domain_as_nexthop(neo: HostPolicy) -> None:
    """default_transport = smtp; the nexthop is the recipient domain (MX lookup later)."""
    assert neo.resolve("Jan@Firma5.INTR") == Resolution(
        "smtp", "firma5.intr", "Jan@firma5.intr", "default"
    )


def test_relay_domains_use_the_same_transport_with_class_relay() -> None:
    """relay_transport is an smtp clone in master.cf; the lab resolves relay domains to smtp."""
    policy = make_policy(relay_domains="firma2.intr")
    resolution = policy.resolve("frank@firma2.intr")
    assert (resolution.transport, resolution.nexthop) == ("smtp", "firma2.intr")
    assert resolution.address_class == "relay"
    assert policy.resolve("frank@firma3.intr").address_class == "default"


def test_relayhost_replaces_the_nexthop_of_remote_mail() -> None:
    """postconf(5) relayhost: non-local mail goes to it; [host] suppresses the MX lookup."""
    policy = make_policy(relayhost="[smtp.isp.example]")
    assert policy.resolve("jan@firma5.intr").nexthop == "[smtp.isp.example]"
    assert policy.resolve("alice@firma1.intr").nexthop == NEO


def test_percent_hack_through_a_local_domain_is_routed(neo: HostPolicy) -> None:
    """allow_percent_hack: user%elsewhere@local is user@elsewhere, flagged as routed."""
    resolution = neo.resolve("jan%firma5.intr@firma1.intr")
    assert (resolution.transport, resolution.recipient) == ("smtp", "jan@firma5.intr")
    assert resolution.routed


def test_bang_path_and_at_routing_are_unwrapped(neo: HostPolicy) -> None:
    """swap_bangpath: host!user@local; and user@host@local (RFC 5321 C source route)."""
    assert neo.resolve("firma5.intr!jan@firma1.intr").recipient == "jan@firma5.intr"
    assert neo.resolve("jan@firma5.intr@firma1.intr").recipient == "jan@firma5.intr"


def test_percent_hack_can_be_turned_off() -> None:
    """allow_percent_hack = no: the % stays in the local part of a local address."""
    policy = make_policy(allow_percent_hack="no")
    resolution = policy.resolve("jan%firma5.intr@firma1.intr")
    assert resolution.transport == "local"


def test_invalid_domain_resolves_to_error(neo: HostPolicy) -> None:
    """An address with a malformed domain cannot be routed (RESOLVE_FLAG_ERROR)."""
    assert neo.resolve("x@bad..domain").transport == "error"
