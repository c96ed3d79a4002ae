"""MDA recipes as procmail/maildrop apply them, and vacation(1)'s rules for answering."""

from __future__ import annotations

import dataclasses
import math

import pytest

from mailsim.policy import HostPolicy
from mailsim.policy.mda import (
    INBOX,
    VACATION_HEADERS,
    MDADecision,
    build_filters,
    vacation_due,
    vacation_exempt,
)
from mailsim.scenario.mda import MDARule

from builders import two_domains

SPAM = MDARule("folder", "spam", header="Subject", pattern=r"^\[SPAM\]", folder=".Spam")
BIG = MDARule("discard", "big", min_size=1000, max_size=2000)
BOSS = MDARule("forward", "boss", sender="^boss@", forward_to="jura@elsewhere.test")
AWAY = MDARule("vacation", "away", vacation_period=3600.0, vacation_text="Back soon.")


def decide(
    rules: list[MDARule], sender: str = "x@y.test", size: int = 100, **headers: str
) -> MDADecision:
    filters = build_filters((), {"jura": rules}, ["jura"])
    return filters["jura"].decide(sender, size, tuple(headers.items()))


def test_no_rule_matching_means_the_inbox() -> None:
    assert decide([SPAM, BIG]) is INBOX
    assert MDADecision("inbox") == INBOX


def test_header_pattern_is_searched_ignoring_case_of_name_and_value() -> None:
    """procmailrc(5)/maildropfilter(7): matching ignores case unless flag D is given."""
    assert decide([SPAM], Subject="[SPAM] cheap watches").folder == ".Spam"
    assert decide([SPAM], subject="[spam] cheap watches").rule == "spam"
    assert decide([SPAM], Subject="Re: [SPAM] no") is INBOX  # anchored at the start
    assert decide([SPAM], Comments="[SPAM] elsewhere") is INBOX


def test_header_without_pattern_asks_only_that_the_header_be_there() -> None:
    lists = MDARule("folder", "lists", header="List-Id", folder=".Lists")
    assert decide([lists], **{"List-Id": "<x.example>"}).folder == ".Lists"
    assert decide([lists], Subject="hi") is INBOX


def test_sender_and_size_conditions() -> None:
    assert decide([BOSS], sender="boss@firma1.intr").forward_to == "jura@elsewhere.test"
    assert decide([BOSS], sender="Boss@firma1.intr").action == "forward"
    assert decide([BOSS], sender="notboss@firma1.intr") is INBOX
    # size bounds are inclusive; 0 means no bound
    assert [decide([BIG], size=n).action for n in (999, 1000, 2000, 2001)] == [
        "inbox",
        "discard",
        "discard",
        "inbox",
    ]
    assert decide([MDARule("discard", min_size=10)], size=10**9).action == "discard"


def test_all_conditions_must_hold_and_a_bare_rule_matches_everything() -> None:
    both = MDARule("discard", "both", header="Subject", pattern="sale", sender="@shop")
    assert decide([both], sender="a@shop.test", Subject="sale").action == "discard"
    assert decide([both], sender="a@shop.test", Subject="hello") is INBOX
    assert decide([both], sender="a@home.test", Subject="sale") is INBOX
    assert decide([AWAY]).vacation_period == 3600.0


def test_first_matching_rule_decides_site_rules_first() -> None:
    site = (MDARule("discard", header="Subject", pattern="virus"),)
    filters = build_filters(site, {"jura": [SPAM, AWAY]}, ["jura", "nekdo"])
    jura, nekdo = filters["jura"], filters["nekdo"]
    assert jura.decide("x@y", 1, (("Subject", "[SPAM] virus"),)).rule == "site rule 1"
    assert jura.decide("x@y", 1, (("Subject", "[SPAM] hi"),)).rule == "spam"
    assert jura.decide("x@y", 1, (("Subject", "hi"),)).rule == "away"
    assert nekdo.decide("x@y", 1, (("Subject", "hi"),)) is INBOX
    assert len(jura) == 3 and len(nekdo) == 1


def test_accounts_without_rules_get_no_filter() -> None:
    assert build_filters((), {}, ["jura", "nekdo"]) == {}
    assert set(build_filters((), {"Jura": [SPAM], "nekdo": []}, ["jura", "nekdo"])) == {"jura"}
    unnamed = build_filters((), {"jura": [MDARule("discard"), MDARule("discard")]}, ["jura"])
    assert unnamed["jura"].decide("", 1, ()).rule == "user rule 1"


@pytest.mark.parametrize(
    ("sender", "headers", "reason"),
    [
        ("", (), "null sender"),
        ("MAILER-DAEMON@mx.firma2.intr", (), "sender MAILER-DAEMON@mx.firma2.intr"),
        ("postmaster@firma2.intr", (), "sender postmaster@firma2.intr"),
        ("linux-kernel-request@vger.example", (), "sender linux-kernel-request@vger.example"),
        ("news-relay@x.example", (), "sender news-relay@x.example"),
        ("uucp@x.example", (), "sender uucp@x.example"),
        ("anna@firma2.intr", (("Precedence", "bulk"),), "Precedence: bulk"),
        ("anna@firma2.intr", (("precedence", " Junk"),), "Precedence: Junk"),
        ("anna@firma2.intr", (("Precedence", "list"),), "Precedence: list"),
        ("anna@firma2.intr", (("List-Id", "<a.example>"),), "List-Id header"),
        ("anna@firma2.intr", (("List-Unsubscribe", "<mailto:x>"),), "List-Unsubscribe header"),
        ("anna@firma2.intr", (("Auto-Submitted", "auto-replied"),), "Auto-Submitted: auto-replied"),
        ("anna@firma2.intr", VACATION_HEADERS, "Precedence: bulk"),
    ],
)
def test_vacation_never_answers_bounces_daemons_lists_or_bulk(
    sender: str, headers: tuple[tuple[str, str], ...], reason: str
) -> None:
    """vacation(1) junkmail() and Precedence; RFC 3834 sections 2 and 5."""
    assert vacation_exempt(sender, headers) == reason


def test_vacation_answers_ordinary_mail() -> None:
    assert vacation_exempt("anna@firma2.intr", (("Subject", "Hi"),)) == ""
    assert vacation_exempt("anna@firma2.intr", (("Auto-Submitted", "no"),)) == ""
    # junkmail() compares the end of the local part only
    assert vacation_exempt("newsmailer@x.example", ()) == "sender newsmailer@x.example"
    assert vacation_exempt("mailerman@x.example", ()) == ""
    assert vacation_exempt("requests@x.example", ()) == ""


def test_vacation_answers_each_sender_once_per_interval() -> None:
    """vacation(1) -r: 0 answers every message, infinite only the first."""
    assert vacation_due(None, 5.0, 3600.0)
    assert not vacation_due(0.0, 3599.0, 3600.0)
    assert vacation_due(0.0, 3600.0, 3600.0)
    assert vacation_due(10.0, 10.0, 0.0)
    assert not vacation_due(0.0, 1e12, math.inf)
    assert vacation_due(None, 0.0, math.inf)


def test_host_policy_exposes_decisions_and_folder_paths() -> None:
    scenario = two_domains()
    users = tuple(
        dataclasses.replace(u, mda_rules=(SPAM,)) if u.address == "bob@a.test" else u
        for u in scenario.users
    )
    scenario = scenario.replace(users=users)
    policy = HostPolicy(scenario.host("mx.a.test"), scenario)
    assert set(policy.mda_filters) == {"bob"}
    spam = (("Subject", "[SPAM] x"),)
    assert policy.mda_decision("Bob", "x@y", 5, spam).folder == ".Spam"
    assert policy.mda_decision("alice", "x@y", 5, spam) is INBOX
    assert policy.folder_path("bob", ".Spam") == "/home/bob/Maildir/.Spam/"
    assert HostPolicy(scenario.host("mx.b.test"), scenario).mda_filters == {}
    mbox = dataclasses.replace(scenario.host("mx.a.test"), mailbox_format="mbox")
    assert HostPolicy(mbox, scenario).folder_path("bob", "Spam") == "/home/bob/Spam"
    site = dataclasses.replace(mbox, mda_rules=(BIG,))
    assert set(HostPolicy(site, scenario).mda_filters) == {"alice", "bob"}


def test_quota_bounce_of_a_folder_names_the_folder() -> None:
    scenario = two_domains(mailbox_size_limit="1000")
    mbox = dataclasses.replace(scenario.host("mx.a.test"), mailbox_format="mbox")
    reply = HostPolicy(mbox, scenario).check_quota(900, 200, "bob@a.test", "Spam")
    assert (reply.code, reply.dsn) == (552, "5.2.2")
    assert reply.text == (
        "cannot update mailbox /home/bob/Spam for user bob. error writing message: File too large"
    )
