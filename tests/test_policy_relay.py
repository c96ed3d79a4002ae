"""Relay control at RCPT TO: smtpd_relay_restrictions then smtpd_recipient_restrictions.

Expected lines are copied from the reference Postfix 3.7 log (shared/data/postfix-logs).
"""

from __future__ import annotations

import pytest

from mailsim.policy import ClientSession, HostPolicy
from mailsim.policy.restrictions import relay_control_error

from test_policy_host import LAN, OUTSIDER, REMOTE_MX, make_policy

SENDER = "promo884@cheap-offers.example"


@pytest.fixture
def neo() -> HostPolicy:
    return make_policy()


def rcpt(policy: HostPolicy, session: ClientSession, recipient: str) -> str:
    return str(policy.check_rcpt(session, SENDER, recipient))


def test_relay_from_outside_is_denied_with_postfix_text(neo: HostPolicy) -> None:
    """reject_unauth_destination (postconf(5)); log: "NOQUEUE: reject: RCPT from
    unknown[127.0.5.10]: 554 5.7.1 <jan@firma5.intr>: Relay access denied"."""
    reply = neo.check_rcpt(OUTSIDER, SENDER, "jan@firma5.intr")
    assert str(reply) == "554 5.7.1 <jan@firma5.intr>: Relay access denied"
    assert reply.permanent and not reply.ok


def test_relay_denied_quotes_the_recipient_as_the_client_wrote_it(neo: HostPolicy) -> None:
    """smtpd_check.c quotes state->recipient, not the canonical form."""
    assert rcpt(neo, OUTSIDER, "<M.Weber@Firma2.INTR>") == (
        "554 5.7.1 <M.Weber@Firma2.INTR>: Relay access denied"
    )


def test_relay_from_mynetworks_is_permitted(neo: HostPolicy) -> None:
    """permit_mynetworks: ws21 (127.0.0.21, inside 127.0.0.0/24) relays to firma2."""
    assert rcpt(neo, LAN, "jan@firma5.intr") == "250 2.1.5 Ok"


def test_sasl_authenticated_outsider_may_relay(neo: HostPolicy) -> None:
    """permit_sasl_authenticated (SASL_README): AUTH lets a roaming user relay."""
    roaming = ClientSession("198.51.100.7", helo="notebook", sasl_username="alice", tls=True)
    assert rcpt(neo, roaming, "jan@firma5.intr") == "250 2.1.5 Ok"


def test_unauthenticated_outsider_with_empty_sasl_name_is_not_permitted(neo: HostPolicy) -> None:
    """permit_sasl_authenticated needs a successful AUTH, not just TLS."""
    assert rcpt(neo, ClientSession("198.51.100.7", tls=True), "jan@firma5.intr").startswith("554")


def test_default_relay_restrictions_defer_instead_of_reject() -> None:
    """Postfix 3.x default smtpd_relay_restrictions ends in defer_unauth_destination, which
    answers relay_domains_reject_code - 100 with 4.7.1 (smtpd_check.c)."""
    base = {"myhostname": "neo.firma1.intr", "mydomain": "firma1.intr", "mynetworks": "10.0.0.0/8"}
    policy = make_policy(base=base)
    assert rcpt(policy, OUTSIDER, "jan@firma5.intr") == (
        "454 4.7.1 <jan@firma5.intr>: Relay access denied"
    )
    assert policy.check_rcpt(OUTSIDER, SENDER, "jan@firma5.intr").temporary


def test_relay_domains_reject_code_sets_the_code() -> None:
    """postconf(5) relay_domains_reject_code (default 554)."""
    policy = make_policy(relay_domains_reject_code="550")
    assert rcpt(policy, OUTSIDER, "a@firma9.intr") == (
        "550 5.7.1 <a@firma9.intr>: Relay access denied"
    )


def test_relay_domains_destination_is_accepted_from_outside() -> None:
    """permit_auth_destination/reject_unauth_destination: a relay_domains destination is
    authorized for everyone (a backup MX)."""
    policy = make_policy(relay_domains="firma2.intr")
    assert rcpt(policy, OUTSIDER, "frank@firma2.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, OUTSIDER, "frank@firma3.intr").startswith("554 5.7.1")


def test_relay_domains_match_subdomains() -> None:
    """relay_domains is in parent_domain_matches_subdomains: example matches sub.example."""
    policy = make_policy(relay_domains="firma2.intr")
    assert rcpt(policy, OUTSIDER, "frank@mail.firma2.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, OUTSIDER, "frank@notfirma2.intr").startswith("554")


def test_dot_relay_domain_matches_only_subdomains() -> None:
    """A leading dot names the subdomains only (postconf(5) relay_domains)."""
    policy = make_policy(relay_domains=".firma2.intr")
    assert rcpt(policy, OUTSIDER, "frank@mail.firma2.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, OUTSIDER, "frank@firma2.intr").startswith("554")


def test_mail_to_a_local_domain_is_accepted_from_outside(neo: HostPolicy) -> None:
    """mydestination is an authorized destination: inbound mail from firma2's MX is accepted."""
    assert rcpt(neo, REMOTE_MX, "alice@firma1.intr") == "250 2.1.5 Ok"
    assert rcpt(neo, OUTSIDER, "bob@neo.firma1.intr") == "250 2.1.5 Ok"


def test_restriction_order_matters_reject_before_permit() -> None:
    """SMTPD_ACCESS_README: restrictions are applied in the order given; the first
    reject_unauth_destination rejects a LAN client before permit_mynetworks is reached."""
    policy = make_policy(smtpd_relay_restrictions="reject_unauth_destination, permit_mynetworks")
    assert rcpt(policy, LAN, "jan@firma5.intr") == (
        "554 5.7.1 <jan@firma5.intr>: Relay access denied"
    )
    assert rcpt(policy, LAN, "alice@firma1.intr") == "250 2.1.5 Ok"


def test_permit_in_relay_list_does_not_skip_recipient_restrictions() -> None:
    """smtpd_check_rcpt(): a permit ends its own list only; smtpd_recipient_restrictions still
    applies and may reject."""
    policy = make_policy(smtpd_recipient_restrictions="reject")
    assert rcpt(policy, LAN, "jan@firma5.intr") == (
        "554 5.7.1 <jan@firma5.intr>: Recipient address rejected: Access denied"
    )


def test_reject_in_relay_list_ends_the_check() -> None:
    """A reject in smtpd_relay_restrictions ends RCPT processing (permit later is moot)."""
    policy = make_policy(smtpd_recipient_restrictions="permit")
    assert rcpt(policy, OUTSIDER, "jan@firma5.intr").startswith("554 5.7.1")


def test_lecture_configuration_with_recipient_restrictions() -> None:
    """Lecture ch. 8: smtpd_recipient_restrictions = permit_sasl_authenticated,
    permit_mynetworks, reject_unauth_destination, with relay_domains = $mydestination, beside
    the 3.x default relay restrictions."""
    base = {
        "myhostname": "neo.firma1.intr",
        "mydomain": "firma1.intr",
        "myorigin": "$mydomain",
        "mydestination": "$myhostname, $mydomain, localhost",
        "mynetworks": "195.113.106.0/24, 127.0.0.0/8",
        "relay_domains": "$mydestination",
        "smtpd_recipient_restrictions": (
            "permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination"
        ),
    }
    policy = make_policy(base=base)
    assert rcpt(policy, ClientSession("195.113.106.40"), "jan@firma5.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, ClientSession("192.0.2.1"), "jan@firma5.intr") == (
        "454 4.7.1 <jan@firma5.intr>: Relay access denied"
    )
    assert rcpt(policy, ClientSession("192.0.2.1"), "alice@firma1.intr") == "250 2.1.5 Ok"


def test_permit_auth_destination_then_reject() -> None:
    """permit_auth_destination, reject: the explicit spelling of relay control."""
    policy = make_policy(smtpd_relay_restrictions="permit_auth_destination, reject")
    assert rcpt(policy, OUTSIDER, "alice@firma1.intr") == "250 2.1.5 Ok"
    assert rcpt(policy, LAN, "jan@firma5.intr") == (
        "554 5.7.1 <jan@firma5.intr>: Recipient address rejected: Access denied"
    )


def test_defer_restriction_uses_defer_code() -> None:
    """postconf(5) defer: defer_code (450), "Try again later"."""
    policy = make_policy(smtpd_relay_restrictions="defer")
    assert rcpt(policy, LAN, "alice@firma1.intr") == (
        "450 4.7.1 <alice@firma1.intr>: Recipient address rejected: Try again later"
    )


def test_sender_specified_routing_is_not_authorized(neo: HostPolicy) -> None:
    """permit_auth_destination skips routed addresses: the percent hack through a local
    domain is the classic open-relay test."""
    assert rcpt(neo, OUTSIDER, "jan%firma5.intr@firma1.intr") == (
        "554 5.7.1 <jan%firma5.intr@firma1.intr>: Relay access denied"
    )


def test_allow_untrusted_routing_admits_routing_into_relay_domains() -> None:
    """postconf(5) allow_untrusted_routing: routed mail to $relay_domains is forwarded only
    when it is yes."""
    routed = "frank%firma2.intr@firma1.intr"
    assert rcpt(make_policy(relay_domains="firma2.intr"), OUTSIDER, routed).startswith("554")
    trusting = make_policy(relay_domains="firma2.intr", allow_untrusted_routing="yes")
    assert rcpt(trusting, OUTSIDER, routed) == "250 2.1.5 Ok"
    assert rcpt(trusting, OUTSIDER, "jan%firma5.intr@firma1.intr").startswith("554")


def test_bare_postmaster_is_always_accepted() -> None:
    """smtpd_check_rcpt(): RFC 5321 4.5.1 requires accepting "postmaster" without a domain."""
    policy = make_policy(smtpd_relay_restrictions="reject")
    assert rcpt(policy, OUTSIDER, "<postmaster>") == "250 2.1.5 Ok"


def test_unknown_restriction_is_a_server_configuration_error() -> None:
    """smtpd_check.c: an unknown restriction name answers 451 4.3.5."""
    policy = make_policy(
        smtpd_recipient_restrictions="reject_rbl_client, reject_unauth_destination",
        smtpd_relay_restrictions="",
    )
    assert rcpt(policy, LAN, "alice@firma1.intr") == "451 4.3.5 Server configuration error"


def test_relay_control_error_text() -> None:
    """fail_required(): the text smtpd dies with when relay control is missing."""
    assert relay_control_error(("permit_mynetworks",), ()) == (
        "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at "
        "least one working instance of: reject_unauth_destination, defer_unauth_destination, "
        "reject, defer, defer_if_permit or check_relay_domains"
    )
    assert relay_control_error((), ("permit_mynetworks", "defer_unauth_destination")) is None
