"""HostPolicy as a whole, and the builders the other test_policy_* files share.

The reference host is ``neo.firma1.intr`` configured as the real Postfix 3.7 run of
shared/data/postfix-logs/README.md (main.cf, aliases, users alice..erin), so expected replies
can be the exact lines that Postfix logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pytest

from mailsim.policy import ClientSession, HostPolicy, LocalTarget, Resolution, SMTPReply
from mailsim.policy.params import param
from mailsim.policy.restrictions import RecipientRestrictions
from mailsim.scenario.model import DNSConfig, Host, Scenario, User, Zone
from mailsim.scenario.postfix import POSTFIX_DEFAULTS, SUPPORTED_RESTRICTIONS, PostfixSettings

NEO = "neo.firma1.intr"
#: main.cf of the reference run (postconf -n), Postfix 3.7, compatibility_level 3.6.
NEO_MAIN_CF: Mapping[str, str] = {
    "myhostname": NEO,
    "mydomain": "firma1.intr",
    "myorigin": "$mydomain",
    "mydestination": "$myhostname, localhost.$mydomain, localhost, $mydomain",
    "mynetworks": "127.0.0.0/24",
    "smtpd_relay_restrictions": (
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    ),
    "alias_maps": "hash:/etc/aliases, hash:/etc/postfix/mailsim_aliases",
    "message_size_limit": "2000000",
    "mailbox_size_limit": "4000000",
    "maximal_queue_lifetime": "2m",
    "bounce_queue_lifetime": "2m",
    "minimal_backoff_time": "30s",
    "maximal_backoff_time": "60s",
    "queue_run_delay": "15s",
    "recipient_delimiter": "+",
}
#: /etc/aliases (Debian) plus mailsim_aliases of the reference run.
NEO_ALIASES: Mapping[str, tuple[str, ...]] = {
    "postmaster": ("root",),
    "root": ("alice",),
    "info": ("alice", "bob"),
    "sales": ("carol", "dave"),
    "helpdesk": ("erin", "frank@firma2.intr"),
    "staff": ("alice bob carol dave erin",),
    "archive": ("|/bin/cat > /dev/null",),
}
NEO_USERS = ("alice", "bob", "carol", "dave", "erin")

LAN = ClientSession("127.0.0.21", helo="ws21.firma1.intr")
OUTSIDER = ClientSession("127.0.5.10", helo="[127.0.5.10]")
REMOTE_MX = ClientSession("127.0.1.2", helo="mx.firma2.intr")


def make_host(
    *,
    name: str = NEO,
    address: str = "127.0.0.1",
    network: str = "",
    aliases: Mapping[str, tuple[str, ...]] = NEO_ALIASES,
    mailbox_format: str = "mbox",
    base: Mapping[str, str] = NEO_MAIN_CF,
    **postfix: str,
) -> Host:
    """Return a host with the reference main.cf, overridden by ``postfix`` (None-free)."""
    settings = PostfixSettings(name, {**base, **postfix})
    fmt: Literal["maildir", "mbox"] = "maildir" if mailbox_format == "maildir" else "mbox"
    return Host(name, address, settings, network=network, aliases=aliases, mailbox_format=fmt)


def make_policy(
    *,
    users: tuple[str, ...] = NEO_USERS,
    zones: Mapping[str, Zone] | None = None,
    **host_options: object,
) -> HostPolicy:
    """Return the HostPolicy of :func:`make_host` (same keywords) with ``users`` on it."""
    host = make_host(**host_options)  # type: ignore[arg-type]
    domain = host.postfix.value("mydomain")
    scenario = Scenario(
        "policy-test",
        {host.name: host},
        dns=DNSConfig(zones or {}),
        users=tuple(User(f"{user}@{domain}", host.name) for user in users),
    )
    return HostPolicy(host, scenario)


@pytest.fixture
def neo() -> HostPolicy:
    return make_policy()


# -- the facade ------------------------------------------------------------------------------------
def test_package_exports_the_engine_api() -> None:
    """The engines import these five names from mailsim.policy (DESIGN.md section 1)."""
    import mailsim.policy as policy

    assert sorted(policy.__all__) == [
        "ClientSession",
        "HostPolicy",
        "LocalTarget",
        "Resolution",
        "SMTPReply",
    ]
    assert policy.LocalTarget is LocalTarget and policy.Resolution is Resolution


def test_hostname_is_expanded_myhostname(neo: HostPolicy) -> None:
    """postconf(5) myhostname; the policy exposes the expanded value."""
    assert neo.hostname == NEO


def test_banner_is_myhostname_esmtp_mail_name(neo: HostPolicy) -> None:
    """smtpd_banner default "$myhostname ESMTP $mail_name" (mail_name Postfix): the lecture's
    telnet session opens with "220 neo.firma1.intr ESMTP Postfix"."""
    reply = neo.check_connect(OUTSIDER)
    assert (reply.code, reply.dsn, str(reply)) == (220, "", "220 neo.firma1.intr ESMTP Postfix")


def test_banner_follows_smtpd_banner_and_mail_name() -> None:
    """postconf(5) smtpd_banner is expanded like any parameter, $mail_name included."""
    policy = make_policy(smtpd_banner="$myhostname ESMTP $mail_name (Debian/GNU)")
    assert str(policy.check_connect(LAN)) == "220 neo.firma1.intr ESMTP Postfix (Debian/GNU)"
    renamed = make_policy(mail_name="mailsim")
    assert str(renamed.check_connect(LAN)) == "220 neo.firma1.intr ESMTP mailsim"


def test_missing_relay_control_refuses_to_start_like_smtpd() -> None:
    """smtpd_check_init(): smtpd exits when neither restriction list holds a relay control."""
    with pytest.raises(ValueError, match="specify at least one working instance of"):
        make_policy(smtpd_relay_restrictions="permit_mynetworks", smtpd_recipient_restrictions="")


def test_relay_control_after_permit_does_not_count() -> None:
    """has_required() stops at ``permit``: what follows it is never reached."""
    with pytest.raises(ValueError, match="smtpd_relay_restrictions or"):
        make_policy(smtpd_relay_restrictions="permit, reject_unauth_destination")


def test_every_supported_restriction_is_implemented() -> None:
    """The validator accepts SUPPORTED_RESTRICTIONS; each must have an implementation here."""
    for name in SUPPORTED_RESTRICTIONS:
        method = getattr(RecipientRestrictions, name, None)
        assert callable(method), name


def test_parameters_the_policy_reads_have_postfix_defaults(neo: HostPolicy) -> None:
    """postconf(5) defaults of the smtpd/trivial-rewrite parameters the policy consults."""
    for name, value in {
        "reject_code": "554",
        "defer_code": "450",
        "relayhost": "",
        "smtpd_reject_unlisted_recipient": "yes",
    }.items():
        assert POSTFIX_DEFAULTS[name] == value
        assert param(neo.settings, name) == value, name
    explicit = make_policy(reject_code="550").settings
    assert param(explicit, "reject_code") == "550"


def test_replies_are_shared_constants_on_the_hot_path(neo: HostPolicy) -> None:
    """Accepting replies are module constants: no allocation per recipient."""
    first = neo.check_rcpt(LAN, "alice@firma1.intr", "bob@firma1.intr")
    second = neo.check_rcpt(REMOTE_MX, "emil@firma2.intr", "carol@firma1.intr")
    assert first is second
    assert isinstance(first, SMTPReply)
