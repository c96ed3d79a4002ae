"""Recipient validation at RCPT TO: local_recipient_maps and the recipient restrictions.

Expected lines are copied from the reference Postfix 3.7 log (shared/data/postfix-logs).
"""

from __future__ import annotations

import pytest

from mailsim.policy import ClientSession, HostPolicy
from mailsim.scenario.model import MXRecord, Zone

from test_policy_host import LAN, OUTSIDER, REMOTE_MX, make_policy

UNKNOWN = "Recipient address rejected: User unknown in local recipient table"


@pytest.fixture
def neo() -> HostPolicy:
    return make_policy()


def rcpt(policy: HostPolicy, session: ClientSession, recipient: str) -> str:
    return str(policy.check_rcpt(session, "emil@firma2.intr", recipient))


def test_unknown_local_user_from_outside(neo: HostPolicy) -> None:
    """smtpd_reject_unlisted_recipient (default yes) with local_recipient_maps; log: "reject:
    RCPT from mx.firma2.intr[127.0.1.2]: 550 5.1.1 <hr@firma1.intr>: Recipient address
    rejected: User unknown in local recipient table"."""
    reply = neo.check_rcpt(REMOTE_MX, "emil@firma2.intr", "hr@firma1.intr")
    assert str(reply) == f"550 5.1.1 <hr@firma1.intr>: {UNKNOWN}"
    assert (reply.code, reply.dsn) == (550, "5.1.1")


def test_unknown_local_user_from_mynetworks_is_rejected_too(neo: HostPolicy) -> None:
    """permit_mynetworks only ends smtpd_relay_restrictions; the unlisted-recipient check
    follows. Log: "RCPT from ws21.firma1.intr[127.0.0.21]: 550 5.1.1 <kontakt@firma1.intr>"."""
    assert rcpt(neo, LAN, "kontakt@firma1.intr") == f"550 5.1.1 <kontakt@firma1.intr>: {UNKNOWN}"


def test_relay_attempt_to_unknown_local_user_gets_the_user_unknown_reply(neo: HostPolicy) -> None:
    """A local domain passes reject_unauth_destination, so an outsider learns "User unknown"
    (log: unknown[127.0.5.77] ... 550 5.1.1 <nosuch@firma1.intr>)."""
    assert rcpt(neo, OUTSIDER, "nosuch@firma1.intr") == f"550 5.1.1 <nosuch@firma1.intr>: {UNKNOWN}"


def test_known_users_and_aliases_are_accepted(neo: HostPolicy) -> None:
    """local_recipient_maps = proxy:unix:passwd.byname $alias_maps: accounts and aliases."""
    for recipient in ("alice@firma1.intr", "Carol@FIRMA1.intr", "info@firma1.intr", "root"):
        assert rcpt(neo, REMOTE_MX, recipient) == "250 2.1.5 Ok", recipient


def test_reject_code_450_gives_dsn_4_1_1() -> None:
    """unknown_local_recipient_reject_code = 450: smtpd_check_reject() makes the status class
    follow the reply code."""
    policy = make_policy(unknown_local_recipient_reject_code="450")
    reply = policy.check_rcpt(REMOTE_MX, "", "nosuch@firma1.intr")
    assert str(reply) == f"450 4.1.1 <nosuch@firma1.intr>: {UNKNOWN}"
    assert reply.temporary


def test_empty_local_recipient_maps_accepts_every_local_part() -> None:
    """postconf(5) local_recipient_maps: an empty value turns the check off (local(8) bounces
    later instead)."""
    policy = make_policy(local_recipient_maps="")
    assert rcpt(policy, REMOTE_MX, "nosuch@firma1.intr") == "250 2.1.5 Ok"


def test_local_recipient_maps_without_aliases_rejects_alias_names() -> None:
    """Only the listed tables count: passwd.byname alone does not know "info"."""
    policy = make_policy(local_recipient_maps="proxy:unix:passwd.byname")
    assert rcpt(policy, REMOTE_MX, "alice@firma1.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, REMOTE_MX, "info@firma1.intr").startswith("550 5.1.1")


def test_empty_alias_maps_means_no_aliases() -> None:
    """alias_maps = (empty): no alias table, so aliases are unknown recipients."""
    policy = make_policy(alias_maps="")
    assert rcpt(policy, REMOTE_MX, "info@firma1.intr").startswith("550 5.1.1")


def test_recipient_delimiter_checks_the_unextended_user(neo: HostPolicy) -> None:
    """recipient_delimiter = +: "bob+lists" is looked up as "bob" after "bob+lists"."""
    assert rcpt(neo, REMOTE_MX, "bob+lists@firma1.intr") == "250 2.1.5 Ok"
    assert rcpt(neo, REMOTE_MX, "info+sales@firma1.intr") == "250 2.1.5 Ok"
    assert rcpt(neo, REMOTE_MX, "nosuch+x@firma1.intr").startswith("550 5.1.1")


def test_without_recipient_delimiter_an_extension_is_unknown() -> None:
    """recipient_delimiter empty: "bob+lists" is a different (unknown) user."""
    policy = make_policy(recipient_delimiter="")
    assert rcpt(policy, REMOTE_MX, "bob+lists@firma1.intr").startswith("550 5.1.1")


def test_postmaster_and_mailer_daemon_are_never_unknown() -> None:
    """check_rcpt_maps(): postmaster, MAILER-DAEMON and double-bounce in a local domain are
    always accepted (qmgr or bounce absorb them)."""
    policy = make_policy(aliases={})
    for local in ("postmaster", "MAILER-DAEMON", "double-bounce"):
        assert rcpt(policy, REMOTE_MX, f"{local}@firma1.intr") == "250 2.1.5 Ok", local


def test_unlisted_check_can_be_switched_off() -> None:
    """smtpd_reject_unlisted_recipient = no: unknown users are accepted at RCPT."""
    policy = make_policy(smtpd_reject_unlisted_recipient="no")
    assert rcpt(policy, REMOTE_MX, "nosuch@firma1.intr") == "250 2.1.5 Ok"


def test_explicit_reject_unlisted_recipient_applies_in_its_list() -> None:
    """reject_unlisted_recipient in a list runs where it stands, even when the implicit check
    is off."""
    policy = make_policy(
        smtpd_reject_unlisted_recipient="no",
        smtpd_relay_restrictions="reject_unlisted_recipient, permit_mynetworks, reject",
    )
    assert rcpt(policy, LAN, "nosuch@firma1.intr") == f"550 5.1.1 <nosuch@firma1.intr>: {UNKNOWN}"


def test_relay_denied_takes_precedence_over_user_unknown(neo: HostPolicy) -> None:
    """The unlisted check only runs when no list rejected."""
    assert rcpt(neo, OUTSIDER, "nosuch@firma5.intr").startswith("554 5.7.1")


def test_show_user_unknown_table_name_no_hides_the_table() -> None:
    """postconf(5) show_user_unknown_table_name = no."""
    policy = make_policy(show_user_unknown_table_name="no")
    assert rcpt(policy, REMOTE_MX, "nosuch@firma1.intr") == (
        "550 5.1.1 <nosuch@firma1.intr>: Recipient address rejected: User unknown"
    )


def test_reject_unknown_recipient_domain_uses_the_scenario_dns() -> None:
    """reject_unknown_recipient_domain: no MX and no A record -> unknown_address_reject_code
    (450) 4.1.2 "Domain not found"; local domains are not looked up."""
    zones = {
        "firma2.intr": Zone("firma2.intr", mx=(MXRecord(10, "mx.firma2.intr"),)),
        "firma3.intr": Zone("firma3.intr", a={"mail.firma3.intr": "127.0.1.3"}),
    }
    policy = make_policy(
        zones=zones,
        smtpd_recipient_restrictions="reject_unknown_recipient_domain",
    )
    assert rcpt(policy, LAN, "jan@firma2.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, LAN, "jan@mail.firma3.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, LAN, "jan@nowhere.intr") == (
        "450 4.1.2 <jan@nowhere.intr>: Recipient address rejected: Domain not found"
    )
    assert rcpt(policy, LAN, "alice@firma1.intr") == "250 2.1.5 Ok"


def test_reject_non_fqdn_recipient_checks_what_the_client_wrote() -> None:
    """reject_non_fqdn_recipient: non_fqdn_reject_code (504) 5.5.2, before qualification."""
    policy = make_policy(smtpd_recipient_restrictions="reject_non_fqdn_recipient")
    assert rcpt(policy, LAN, "alice") == (
        "504 5.5.2 <alice>: Recipient address rejected: need fully-qualified address"
    )
    assert rcpt(policy, LAN, "alice@localhost").startswith("504 5.5.2")
    assert rcpt(policy, LAN, "alice@firma1.intr") == "250 2.1.5 Ok"


def test_bad_recipient_syntax(neo: HostPolicy) -> None:
    """smtpd(8): an address that cannot be resolved is refused before any restriction."""
    assert rcpt(neo, LAN, "") == "501 5.1.3 Bad recipient address syntax"
    assert rcpt(neo, LAN, "x@bad..domain") == "501 5.1.3 Bad recipient address syntax"
