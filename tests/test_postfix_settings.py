"""PostfixSettings: defaults, ``$name`` expansion, and the main.cf and aliases(5) parsers."""

from __future__ import annotations

import pytest

from mailsim.scenario.configfile import (
    AliasEntry,
    ConfigSyntaxError,
    MainCfEntry,
    scan_aliases,
    scan_main_cf,
)
from mailsim.scenario.postfix import (
    POSTFIX_DEFAULTS,
    SUPPORTED_RESTRICTIONS,
    PostfixSettings,
    parse_aliases,
    parse_main_cf,
)


def settings(**explicit: str) -> PostfixSettings:
    return PostfixSettings("neo.firma1.intr", explicit)


# -- expansion ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$mydomain", "firma1.intr"),
        ("${mydomain}", "firma1.intr"),
        ("$(mydomain)", "firma1.intr"),
        ("mail.$mydomain!", "mail.firma1.intr!"),
        ("$myhostname, localhost.$mydomain", "neo.firma1.intr, localhost.firma1.intr"),
        ("$$mydomain", "$mydomain"),
        ("cost: 5$", "cost: 5$"),
        ("$undefined_parameter|", "|"),
    ],
)
def test_expand_references(text: str, expanded: str) -> None:
    """postconf(5): "$name", "${name}" and "$(name)" are replaced by the value of the named
    parameter, an undefined one by the empty value; "$$" gives a single "$"."""
    assert settings().expand(text) == expanded


@pytest.mark.parametrize(
    ("text", "when_set", "when_empty"),
    [
        ("${stress?10}", "10", ""),
        ("${stress:300}", "", "300"),
        ("${stress?{10}}", "10", ""),
        ("${stress:{300}}", "", "300"),
        ("${stress?{10}:{300}}s", "10s", "300s"),
        ("${stress?{$mydomain}:{x$$}}", "firma1.intr", "x$"),
        ("${stress?{a{b}c}}", "a{b}c", ""),
    ],
)
def test_expand_conditionals(text: str, when_set: str, when_empty: str) -> None:
    """postconf(5): "${name?value}" / "${name?{value}}" give value when $name is non-empty,
    "${name:value}" / "${name:{value}}" when it is empty, "${name?{value1}:{value2}}" one of
    the two (Postfix >= 3.0); the chosen value is expanded in turn."""
    assert settings(stress="yes").expand(text) == when_set
    assert settings().expand(text) == when_empty


@pytest.mark.parametrize("text", ["${mydomain", "${my-domain}", "${stress?{a}x}", "$(a b)"])
def test_expand_rejects_malformed_references(text: str) -> None:
    with pytest.raises(ValueError, match=r"parameter reference|unbalanced"):
        settings().expand(text)


def test_expand_reports_a_reference_loop() -> None:
    looped = settings(relay_domains="$mydestination", mydestination="$relay_domains")
    with pytest.raises(ValueError, match="loops"):
        looped.value("relay_domains")


def test_stress_dependent_defaults_expand() -> None:
    """postconf(5) smtpd_timeout = ${stress?{10}:{300}}s, smtpd_hard_error_limit =
    ${stress?{1}:{20}}: shorter under stress."""
    assert settings().seconds("smtpd_timeout") == 300.0
    assert settings(stress="yes").seconds("smtpd_timeout") == 10.0
    assert settings().integer("smtpd_hard_error_limit") == 20
    assert settings(stress="yes").integer("smtpd_hard_error_limit") == 1


# -- defaults -------------------------------------------------------------------------------------
def test_host_name_defaults() -> None:
    """postconf(5): myhostname defaults to the host's name, mydomain to myhostname minus its
    first component, myorigin to $myhostname, mydestination to "$myhostname,
    localhost.$mydomain, localhost"."""
    neo = PostfixSettings("neo.firma1.intr")
    assert neo.value("myhostname") == "neo.firma1.intr"
    assert neo.value("mydomain") == "firma1.intr"
    assert neo.value("myorigin") == "neo.firma1.intr"
    assert neo.list("mydestination") == ("neo.firma1.intr", "localhost.firma1.intr", "localhost")


def test_mydomain_follows_an_explicit_myhostname_and_falls_back_to_localdomain() -> None:
    """postconf(5) mydomain: "localdomain" when myhostname has a single component."""
    assert (
        PostfixSettings("x", {"myhostname": "mail.firma2.intr"}).value("mydomain") == "firma2.intr"
    )
    assert PostfixSettings("neo").value("mydomain") == "localdomain"


def test_typed_defaults() -> None:
    """Postfix 3.x defaults (postconf -d): 10240000-byte messages, 51200000-byte mailboxes,
    300s/4000s backoff, a 5d queue lifetime, relay control in smtpd_relay_restrictions."""
    neo = settings()
    assert neo.size("message_size_limit") == 10_240_000
    assert neo.integer("mailbox_size_limit") == 51_200_000
    assert neo.seconds("minimal_backoff_time") == 300.0
    assert neo.seconds("maximal_backoff_time") == 4000.0
    assert neo.seconds("maximal_queue_lifetime") == 5 * 86400.0
    assert neo.integer("smtpd_process_limit") == 100
    assert neo.list("smtpd_relay_restrictions") == (
        "permit_mynetworks",
        "permit_sasl_authenticated",
        "defer_unauth_destination",
    )
    assert neo.value("smtpd_banner") == "neo.firma1.intr ESMTP Postfix"
    assert not neo.boolean("smtpd_sasl_auth_enable")


def test_time_parameters_use_their_own_default_unit() -> None:
    """postconf(5): maximal_queue_lifetime and bounce_queue_lifetime default to days,
    delay_warning_time to hours; an explicit unit always wins."""
    neo = settings(maximal_queue_lifetime="2", bounce_queue_lifetime="2m", delay_warning_time="4")
    assert neo.seconds("maximal_queue_lifetime") == 2 * 86400.0
    assert neo.seconds("bounce_queue_lifetime") == 120.0
    assert neo.seconds("delay_warning_time") == 4 * 3600.0


def test_mapping_protocol_and_with_values() -> None:
    neo = settings(my_custom="1")
    assert neo["my_custom"] == "1"
    assert "mydestination" in neo and "nonsense" not in neo
    assert len(neo) == len(POSTFIX_DEFAULTS) + 1
    changed = neo.with_values(message_size_limit="5")
    assert changed.integer("message_size_limit") == 5
    assert neo.integer("message_size_limit") == 10_240_000


def test_supported_restrictions_include_the_lectures() -> None:
    lecture = ("permit_sasl_authenticated", "permit_mynetworks", "reject_unauth_destination")
    assert set(lecture) <= set(SUPPORTED_RESTRICTIONS)


# -- main.cf --------------------------------------------------------------------------------------
MAIN_CF = """\
# /etc/postfix/main.cf
myhostname = neo.firma1.intr
mydestination = $myhostname, $mydomain,
        localhost.localdomain, localhost

   # a comment between continuation lines is skipped
mynetworks=127.0.0.0/8
    # and so is this one
    195.113.106.0/24
relayhost =
mailbox_command = procmail -a "$EXTENSION"  # not a comment: part of the value
myhostname = mail.firma1.intr
"""


def test_main_cf_logical_lines_and_comments() -> None:
    """postconf(5) syntax: a line starting with white space continues the logical line; empty
    lines and lines whose first non-white character is "#" are ignored; white space around "="
    and at the end is not part of the value; there are no comments after a value."""
    assert parse_main_cf(MAIN_CF) == [
        MainCfEntry("myhostname", "neo.firma1.intr", 2),
        MainCfEntry("mydestination", "$myhostname, $mydomain, localhost.localdomain, localhost", 3),
        MainCfEntry("mynetworks", "127.0.0.0/8 195.113.106.0/24", 7),
        MainCfEntry("relayhost", "", 10),
        MainCfEntry(
            "mailbox_command", 'procmail -a "$EXTENSION"  # not a comment: part of the value', 11
        ),
        MainCfEntry("myhostname", "mail.firma1.intr", 12),
    ]


def test_main_cf_last_definition_wins() -> None:
    """postconf(5): when a parameter is defined more than once, only the last one counts."""
    explicit = {entry.name: entry.value for entry in parse_main_cf(MAIN_CF)}
    assert PostfixSettings("x", explicit).value("myhostname") == "mail.firma1.intr"


def test_main_cf_collects_every_syntax_error_with_its_line() -> None:
    text = "  indented first line\nmyhostname = a\nno equals sign here\n1bad key! = x\nok = 1\n"
    entries, errors = scan_main_cf(text)
    assert entries == [MainCfEntry("myhostname", "a", 2), MainCfEntry("ok", "1", 5)]
    assert [(e.line, e.expected, e.text) for e in errors] == [
        (1, "'name = value' before a continuation", "  indented first line"),
        (3, "'name = value'", "no equals sign here"),
        (4, "'name = value'", "1bad key! = x"),
    ]
    with pytest.raises(ConfigSyntaxError, match="line 1: expected") as info:
        parse_main_cf(text)
    assert info.value.line == 1


# -- aliases --------------------------------------------------------------------------------------
ALIASES = """\
# /etc/aliases
postmaster:    root
Root: jura
info: jura, nekdo
sales: carol,
	dave
staff: alice bob carol
archive: "|/bin/cat > /dev/null"
ops: "|/usr/bin/ticket --queue ops", jura@firma1.intr, /var/log/ops.mbox
root: somebody-else
"""


def test_aliases_values_quotes_and_continuations() -> None:
    """aliases(5): "name: value, value"; a line starting with white space continues the entry;
    double quotes protect a value with spaces (a |command); names are case-insensitive."""
    assert parse_aliases(ALIASES) == {
        "postmaster": ("root",),
        "root": ("jura",),
        "info": ("jura", "nekdo"),
        "sales": ("carol", "dave"),
        "staff": ("alice", "bob", "carol"),
        "archive": ("|/bin/cat > /dev/null",),
        "ops": ("|/usr/bin/ticket --queue ops", "jura@firma1.intr", "/var/log/ops.mbox"),
    }


def test_aliases_white_space_separates_values_like_commas() -> None:
    """Postfix's address parser also splits an alias value on white space: the recorded lab run
    delivered ``staff: alice bob carol dave erin`` to all five users (see data/scenarios)."""
    assert parse_aliases("staff: alice bob carol dave erin\n")["staff"] == (
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
    )


def test_aliases_first_entry_wins() -> None:
    """postalias(1) keeps the first of two entries for a name (and warns "duplicate entry")."""
    entries, errors = scan_aliases(ALIASES)
    assert errors == []
    assert [e for e in entries if e.name == "root"] == [
        AliasEntry("root", ("jura",), 3),
        AliasEntry("root", ("somebody-else",), 10),
    ]
    assert parse_aliases(ALIASES)["root"] == ("jura",)


def test_aliases_syntax_errors_carry_their_line() -> None:
    entries, errors = scan_aliases("root: jura\nno colon here\nempty:\n")
    assert entries == [AliasEntry("root", ("jura",), 1)]
    assert [(e.line, e.expected, e.text) for e in errors] == [
        (2, "'name: value, ...'", "no colon here"),
        (3, "'name: value, ...'", "empty:"),
    ]
