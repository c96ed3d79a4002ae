"""local(8) alias expansion (aliases(5)): what a local recipient is delivered to."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mailsim.policy import HostPolicy, LocalTarget

from test_policy_host import make_policy


@pytest.fixture
def neo() -> HostPolicy:
    return make_policy()


def expand(aliases: Mapping[str, tuple[str, ...]], recipient: str) -> list[str]:
    """Expand with the given aliases and return "kind value orig_to" strings, in order."""
    policy = make_policy(aliases=aliases)
    return [f"{t.kind} {t.value} {t.orig_to}".rstrip() for t in policy.expand_local(recipient)]


def test_user_without_alias_gets_the_mailbox(neo: HostPolicy) -> None:
    """local(8): no alias -> the user's mailbox; no orig_to (log: to=<bob@firma1.intr>,
    relay=local, ... status=sent (delivered to mailbox))."""
    assert neo.expand_local("bob@firma1.intr") == (LocalTarget("mailbox", "bob@firma1.intr", ""),)


def test_alias_members_get_myorigin_and_orig_to(neo: HostPolicy) -> None:
    """aliases(5) "info: alice, bob": unqualified members get @$myorigin; the log lines carry
    orig_to=<info@firma1.intr>."""
    assert neo.expand_local("info@firma1.intr") == (
        LocalTarget("mailbox", "alice@firma1.intr", "info@firma1.intr"),
        LocalTarget("mailbox", "bob@firma1.intr", "info@firma1.intr"),
    )


def test_whitespace_separated_members(neo: HostPolicy) -> None:
    """ "staff: alice bob carol dave erin" lists five users (log: five mailbox deliveries with
    orig_to=<staff@firma1.intr>)."""
    users = [target.user for target in neo.expand_local("staff@firma1.intr")]
    assert users == ["alice", "bob", "carol", "dave", "erin"]


def test_expansion_is_recursive(neo: HostPolicy) -> None:
    """Debian "postmaster: root" and "root: alice": a local member is expanded in turn; orig_to
    stays the original recipient."""
    assert neo.expand_local("postmaster@firma1.intr") == (
        LocalTarget("mailbox", "alice@firma1.intr", "postmaster@firma1.intr"),
    )


def test_remote_member_is_forwarded(neo: HostPolicy) -> None:
    """ "helpdesk: erin, frank@firma2.intr": the log shows a local delivery and a new queue
    file to frank (forwarded), both with orig_to=<helpdesk@firma1.intr>."""
    assert neo.expand_local("helpdesk@firma1.intr") == (
        LocalTarget("mailbox", "erin@firma1.intr", "helpdesk@firma1.intr"),
        LocalTarget("forward", "frank@firma2.intr", "helpdesk@firma1.intr"),
    )


def test_command_member(neo: HostPolicy) -> None:
    """archive: "|/bin/cat > /dev/null" (log: delivered to command: /bin/cat > /dev/null)."""
    assert neo.expand_local("archive@firma1.intr") == (
        LocalTarget("command", "/bin/cat > /dev/null", "archive@firma1.intr"),
    )


def test_file_and_maildir_members() -> None:
    """aliases(5): /file/name appends to a file; a name ending in / is a maildir."""
    aliases = {"log": ("/var/log/mail-copy", "/srv/archive/Maildir/")}
    assert expand(aliases, "log@firma1.intr") == [
        "file /var/log/mail-copy log@firma1.intr",
        "file /srv/archive/Maildir/ log@firma1.intr",
    ]


def test_self_reference_delivers_to_the_user() -> None:
    """alias.c: "when an alias includes its own name, deliver to the user instead" -- a copy
    to the mailbox plus a forward, the sendmail idiom."""
    aliases = {"alice": ("alice", "alice@home.example")}
    assert expand(aliases, "alice@firma1.intr") == [
        "mailbox alice@firma1.intr",
        "forward alice@home.example alice@firma1.intr",
    ]


def test_backslash_member_skips_further_aliasing() -> None:
    """aliases(5) "\\user": deliver to the user's mailbox directly."""
    aliases = {"bob": ("\\bob", "carol")}
    assert expand(aliases, "bob@firma1.intr") == [
        "mailbox bob@firma1.intr",
        "mailbox carol@firma1.intr bob@firma1.intr",
    ]


def test_alias_loop_is_reported_not_followed() -> None:
    """alias.c: nesting beyond 100 levels bounces "alias database loop for <name>" (5.4.6);
    deliveries reachable outside the loop still happen."""
    aliases = {"a": ("b", "carol"), "b": ("a",)}
    targets = make_policy(aliases=aliases).expand_local("a@firma1.intr")
    assert targets == (
        LocalTarget("bounce", "alias database loop for a", "a@firma1.intr", "5.4.6"),
        LocalTarget("mailbox", "carol@firma1.intr", "a@firma1.intr"),
    )


def test_duplicate_destinations_are_delivered_once() -> None:
    """local(8) duplicate elimination: one delivery per mailbox, file or command."""
    aliases = {"all": ("info", "alice", "staff"), "info": ("alice", "bob"), "staff": ("bob",)}
    assert [t.user for t in make_policy(aliases=aliases).expand_local("all@firma1.intr")] == [
        "alice",
        "bob",
    ]


def test_unknown_user_gives_nothing(neo: HostPolicy) -> None:
    """No account, no alias: () -- the engine bounces it as local(8) does (unknown user)."""
    assert neo.expand_local("nosuch@firma1.intr") == ()


def test_alias_member_without_account_bounces() -> None:
    """unknown.c: an alias member that is no user bounces 5.1.1 'unknown user: "frank"'."""
    targets = make_policy(aliases={"sales": ("carol", "frank")}).expand_local("sales")
    assert targets == (
        LocalTarget("mailbox", "carol@firma1.intr", "sales@firma1.intr"),
        LocalTarget("bounce", 'unknown user: "frank"', "sales@firma1.intr", "5.1.1"),
    )


def test_extension_goes_to_the_user_mailbox(neo: HostPolicy) -> None:
    """recipient_delimiter = +: bob+lists is delivered to bob's mailbox."""
    assert neo.expand_local("bob+lists@firma1.intr") == (
        LocalTarget("mailbox", "bob@firma1.intr", ""),
    )


def test_extended_alias_is_tried_before_the_plain_one() -> None:
    """local(8) looks up "user+ext" in the aliases before "user"."""
    aliases = {"info+sales": ("carol",), "info": ("alice",)}
    assert expand(aliases, "info+sales@firma1.intr") == [
        "mailbox carol@firma1.intr info+sales@firma1.intr"
    ]
    assert expand(aliases, "info+other@firma1.intr") == [
        "mailbox alice@firma1.intr info+other@firma1.intr"
    ]


def test_alias_lookup_ignores_case(neo: HostPolicy) -> None:
    """Alias and passwd lookups fold the local part to lower case."""
    assert [t.user for t in neo.expand_local("INFO@firma1.intr")] == ["alice", "bob"]
    assert neo.expand_local("Bob@firma1.intr")[0].user == "bob"


def test_fully_qualified_local_member_is_expanded_as_local() -> None:
    """A member in a local domain (localhost is in mydestination) resolves to local and is
    expanded again; its own members are qualified with $myorigin."""
    aliases = {"boss": ("root@localhost",), "root": ("alice",)}
    assert expand(aliases, "boss@firma1.intr") == ["mailbox alice@firma1.intr boss@firma1.intr"]


def test_luser_relay_takes_unknown_recipients() -> None:
    """postconf(5) luser_relay: local(8) hands a recipient with neither account nor alias to
    the catch-all (a mail sink: local_recipient_maps empty lets smtpd accept them); known
    users and aliases are delivered as before."""
    policy = make_policy(luser_relay="alice", local_recipient_maps="")
    assert policy.expand_local("12subscriber@firma1.intr") == (
        LocalTarget("mailbox", "alice@firma1.intr", "12subscriber@firma1.intr"),
    )
    assert policy.expand_local("bob@firma1.intr") == (
        LocalTarget("mailbox", "bob@firma1.intr", ""),
    )
    remote = make_policy(luser_relay="sink@firma2.intr")
    assert [t.kind for t in remote.expand_local("nobody@firma1.intr")] == ["forward"]
    assert make_policy().expand_local("nobody@firma1.intr") == ()  # the default: bounce


def test_luser_relay_expands_local8s_names_per_recipient() -> None:
    """$user (and $domain, ${recipient}) are local(8)'s, not main.cf parameters."""
    policy = make_policy(luser_relay="sink+$user@firma2.intr", local_recipient_maps="")
    assert policy.expand_local("nobody@firma1.intr") == (
        LocalTarget("forward", "sink+nobody@firma2.intr", "nobody@firma1.intr"),
    )
