"""HostPolicy: every Postfix decision for one host, behind one object both engines call.

It composes trivial-rewrite(8) (:mod:`~mailsim.policy.rewrite`), mynetworks
(:mod:`~mailsim.policy.network`), the smtpd(8) recipient restrictions
(:mod:`~mailsim.policy.restrictions`), local(8) users and aliases (:mod:`~mailsim.policy.local`),
the size, quota and process limits (:mod:`~mailsim.policy.limits`), the MDA's recipes
(:mod:`~mailsim.policy.mda`) and qmgr(8) retry timing (:mod:`~mailsim.policy.retry`).
Everything that depends only on the settings is computed in ``__init__``; the per-message
methods are dictionary lookups and cached resolutions, because the simulation calls them once
per recipient of every message.
"""

from __future__ import annotations

from mailsim.policy.address import split_address
from mailsim.policy.limits import HostLimits
from mailsim.policy.local import LocalRecipients
from mailsim.policy.mda import INBOX, MDADecision, MDAFilter, build_filters
from mailsim.policy.network import NetworkList, mynetworks_from_style
from mailsim.policy.params import param
from mailsim.policy.reply import R501_BAD_SENDER_SYNTAX, SMTPReply, banner
from mailsim.policy.restrictions import RecipientRestrictions
from mailsim.policy.retry import RetryPolicy
from mailsim.policy.rewrite import LocalTarget, Resolution, TrivialRewrite
from mailsim.policy.scheduler import TransportScheduling
from mailsim.policy.session import ClientSession
from mailsim.scenario.model import DNSConfig, Host, Scenario
from mailsim.scenario.postfix import PostfixSettings

__all__ = ["HostPolicy"]


class HostPolicy:
    """Every Postfix decision for one host (trivial-rewrite, smtpd restrictions, limits, local,
    retry).

    The host's UNIX accounts are the scenario users whose ``host`` is this host. Raises
    ValueError, as Postfix refuses to start, for settings it cannot work with: no relay control
    in the restriction lists, a malformed mynetworks, an unknown mynetworks_style.
    """

    def __init__(self, host: Host, scenario: Scenario) -> None:
        settings = host.postfix
        self.host = host
        self.settings = settings
        self.hostname = settings.value("myhostname")
        self.rewrite = TrivialRewrite(settings, host.address)
        users = [user.local_part for user in scenario.users if user.host == host.name]
        self.local = LocalRecipients(
            settings, users, host.aliases, self.rewrite, host.mailbox_format
        )
        self.mynetworks = _mynetworks(settings, host)
        self.restrictions = RecipientRestrictions(
            settings, self.mynetworks, self.rewrite, self.local, _dns_domains(scenario.dns)
        )
        self.limits = HostLimits(settings, maildir=self.local.maildir)
        self.retry = RetryPolicy(settings)
        self._scheduling: dict[str, TransportScheduling] = {}
        own_rules = {
            user.local_part: user.mda_rules for user in scenario.users if user.host == host.name
        }
        #: MDA filter per login name that has rules (site or own); empty: no rules on the host
        self.mda_filters: dict[str, MDAFilter] = build_filters(host.mda_rules, own_rules, users)
        self.recipient_limit = settings.integer("smtpd_recipient_limit")
        self._banner = banner(_banner_text(settings))
        self._mailbox_paths: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"HostPolicy({self.hostname!r})"

    # -- trivial-rewrite(8) ------------------------------------------------------------------------
    def canonicalize(self, address: str) -> str:
        """Return ``address`` with ``@$myorigin`` added when unqualified and the domain in lower
        case; the null sender "" stays ""."""
        return self.rewrite.canonicalize(address)

    def is_local_domain(self, domain: str) -> bool:
        """Return whether ``domain`` is in $mydestination (or is ``[address]`` of the host)."""
        return self.rewrite.is_local_domain(domain)

    def resolve(self, recipient: str) -> Resolution:
        """Return (transport, nexthop, canonical recipient) for ``recipient``."""
        return self.rewrite.resolve(recipient)

    # -- smtpd(8) --------------------------------------------------------------------------------
    def in_mynetworks(self, client_address: str) -> bool:
        """Return whether the client address matches $mynetworks (or mynetworks_style)."""
        return self.mynetworks.match(client_address)

    def check_connect(self, session: ClientSession) -> SMTPReply:
        """Return the greeting, ``220 <smtpd_banner>`` (``220 neo.firma1.intr ESMTP Postfix``)."""
        return self._banner

    def check_mail(
        self, session: ClientSession, sender: str, declared_size: int | None
    ) -> SMTPReply:
        """Answer MAIL FROM: 501 5.1.7 for a sender that cannot be parsed, 552 5.3.4 when SIZE=
        exceeds message_size_limit, else 250 2.1.0 (smtpd.c mail_cmd(), in that order)."""
        if sender and self.rewrite.resolve(sender).address_class == "error":
            return R501_BAD_SENDER_SYNTAX
        return self.limits.check_declared_size(declared_size)

    def check_rcpt(self, session: ClientSession, sender: str, recipient: str) -> SMTPReply:
        """Answer RCPT TO as smtpd_check_rcpt() does (see :mod:`mailsim.policy.restrictions`)."""
        return self.restrictions.check(session, sender, recipient)

    def check_data(self, session: ClientSession, size: int) -> SMTPReply:
        """Answer the end of DATA: 552 5.3.4 above message_size_limit, else 250 2.0.0 Ok."""
        return self.limits.check_message_size(size)

    # -- local(8) --------------------------------------------------------------------------------
    def is_local_user(self, user: str) -> bool:
        """Return whether ``user`` has an account (a mailbox) on this host."""
        return user.lower() in self.local.users

    def expand_local(self, recipient: str) -> tuple[LocalTarget, ...]:
        """Return local(8)'s deliveries for a local recipient after alias expansion.

        () for a recipient with neither account nor alias (the engine bounces it 5.1.1 with
        :func:`~mailsim.policy.reply.local_unknown_user`).
        """
        return self.local.expand(recipient)

    def mailbox_path(self, local_user: str) -> str:
        """Return the mailbox local(8) writes for ``local_user`` (``/var/mail/jura`` for mbox,
        ``/home/jura/Maildir/`` for maildir)."""
        path = self._mailbox_paths.get(local_user)
        if path is None:
            path = self._mailbox_paths[local_user] = self.local.mailbox_path(local_user)
        return path

    def check_quota(
        self, mailbox_bytes: int, message_size: int, user: str, folder: str = ""
    ) -> SMTPReply:
        """Return 250 2.0.0 when the message fits under mailbox_size_limit, else local(8)'s
        552 5.2.2 bounce (0 = unlimited; see :mod:`mailsim.policy.limits` for maildir).

        ``folder`` is an MDA folder (its own file or directory, see :meth:`folder_path`);
        ``mailbox_bytes`` is then that folder's size.
        """
        user = split_address(user)[0] if "@" in user else user
        path = self.folder_path(user, folder) if folder else self.mailbox_path(user)
        return self.limits.check_quota(mailbox_bytes, message_size, path, user)

    # -- the MDA (mailbox_command: procmail, maildrop) -----------------------------------------
    def mda_decision(
        self, user: str, sender: str, size: int, headers: tuple[tuple[str, str], ...]
    ) -> MDADecision:
        """Return what the site's and then ``user``'s recipes do with a message (the first
        rule that matches decides; :data:`~mailsim.policy.mda.INBOX` when none does)."""
        found = self.mda_filters.get(user.lower())
        return INBOX if found is None else found.decide(sender, size, headers)

    def folder_path(self, user: str, folder: str) -> str:
        """Return where the MDA files ``folder`` of ``user``: a Maildir++ sub-folder of the
        maildir (``/home/jura/Maildir/.Spam/``), or for mbox a file in the home directory,
        procmail's default $MAILDIR (``/home/jura/Spam``, procmailrc(5))."""
        if self.local.maildir:
            return f"{self.mailbox_path(user)}{folder.strip('/')}/"
        return f"/home/{user}/{folder.strip('/')}"

    # -- limits ----------------------------------------------------------------------------------
    @property
    def message_size_limit(self) -> int:
        """message_size_limit in bytes (0: no limit)."""
        return self.limits.message_size_limit

    @property
    def mailbox_size_limit(self) -> int:
        """mailbox_size_limit in bytes (0: no limit)."""
        return self.limits.mailbox_size_limit

    def process_limit(self, daemon: str) -> int:
        """Return the process limit of ``daemon`` (``smtpd_process_limit`` etc., falling back to
        default_process_limit; qmgr and pickup are 1)."""
        return self.limits.process_limit(daemon)

    def destination_concurrency_limit(self, transport: str) -> int:
        """Return ``<transport>_destination_concurrency_limit`` (or the default one)."""
        return self.limits.destination_concurrency_limit(transport)

    # -- qmgr(8) ---------------------------------------------------------------------------------
    def backoff(self, age: float) -> float:
        """Return how long a message deferred at queue age ``age`` waits (qmgr backoff)."""
        return self.retry.backoff(age)

    def expired(self, age: float, sender: str) -> bool:
        """Return whether a deferred message of this age is returned to its sender."""
        return self.retry.expired(age, sender)

    @property
    def queue_run_delay(self) -> float:
        """Seconds between deferred-queue scans."""
        return self.retry.queue_run_delay

    @property
    def minimal_backoff_time(self) -> float:
        """Shortest time a deferred message waits, in seconds."""
        return self.retry.minimal_backoff_time

    @property
    def maximal_backoff_time(self) -> float:
        """Longest time a deferred message waits, in seconds."""
        return self.retry.maximal_backoff_time

    @property
    def maximal_queue_lifetime(self) -> float:
        """Seconds a message may stay in the queue before it is returned."""
        return self.retry.maximal_queue_lifetime

    @property
    def bounce_queue_lifetime(self) -> float:
        """Seconds a bounce (null sender) may stay in the queue."""
        return self.retry.bounce_queue_lifetime

    def scheduling(self, transport: str) -> TransportScheduling:
        """Return qmgr(8)'s concurrency and batching parameters for ``transport``
        (:mod:`~mailsim.policy.scheduler`; read once per transport)."""
        found = self._scheduling.get(transport)
        if found is None:
            found = TransportScheduling.from_settings(self.settings, transport)
            self._scheduling[transport] = found
        return found

    @property
    def bounce_size_limit(self) -> int:
        """Bytes of the original message a non-delivery notification returns (bounce(8))."""
        return self.settings.integer("bounce_size_limit")


def _mynetworks(settings: PostfixSettings, host: Host) -> NetworkList:
    """Return $mynetworks, or the networks mynetworks_style derives when it is empty."""
    patterns = settings.list("mynetworks")
    if not patterns:
        style = settings.value("mynetworks_style").lower()
        patterns = mynetworks_from_style(style, host.address, host.network)
    return NetworkList(patterns)


def _dns_domains(dns: DNSConfig) -> frozenset[str]:
    """Return the names with an MX or A record in the scenario's zones."""
    names: set[str] = set()
    for origin, zone in dns.zones.items():
        if zone.mx:
            names.add((zone.origin or origin).lower().rstrip("."))
        names.update(name.lower().rstrip(".") for name in zone.a)
    return frozenset(names)


def _banner_text(settings: PostfixSettings) -> str:
    """Return the expanded smtpd_banner ("$myhostname ESMTP $mail_name")."""
    if "mail_name" in settings:
        return param(settings, "smtpd_banner")
    with_name = settings.with_values(mail_name=param(settings, "mail_name"))
    return param(with_name, "smtpd_banner")
