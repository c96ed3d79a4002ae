"""Loading MDA recipes (hosts and users) and weighted stream header sets; every error's path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import load_scenario, scenario_from_dict
from mailsim.scenario.mda import MDARule

from scenario_cases import MINIMAL_YAML, NEO, issues, minimal, write

HOST = f"hosts[{NEO}]"


def _issue(path: str, expected: str, got: str = "", suggestion: str = "") -> ScenarioIssue:
    return ScenarioIssue("<dict>", path, expected, got, suggestion, None)


def with_host_rules(*rules: object) -> dict[str, Any]:
    data = minimal()
    data["hosts"][NEO]["mda_rules"] = list(rules)
    return data


def test_host_and_user_rules_load_with_units_and_defaults() -> None:
    data = with_host_rules(
        {"name": "spam", "header": "Subject", "pattern": r"^\[SPAM\]", "action": "folder",
         "folder": ".Spam"},
        {"min_size": "5MB", "max_size": "10MiB", "action": "discard"},
    )  # fmt: skip
    data["users"][0]["mda_rules"] = [
        {"sender": "^boss@", "action": "forward", "forward_to": "jura@firma2.intr"},
        {"action": "vacation", "vacation_period": "2d", "vacation_text": "Back on Monday."},
        {"action": "vacation", "vacation_period": "infinite"},
    ]
    scenario = scenario_from_dict(data)
    assert scenario.host(NEO).mda_rules == (
        MDARule("folder", "spam", header="Subject", pattern=r"^\[SPAM\]", folder=".Spam"),
        MDARule("discard", min_size=5_000_000, max_size=10 * 1024 * 1024),
    )
    user = scenario.users[0].mda_rules
    assert user[0] == MDARule("forward", sender="^boss@", forward_to="jura@firma2.intr")
    assert user[1] == MDARule("vacation", vacation_period=172800.0, vacation_text="Back on Monday.")
    assert user[2].vacation_period == math.inf
    assert user[2].vacation_text == MDARule("vacation").vacation_text


def test_no_rules_anywhere_is_the_default() -> None:
    scenario = scenario_from_dict(minimal())
    assert scenario.host(NEO).mda_rules == ()
    assert scenario.users[0].mda_rules == ()
    assert scenario.workload.streams[0].headers == ()


def test_a_pattern_that_does_not_compile_names_the_regex_error() -> None:
    data = with_host_rules({"header": "Subject", "pattern": "[SPAM", "action": "discard"})
    data["users"][0]["mda_rules"] = [{"sender": "(boss", "action": "discard"}]
    assert issues(data) == [
        _issue(
            f"{HOST}.mda_rules[0].pattern",
            "a regular expression",
            "'[SPAM' (unterminated character set at position 0)",
        ),
        _issue(
            "users[0].mda_rules[0].sender",
            "a regular expression",
            "'(boss' (missing ), unterminated subpattern at position 0)",
        ),
    ]


RULE_ERRORS = [
    (
        {"action": "file"},
        [_issue(f"{HOST}.mda_rules[0].action",
                "an MDA action (discard, folder, forward, vacation)", "'file'", "folder")],
    ),
    (
        {"folder": ".Spam"},
        [_issue(f"{HOST}.mda_rules[0].action",
                "the rule's action (folder, discard, forward, vacation)", "nothing")],
    ),
    (
        {"action": "folder"},
        [_issue(f"{HOST}.mda_rules[0].folder", "the folder to file into (folder: .Spam)",
                "nothing")],
    ),
    (
        {"action": "folder", "folder": "/etc"},
        [_issue(f"{HOST}.mda_rules[0].folder", "a folder name inside the mailbox, such as .Spam",
                "'/etc'")],
    ),
    (
        {"action": "forward", "forward_to": "jura"},
        [_issue(f"{HOST}.mda_rules[0].forward_to", "a mail address such as jura@firma1.intr",
                "'jura'")],
    ),
    (
        {"action": "forward"},
        [_issue(f"{HOST}.mda_rules[0].forward_to", "the address to forward to (forward_to)",
                "nothing")],
    ),
    (
        {"action": "discard", "folder": ".Spam"},
        [_issue(f"{HOST}.mda_rules[0].folder", "folder only in a rule with action folder",
                "discard")],
    ),
    (
        {"action": "folder", "folder": ".x", "vacation_text": "hi"},
        [_issue(f"{HOST}.mda_rules[0].vacation_text",
                "vacation_text only in a rule with action vacation", "folder")],
    ),
    (
        {"action": "discard", "min_size": "lots"},
        [_issue(f"{HOST}.mda_rules[0].min_size",
                "a size such as 4096, 4KB, 20MB or 1MiB (a bare number is bytes)", "'lots'")],
    ),
    (
        {"action": "discard", "min_size": "2MB", "max_size": "1MB"},
        [_issue(f"{HOST}.mda_rules[0].max_size", "max_size >= min_size (2000000 bytes)",
                "1000000")],
    ),
    (
        {"action": "discard", "pattern": "x"},
        [_issue(f"{HOST}.mda_rules[0].pattern", "a header for the pattern (header: Subject)",
                "none")],
    ),
    (
        {"action": "discard", "header": "Subject:", "pattern": "x"},
        [_issue(f"{HOST}.mda_rules[0].header",
                "a header field name such as Subject (no colon, no spaces)", "'Subject:'",
                "Subject")],
    ),
    (
        {"action": "discard", "sender": 5},
        [_issue(f"{HOST}.mda_rules[0].sender", "a regular expression (text)", "5")],
    ),
    (
        {"action": "vacation", "vacation_period": "soon"},
        [_issue(f"{HOST}.mda_rules[0].vacation_period",
                "a duration such as 300s, 5m, 2h or 5d (a bare number is seconds)", "'soon'")],
    ),
    (
        {"action": "vacation", "vacation_text": ""},
        [_issue(f"{HOST}.mda_rules[0].vacation_text", "the reply's text", "''")],
    ),
    (
        {"action": "discard", "patern": "x"},
        [_issue(f"{HOST}.mda_rules[0].patern", "a known MDA rule key", "patern", "pattern")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "expected"), RULE_ERRORS, ids=lambda v: str(v)[:40])
def test_each_rule_error_is_reported_at_its_path(
    rule: dict[str, object], expected: list[ScenarioIssue]
) -> None:
    assert issues(with_host_rules(rule)) == expected


def test_rules_must_be_a_list_of_mappings() -> None:
    data = with_host_rules("discard")
    data["users"][0]["mda_rules"] = {"action": "discard"}
    assert issues(data) == [
        _issue(f"{HOST}.mda_rules[0]", "a mapping", "'discard'"),
        _issue("users[0].mda_rules", "a list", "a mapping"),
    ]


def test_stream_header_sets_load_by_weight() -> None:
    data = minimal()
    data["workload"]["streams"][0]["headers"] = [
        {"headers": {"Subject": "Re: objednavka"}, "weight": 9},
        {"headers": {"Subject": "[SPAM] x", "List-Id": "<l.example>"}},
        {"headers": {}, "weight": 0.5},
    ]
    stream = scenario_from_dict(data).workload.streams[0]
    assert stream.headers == (
        ((("Subject", "Re: objednavka"),), 9.0),
        ((("Subject", "[SPAM] x"), ("List-Id", "<l.example>")), 1.0),
        ((), 0.5),
    )


def test_stream_header_set_errors() -> None:
    data = minimal()
    data["workload"]["streams"][0]["headers"] = [
        {"headers": {"Sub ject": "x"}},
        {"headers": {"Subject": ["a", "b"]}},
        {"headers": "Subject: x"},
        {"weight": 2},
        {"headers": {"Subject": "x"}, "weight": -1},
        {"header": {"Subject": "x"}},
    ]
    at = "workload.streams[0].headers"
    assert issues(data) == [
        _issue(f"{at}[0].headers[Sub ject]",
               "a header field name such as Subject (no colon, no spaces)", "'Sub ject'"),
        _issue(f"{at}[1].headers.Subject", "the header's value (text)", "['a', 'b']"),
        _issue(f"{at}[2].headers", "a mapping", "'Subject: x'"),
        _issue(f"{at}[3].headers",
               "a mapping of header names to values, such as {Subject: Hi}", "nothing"),
        _issue(f"{at}[4].weight", "a weight >= 0", "-1"),
        _issue(f"{at}[5].header", "a known header set key", "header", "headers"),
        _issue(f"{at}[5].headers",
               "a mapping of header names to values, such as {Subject: Hi}", "nothing"),
    ]  # fmt: skip


def test_all_header_weights_zero_is_an_error() -> None:
    data = minimal()
    data["workload"]["streams"][0]["headers"] = [{"headers": {}, "weight": 0}]
    assert issues(data) == [
        _issue("workload.streams[0].headers", "at least one weight > 0", "all weights 0")
    ]


def test_yaml_issue_carries_the_line_of_the_bad_pattern(tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace(
        "  - {address: jura@firma1.intr, host: neo.firma1.intr}\n",
        "  - address: jura@firma1.intr\n"
        "    host: neo.firma1.intr\n"
        "    mda_rules:\n"
        "      - action: discard\n"
        "        header: Subject\n"
        "        pattern: '*spam'\n",
    )
    path = write(tmp_path, "s.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (issue,) = info.value.issues
    assert (issue.path, issue.line) == ("users[0].mda_rules[0].pattern", 15)
    assert issue.got == "'*spam' (nothing to repeat at position 0)"
