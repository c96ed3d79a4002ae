"""smtpd(8) RCPT TO restrictions: smtpd_relay_restrictions, smtpd_recipient_restrictions and
smtpd_reject_unlisted_recipient, evaluated as smtpd_check_rcpt() does (SMTPD_ACCESS_README).

Theory of operation. A restriction answers *permit*, *reject* (or defer: a 4xx reject) or
*dunno*. A list is evaluated left to right and its first permit or reject decides it; an empty
list, or one where every restriction says dunno, decides nothing. smtpd evaluates
smtpd_relay_restrictions, then smtpd_recipient_restrictions: a reject in either list ends the
check, while a permit only ends its own list. Unless a list rejected, smtpd then applies the
implicit reject_unlisted_recipient (smtpd_reject_unlisted_recipient = yes), so an unknown user
in a local domain gets ``550 5.1.1`` even from a client that permit_mynetworks let through. The
bare recipient ``postmaster`` is accepted before any of this (RFC 5321 4.5.1). smtpd refuses to
start unless one of the two lists holds a relay control (reject_unauth_destination, ...): the
same message is raised here as ValueError.

The names implemented are exactly :data:`mailsim.scenario.postfix.SUPPORTED_RESTRICTIONS` (the
validator checks scenarios against it); any other name answers ``451 4.3.5 Server
configuration error``, as smtpd does for an unknown restriction. Each list is precomputed as a
tuple of bound methods, so a check is a few attribute lookups and cached resolutions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailsim.policy.address import split_address, strip_brackets, valid_domain
from mailsim.policy.local import LocalRecipients
from mailsim.policy.network import NetworkList
from mailsim.policy.params import param_bool, param_int
from mailsim.policy.reply import (
    R250_RECIPIENT_OK,
    R451_CONFIG_ERROR,
    R501_BAD_RECIPIENT_SYNTAX,
    SMTPReply,
    access_denied,
    domain_not_found,
    need_fqdn,
    relay_denied,
    try_again_later,
    unknown_local_user,
)
from mailsim.policy.rewrite import TrivialRewrite
from mailsim.policy.session import ClientSession
from mailsim.scenario.postfix import (
    SUPPORTED_RESTRICTIONS,
    PostfixSettings,
    has_relay_control,
)

__all__ = ["PERMIT", "RecipientRestrictions", "Restriction", "relay_control_error"]

#: A restriction: (session, sender, recipient) -> permit (an ok reply), a reject, or None.
Restriction = Callable[[ClientSession, str, str], SMTPReply | None]

#: What a permitting restriction answers; the RCPT reply if nothing rejects later.
PERMIT = R250_RECIPIENT_OK


def relay_control_error(relay: Sequence[str], recipient: Sequence[str]) -> str | None:
    """Return smtpd's fatal error when neither list can refuse relaying, else None.

    has_required() in smtpd_check.c looks for one of RELAY_CONTROL_RESTRICTIONS in each list,
    stopping at a ``permit`` (what follows it is never reached).
    """
    if has_relay_control(relay) or has_relay_control(recipient):
        return None
    return (
        "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at "
        "least one working instance of: reject_unauth_destination, defer_unauth_destination, "
        "reject, defer, defer_if_permit or check_relay_domains"
    )


class RecipientRestrictions:
    """The RCPT TO decision of one host."""

    def __init__(
        self,
        settings: PostfixSettings,
        mynetworks: NetworkList,
        rewrite: TrivialRewrite,
        local: LocalRecipients,
        dns_domains: frozenset[str] = frozenset(),
    ) -> None:
        relay = settings.list("smtpd_relay_restrictions")
        recipient = settings.list("smtpd_recipient_restrictions")
        error = relay_control_error(relay, recipient)
        if error:
            raise ValueError(f"{settings.value('myhostname')}: {error}")
        self.mynetworks = mynetworks
        self.rewrite = rewrite
        self.local = local
        self.dns_domains = dns_domains
        self.relay_code = param_int(settings, "relay_domains_reject_code")
        self.reject_code = param_int(settings, "reject_code")
        self.defer_code = param_int(settings, "defer_code")
        self.unknown_address_code = param_int(settings, "unknown_address_reject_code")
        self.non_fqdn_code = param_int(settings, "non_fqdn_reject_code")
        self.unknown_local_code = settings.integer("unknown_local_recipient_reject_code")
        self.show_table = param_bool(settings, "show_user_unknown_table_name")
        self.untrusted_routing = param_bool(settings, "allow_untrusted_routing")
        self.reject_unlisted = param_bool(settings, "smtpd_reject_unlisted_recipient")
        self.lists: tuple[tuple[Restriction, ...], ...] = tuple(
            tuple(self.restriction(name) for name in names) for names in (relay, recipient)
        )

    def restriction(self, name: str) -> Restriction:
        """Return the callable for restriction ``name`` (SUPPORTED_RESTRICTIONS)."""
        key = name.lower()
        if key in SUPPORTED_RESTRICTIONS:
            method: Restriction = getattr(self, key)
            return method
        return _unknown

    def check(self, session: ClientSession, sender: str, recipient: str) -> SMTPReply:
        """Return smtpd's reply to ``RCPT TO:<recipient>``."""
        recipient = strip_brackets(recipient)
        resolution = self.rewrite.resolve(recipient)
        if resolution.address_class == "error":
            return R501_BAD_RECIPIENT_SYNTAX
        if recipient.lower() == "postmaster":
            return PERMIT
        for restrictions in self.lists:
            for restriction in restrictions:
                verdict = restriction(session, sender, recipient)
                if verdict is not None:
                    if not verdict.ok:
                        return verdict
                    break
        if self.reject_unlisted:
            verdict = self.reject_unlisted_recipient(session, sender, recipient)
            if verdict is not None:
                return verdict
        return PERMIT

    # -- generic -------------------------------------------------------------------------------
    def permit(self, session: ClientSession, sender: str, recipient: str) -> SMTPReply | None:
        """Permit the request (ends the list)."""
        return PERMIT

    def reject(self, session: ClientSession, sender: str, recipient: str) -> SMTPReply | None:
        """Reject the request with reject_code, ``5.7.1 ... Access denied``."""
        return access_denied(recipient, self.reject_code)

    def defer(self, session: ClientSession, sender: str, recipient: str) -> SMTPReply | None:
        """Defer the request with defer_code, ``4.7.1 ... Try again later``."""
        return try_again_later(recipient, self.defer_code)

    # -- client ------------------------------------------------------------------------------
    def permit_mynetworks(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Permit a client whose address matches $mynetworks."""
        return PERMIT if self.mynetworks.match(session.address) else None

    def permit_sasl_authenticated(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Permit a client that has authenticated with AUTH (a non-empty SASL user name)."""
        return PERMIT if session.sasl_username else None

    # -- recipient -------------------------------------------------------------------------
    def authorized_destination(self, recipient: str) -> bool:
        """Return whether Postfix may accept mail for ``recipient`` from anyone.

        permit_auth_destination(): the resolved domain is final (mydestination) or matches
        relay_domains, and the address has no sender-specified routing (unless
        allow_untrusted_routing = yes).
        """
        resolution = self.rewrite.resolve(recipient)
        if resolution.routed and not self.untrusted_routing:
            return False
        return resolution.address_class in ("local", "relay")

    def permit_auth_destination(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Permit mail to a local or relay_domains destination."""
        return PERMIT if self.authorized_destination(recipient) else None

    def reject_unauth_destination(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Reject mail to any other destination: ``554 5.7.1 <rcpt>: Relay access denied``."""
        if self.authorized_destination(recipient):
            return None
        return relay_denied(recipient, self.relay_code)

    def defer_unauth_destination(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """As reject_unauth_destination with relay_domains_reject_code - 100 (454 4.7.1)."""
        if self.authorized_destination(recipient):
            return None
        return relay_denied(recipient, self.relay_code - 100)

    def reject_unlisted_recipient(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Reject a local-domain recipient that local_recipient_maps does not list.

        The code is unknown_local_recipient_reject_code with status 5.1.1 (4.1.1 for a 4xx
        code). Relay and default destinations are not checked (relay_recipient_maps is not
        modelled).
        """
        resolution = self.rewrite.resolve(recipient)
        if resolution.address_class != "local":
            return None
        local_part = split_address(resolution.recipient)[0]
        if self.local.is_listed(local_part):
            return None
        return unknown_local_user(recipient, self.unknown_local_code, self.show_table)

    def reject_unknown_recipient_domain(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Reject a recipient domain with neither MX nor A record in the scenario's DNS.

        Domains Postfix is the final destination for, and address literals, are not checked
        (reject_unknown_address() in smtpd_check.c); the code is unknown_address_reject_code.
        """
        resolution = self.rewrite.resolve(recipient)
        if resolution.address_class == "local":
            return None
        domain = split_address(resolution.recipient)[1]
        if domain.startswith("[") or domain in self.dns_domains:
            return None
        return domain_not_found(recipient, self.unknown_address_code)

    def reject_non_fqdn_recipient(
        self, session: ClientSession, sender: str, recipient: str
    ) -> SMTPReply | None:
        """Reject a recipient, as the client wrote it, without a fully-qualified domain."""
        domain = split_address(recipient)[1].lower()
        if domain.startswith("["):
            return None
        if domain.endswith(".") and not domain.endswith(".."):
            domain = domain[:-1]
        if domain and "." in domain and valid_domain(domain):
            return None
        return need_fqdn(recipient, self.non_fqdn_code)


def _unknown(session: ClientSession, sender: str, recipient: str) -> SMTPReply | None:
    """An unknown restriction name: smtpd logs a warning and answers 451 4.3.5."""
    return R451_CONFIG_ERROR
