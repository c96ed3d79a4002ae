"""``workload.organisation`` in YAML: what loads, and every mistake with file, path,
expectation, the value found, the closest known word and (from a file) the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import load_scenario, scenario_from_dict
from mailsim.scenario.model import Distribution, FetchConfig
from mailsim.scenario.organisation import SPAM_SENDERS, SpamSource
from mailsim.scenario.shape import LognormalPareto, Profile, ZipfCount

from scenario_cases import MINIMAL_YAML, NEO, issues, minimal, write

ORG = "workload.organisation"


def with_org(**fields: Any) -> dict[str, Any]:
    data = minimal()
    data["hosts"][NEO]["services"] = ["smtp", "pop3", "imap"]
    data["workload"]["organisation"] = {"messages_per_user_per_day": 20, "users": 5, **fields}
    return data


def found(**fields: Any) -> list[tuple[str, str, str, str]]:
    return [(i.path, i.expected, i.got, i.suggestion) for i in issues(with_org(**fields))]


# -- what loads -----------------------------------------------------------------------------------
def test_the_least_organisation_uses_the_scenarios_domain_and_defaults() -> None:
    scenario = scenario_from_dict(with_org())
    org = scenario.workload.organisation
    assert org is not None
    assert (org.domains, org.users, org.host) == (("firma1.intr",), 5, "")
    assert (org.profile, org.outside_share, org.spam_share) == (Profile.office(), 0.0, 0.0)
    assert (org.size, org.recipients_per_message) == (LognormalPareto(), ZipfCount(2.0, 20))
    assert [u.address for u in scenario.users] == [
        "jura@firma1.intr",
        *(f"user{i}@firma1.intr" for i in range(1, 6)),
    ]
    assert [s.name for s in scenario.workload.streams] == ["office", "org-sent"]


def test_every_field() -> None:
    data = with_org(
        domain="firma1.intr",
        host=NEO,
        peak_hour_share=0.12,
        outside_share=0.0,
        inbound_per_user_per_day=0,
        spam_share=0.25,
        profile={"hourly": "office", "origin": "Mon 08:00"},
        popularity={"senders": 1.0},
        recipients_per_message=[1, 2],
        size={"dist": "lognormal", "median": "4KB", "sigma": 1.0},
        spam={"senders": ["x@spam.example"], "client_address": "198.51.100.9",
              "size": "2KB", "recipients_per_message": {"dist": "zipf", "s": 1.2, "max": 4}},
        fetch={"protocol": "imap", "interval": "10m"},
    )  # fmt: skip
    scenario = scenario_from_dict(data)
    org = scenario.workload.organisation
    assert org is not None
    assert org.spam == SpamSource(("x@spam.example",), "198.51.100.9",
                                  Distribution.constant(2000.0), ZipfCount(1.2, 4))  # fmt: skip
    assert org.fetch == FetchConfig("imap", 600.0, NEO)
    assert scenario.user("user3@firma1.intr").fetch == FetchConfig("imap", 600.0, NEO)
    streams = {s.name: s for s in scenario.workload.streams}
    assert set(streams) == {"office", "org-sent", "org-spam"}
    assert streams["org-sent"].recipients_per_message == (1, 2)
    assert streams["org-sent"].profile is not None
    assert streams["org-spam"].recipients_per_message == ZipfCount(1.2, 4)


def test_default_spam_source() -> None:
    spam = scenario_from_dict(with_org(spam_share=0.5)).workload.streams[-1]
    assert [w.value for w in spam.senders] == list(SPAM_SENDERS)
    assert (spam.client_address, spam.connect_to) == ("203.0.113.66", NEO)


# -- what does not --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"messages_per_user_per_dya": 3}, [("messages_per_user_per_dya",
                                              "a known organisation key",
                                              "messages_per_user_per_dya",
                                              "messages_per_user_per_day")]),
        ({"domain": "not a domain"}, [("domain", "a mail domain such as firma1.intr, or a list "
                                       "of them", "'not a domain'", "")]),
        ({"host": "neo.firma.intr"}, [("host", "a host of the scenario (neo.firma1.intr)",
                                       "'neo.firma.intr'", NEO)]),
        ({"users": -1}, [("users", "an integer >= 0", "-1", "")]),
        ({"messages_per_user_per_day": "many"}, [("messages_per_user_per_day",
                                                  "a number of messages >= 0", "'many'", "")]),
        ({"outside_share": 2}, [("outside_share", "a share from 0 to 1", "2", "")]),
        ({"spam_share": 1}, [("spam_share", "a share from 0 to below 1", "1", "")]),
        ({"peak_hour_share": 0.01}, [("peak_hour_share", "a peak hour share between 0.04167 "
                                      "and 1 for this profile", "0.01", "")]),
        ({"profile": "flat", "peak_hour_share": 0.1},
         [("peak_hour_share", "0.04167, the only peak hour share of this profile", "0.1", "")]),
        ({"profile": "offfice"}, [("profile", "a named profile (flat, office)", "'offfice'",
                                   "office")]),
        ({"popularity": {"sender": 1}}, [("popularity.sender", "a known popularity key",
                                          "sender", "senders")]),
        ({"spam": {"client_address": "outside"}},
         [("spam.client_address", "an IP address such as 195.113.106.168", "'outside'", "")]),
        ({"spam": {"sizes": "2KB"}}, [("spam.sizes", "a known spam key", "sizes", "size")]),
        ({"fetch": {"protocol": "pop4"}}, [("fetch.protocol", "a protocol (imap, pop3)",
                                            "'pop4'", "pop3")]),
        ({"outside_share": 0.3}, [("outside_share", "0, or correspondents: users in another "
                                   "domain or a correspondents list", "0.3", "")]),
        ({"users": 2, "domain": "firma9.intr", "fetch": {"protocol": "imap"}},
         [("domain", "one host whose mydestination lists firma9.intr, or host: NAME", "none",
           "")]),
    ],
)  # fmt: skip
def test_bad_organisations(fields: dict[str, Any], expected: list[tuple[str, ...]]) -> None:
    assert found(**fields) == [(f"{ORG}.{p}", e, g, s) for p, e, g, s in expected]


def test_messages_per_user_per_day_is_required() -> None:
    data = with_org()
    del data["workload"]["organisation"]["messages_per_user_per_day"]
    assert [(i.path, i.expected) for i in issues(data)] == [
        (f"{ORG}.messages_per_user_per_day", "messages each user sends on a full day")
    ]


def test_generated_users_must_not_clash() -> None:
    data = with_org()
    data["users"].append({"address": "user2@firma1.intr", "host": NEO})
    assert [(i.path, i.expected, i.got) for i in issues(data)] == [
        (f"{ORG}.users", "generated addresses no user has", "'user2@firma1.intr'")
    ]


def test_a_stream_may_not_take_an_organisation_streams_name() -> None:
    data = with_org()
    data["workload"]["streams"][0]["name"] = "org-sent"
    assert [(i.path, i.got) for i in issues(data)] == [("workload.streams[0].name", "org-sent")]


def test_yaml_issue_in_the_organisation_carries_its_line(tmp_path: Path) -> None:
    text = MINIMAL_YAML + (
        "  organisation:\n    users: 3\n    messages_per_user_per_day: 10\n    spam_share: 1.5\n"
    )
    path = write(tmp_path, "lab.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert list(info.value.issues) == [
        ScenarioIssue(str(path), f"{ORG}.spam_share", "a share from 0 to 1", "1.5", "", 20)
    ]


def test_unknown_workload_key_suggests_organisation() -> None:
    data = minimal()
    data["workload"]["organization"] = {}
    assert [(i.path, i.suggestion) for i in issues(data)] == [
        ("workload.organization", "organisation")
    ]
