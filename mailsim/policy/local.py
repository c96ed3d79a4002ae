"""local(8) and local_recipient_maps: who exists on a host, aliases(5), and mailbox paths.

The host's UNIX accounts are the scenario users whose mailbox is on it (the local part of their
address is the login name); its aliases(5) table is ``Host.aliases``, consulted only when
alias_maps is not empty. smtpd(8) asks :meth:`LocalRecipients.is_listed` (the
local_recipient_maps check of reject_unlisted_recipient); local(8) asks
:meth:`LocalRecipients.expand` what to deliver to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mailsim.policy.address import split_address, split_extension
from mailsim.policy.params import param
from mailsim.policy.reply import alias_loop, local_unknown_user
from mailsim.policy.rewrite import LocalTarget, TrivialRewrite
from mailsim.scenario.postfix import PostfixSettings

__all__ = ["LocalRecipients"]

_Found = dict[tuple[str, str], LocalTarget]


class LocalRecipients:
    """The local users and aliases of one host, and local(8)'s alias expansion."""

    def __init__(
        self,
        settings: PostfixSettings,
        users: Iterable[str],
        aliases: Mapping[str, tuple[str, ...]],
        rewrite: TrivialRewrite,
        mailbox_format: str = "maildir",
    ) -> None:
        self.rewrite = rewrite
        self.users = frozenset(user.lower() for user in users)
        alias_maps = settings.list("alias_maps")
        self.aliases: dict[str, tuple[str, ...]] = (
            {name.lower(): tuple(members) for name, members in aliases.items()}
            if alias_maps
            else {}
        )
        self.delimiters = settings.value("recipient_delimiter")
        # local_recipient_maps: an empty value turns the check off (postconf(5)); otherwise a
        # local part is known when one of the listed tables has it. passwd.byname lists the
        # UNIX accounts, an alias_maps table the aliases; other tables are not modelled.
        tables = settings.list("local_recipient_maps")
        self.checks_recipients = bool(tables)
        known: set[str] = set()
        for table in tables:
            if table.endswith("passwd.byname"):
                known |= self.users
            elif table in alias_maps:
                known |= set(self.aliases)
        # smtpd_check.c never rejects these in a local domain: qmgr or bounce absorb them.
        known |= {"postmaster", "mailer-daemon", param(settings, "double_bounce_sender").lower()}
        self.known = frozenset(known)
        #: luser_relay: where local(8) sends mail for a recipient with neither account nor
        #: alias ("" bounces it, the default); kept raw: $user, $local, $domain and
        #: $recipient are local(8)'s, expanded per recipient
        self.luser_relay = settings["luser_relay"].strip()
        self._settings = settings
        self._home_mailbox = settings.value("home_mailbox")
        self._spool = settings.value("mail_spool_directory")
        self.maildir = mailbox_format == "maildir"

    # -- smtpd(8): reject_unlisted_recipient ------------------------------------------------------
    def is_listed(self, local_part: str) -> bool:
        """Return whether local_recipient_maps lists ``local_part`` (or its unextended user).

        mail_addr_find(3) tries ``user+ext`` before ``user`` (recipient_delimiter).
        """
        if not self.checks_recipients:
            return True
        lowered = local_part.lower()
        if lowered in self.known:
            return True
        user, extension = split_extension(lowered, self.delimiters)
        return bool(extension) and user in self.known

    # -- local(8): aliases(5) ------------------------------------------------------------------
    def expand(self, recipient: str) -> tuple[LocalTarget, ...]:
        """Return the deliveries of a local recipient after aliases(5) expansion.

        local(8) looks up ``user+ext`` and then ``user`` in the aliases; members are addresses
        (an unqualified one gets @$myorigin and is resolved again, so a local member expands in
        turn), ``|command``, ``/file`` and ``\\user`` (the user's mailbox, no further aliasing).
        An alias that lists its own name delivers to the user of that name (alias.c, as
        sendmail does). Nesting that never ends is reported as local(8) reports it after 100
        levels, ``alias database loop for <name>`` (5.4.6), once per loop. Identical
        destinations are delivered once (local(8) duplicate elimination). A recipient with
        neither account nor alias goes to luser_relay when that is set, else gives () and the
        engine bounces it with :func:`~mailsim.policy.reply.local_unknown_user`; an alias
        member in that situation gives a ``bounce`` target.
        """
        address = self.rewrite.canonicalize(recipient)
        local, domain = split_address(address)
        found: _Found = {}
        self._recipient(local.lower(), domain, address, "", (), found)
        return tuple(found.values())

    def _recipient(
        self, local: str, domain: str, top: str, exp_from: str, path: tuple[str, ...], found: _Found
    ) -> None:
        """Deliver to one local name (recipient.c): alias first, then the user's mailbox."""
        if local.startswith("\\"):
            self._mailbox(local[1:], domain, top, found, via_alias=bool(path))
            return
        user, extension = split_extension(local, self.delimiters)
        for key in (local, user) if extension else (local,):
            members = self.aliases.get(key)
            if members is None or key == exp_from:
                continue
            if key in path:
                reply = alias_loop(key)
                _add(found, LocalTarget("bounce", reply.text, top, reply.dsn))
                return
            for member in members:
                self._token(member, top, key, (*path, key), found)
            return
        self._mailbox(user, domain, top, found, via_alias=bool(path))

    def _token(
        self, member: str, top: str, exp_from: str, path: tuple[str, ...], found: _Found
    ) -> None:
        """Deliver to one alias member (token.c): command, file, mailbox or address."""
        member = member.strip()
        if len(member) > 1 and member[0] == member[-1] == '"':
            member = member[1:-1].strip()
        elif " " in member and member[0] not in "|/":
            # "staff: alice bob carol" lists three addresses, as tok822 parses it (the
            # reference log delivers to each with orig_to=<staff@...>).
            for word in member.split():
                self._token(word, top, exp_from, path, found)
            return
        if member.startswith("|"):
            _add(found, LocalTarget("command", member[1:].strip(), top))
        elif member.lower().startswith(":include:"):
            return  # :include: files are not part of the scenario model
        elif member.startswith("/"):
            _add(found, LocalTarget("file", member, top))
        elif member.startswith("\\"):
            self._mailbox(member[1:].lower(), self.rewrite.myorigin, top, found, via_alias=True)
        else:
            resolution = self.rewrite.resolve(member)
            if resolution.transport == "local":
                local, domain = split_address(resolution.recipient)
                self._recipient(local.lower(), domain, top, exp_from, path, found)
            elif resolution.transport == "smtp":
                _add(found, LocalTarget("forward", resolution.recipient, top))

    def _mailbox(self, user: str, domain: str, top: str, found: _Found, via_alias: bool) -> None:
        if user in self.users:
            value = f"{user}@{domain}"
            _add(found, LocalTarget("mailbox", value, top if via_alias and value != top else ""))
        elif self.luser_relay:
            # local(8) hands an unknown recipient to luser_relay, as an alias member (the
            # catch-all of a mail sink); the original recipient is kept as orig_to
            relay = self.luser_relay
            for name, value in (("user", user), ("local", user), ("domain", domain),
                                ("recipient", top)):  # fmt: skip
                relay = relay.replace("${" + name + "}", value).replace("$" + name, value)
            relay = self._settings.expand(relay).strip()
            if relay and split_address(relay)[0].lower() != user:  # never to itself
                self._token(relay, top, "", ("<luser_relay>",), found)
        elif via_alias:
            reply = local_unknown_user(user)
            _add(found, LocalTarget("bounce", reply.text, top, reply.dsn))

    # -- mailbox location --------------------------------------------------------------------------
    def mailbox_path(self, user: str) -> str:
        """Return where local(8) delivers ``user``'s mail.

        maildir (``Host.mailbox_format``): home_mailbox when it ends in ``/``, else
        ``$mail_spool_directory/user/`` when that ends in ``/``, else ``~/Maildir/``. mbox:
        ``~/$home_mailbox`` when home_mailbox names a file, else ``$mail_spool_directory/user``
        (``/var/mail/erin``, as local(8) logs it). Home directories are ``/home/<user>``.
        """
        home = f"/home/{user}/"
        if self.maildir:
            if self._home_mailbox.endswith("/"):
                return home + self._home_mailbox.lstrip("/")
            if self._spool.endswith("/"):
                return f"{self._spool}{user}/"
            return home + "Maildir/"
        if self._home_mailbox and not self._home_mailbox.endswith("/"):
            return home + self._home_mailbox.lstrip("/")
        return f"{self._spool.rstrip('/')}/{user}"


def _add(found: _Found, target: LocalTarget) -> None:
    found.setdefault((target.kind, target.value), target)
