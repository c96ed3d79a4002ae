"""Postfix settings Postfix itself would refuse, from a YAML ``postfix:`` block or a real main.cf.

An issue about a value set in main.cf names the main.cf file and line; the path is the same as
for a YAML value (``hosts[neo.firma1.intr].postfix.<parameter>``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import load_scenario, scenario_from_dict

from scenario_cases import MINIMAL_YAML, NEO, issues, minimal, write

POSTFIX = f"hosts[{NEO}].postfix"


def _postfix_issues(**parameters: object) -> list[tuple[str, str, str, str]]:
    """Return (parameter, expected, got, suggestion) of each issue; [] if the scenario loads."""
    data = minimal()
    data["hosts"][NEO]["postfix"].update(parameters)
    try:
        scenario_from_dict(data)
    except ScenarioError as error:
        return [
            (i.path.removeprefix(POSTFIX + "."), i.expected, i.got, i.suggestion)
            for i in error.issues
        ]
    return []


def test_unknown_parameter_gets_the_closest_known_one() -> None:
    """postconf(5) has no "mydestinaton"; in a YAML block that is a mistake, not a new name."""
    assert _postfix_issues(mydestinaton="$myhostname") == [
        ("mydestinaton", "a known Postfix parameter", "mydestinaton", "mydestination")
    ]


BYTES = "a whole number of bytes (main.cf takes no units)"
INTEGER = "a non-negative integer"
CODE = "a 4xx or 5xx SMTP reply code"
TIME = "a Postfix time value: a number with an optional unit s, m, h, d or w"
RESTRICTION = "an smtpd restriction mailsim supports"


@pytest.mark.parametrize(
    ("parameter", "value", "expected", "got", "suggestion"),
    [
        ("message_size_limit", "20MB", BYTES, "'20MB'", "20000000"),
        ("mailbox_size_limit", "lots", BYTES, "'lots'", ""),
        ("default_process_limit", "1.5", INTEGER, "'1.5'", ""),
        ("smtpd_process_limit", -1, INTEGER, "'-1'", ""),
        ("smtp_destination_concurrency_limit", "$nothing", INTEGER, "''", ""),
        ("unknown_local_recipient_reject_code", 250, CODE, "'250'", ""),
        ("unknown_local_recipient_reject_code", "55O", CODE, "'55O'", ""),
        ("queue_run_delay", "5x", TIME, "'5x'", ""),
        ("smtpd_sasl_auth_enable", "maybe", "yes or no", "'maybe'", ""),
        ("mynetworks_style", "subnets", "a mynetworks style (class, host, subnet)", "'subnets'",
         "subnet"),
    ],
)  # fmt: skip
def test_typed_parameters(
    parameter: str, value: object, expected: str, got: str, suggestion: str
) -> None:
    """postconf(5) gives each of these a type: an integer (sizes in plain bytes), a reply code,
    a time with unit s/m/h/d/w, yes/no, or one of a few words."""
    assert _postfix_issues(**{parameter: value}) == [(parameter, expected, got, suggestion)]


def test_yaml_booleans_and_numbers_are_valid_main_cf_values() -> None:
    assert _postfix_issues(smtpd_sasl_auth_enable=False, message_size_limit=4096) == []


def test_a_mapping_is_not_a_main_cf_value() -> None:
    assert _postfix_issues(relayhost={"host": "x"}) == [
        ("relayhost", "a main.cf value: text, a number, yes/no or a list", "a mapping", "")
    ]


def test_mynetworks_patterns() -> None:
    """postconf(5) mynetworks: addresses and network/mask patterns, IPv6 inside [], a
    "type:table" or "/file/name" (accepted, not modelled); host bits set are an error."""
    value = "127.0.0.0/8 [::1]/128 10.1.2.3 192.168.1.1/24, 10.0.0.300 hash:/etc/postfix/nets"
    assert _postfix_issues(mynetworks=value) == [
        ("mynetworks", "a network address with no host bits set", "'192.168.1.1/24'",
         "192.168.1.0/24"),
        ("mynetworks", "an IP address or network/prefix", "'10.0.0.300'", ""),
    ]  # fmt: skip


def test_unsupported_restrictions() -> None:
    """The restriction names come from postconf(5); a table argument is not a second error."""
    value = (
        "permit_mynetwork, check_client_access hash:/etc/postfix/access, reject_unauth_destination"
    )
    assert _postfix_issues(smtpd_recipient_restrictions=value) == [
        ("smtpd_recipient_restrictions", RESTRICTION, "'permit_mynetwork'", "permit_mynetworks"),
        ("smtpd_recipient_restrictions", RESTRICTION, "'check_client_access'", ""),
    ]


def test_relay_control_is_required() -> None:
    """postconf(5) smtpd_recipient_restrictions: smtpd_relay_restrictions or
    smtpd_recipient_restrictions must hold reject_unauth_destination, defer_unauth_destination,
    reject or defer, or Postfix refuses to receive mail."""
    found = _postfix_issues(
        smtpd_relay_restrictions="permit_mynetworks", smtpd_recipient_restrictions=""
    )
    assert found == [
        (
            "smtpd_relay_restrictions",
            "reject_unauth_destination, defer_unauth_destination, reject or defer in "
            "smtpd_relay_restrictions or smtpd_recipient_restrictions "
            "(smtpd refuses mail without one)",
            "smtpd_recipient_restrictions = '', smtpd_relay_restrictions = 'permit_mynetworks'",
            "",
        )
    ]
    assert _postfix_issues(smtpd_relay_restrictions="", smtpd_recipient_restrictions="defer") == []
    # what follows "permit" never runs, so it does not count
    late = _postfix_issues(smtpd_relay_restrictions="permit, reject_unauth_destination")
    assert [path for path, *_ in late] == ["smtpd_relay_restrictions"]
    assert (
        _postfix_issues(smtpd_relay_restrictions="Permit_MyNetworks, REJECT_UNAUTH_DESTINATION")
        == []
    )


def test_mailbox_size_limit_may_not_be_below_message_size_limit() -> None:
    """postconf(5) mailbox_size_limit: not smaller than message_size_limit (local(8) stops with
    "mailbox_size_limit is smaller than message_size_limit"); 0 means no limit."""
    expected = (
        "mailbox_size_limit >= message_size_limit (60000000) or 0 "
        "(local(8) refuses to deliver otherwise, postconf(5))"
    )
    # only message_size_limit was set, so the issue points there
    assert _postfix_issues(message_size_limit=60000000) == [
        ("message_size_limit", expected, "'51200000'", "60000000")
    ]
    assert _postfix_issues(mailbox_size_limit=1000000) == [
        ("mailbox_size_limit", expected.replace("60000000", "10240000"), "'1000000'", "10240000")
    ]
    assert _postfix_issues(message_size_limit=60000000, mailbox_size_limit=0) == []


def test_expansion_loops_are_reported() -> None:
    found = _postfix_issues(relay_domains="$mydestination", mydestination="$relay_domains")
    assert [(path, expected) for path, expected, _, _ in found] == [
        ("mydestination", "$name references that expand (postconf(5))"),
        ("relay_domains", "$name references that expand (postconf(5))"),
    ]


# -- real main.cf and aliases files ---------------------------------------------------------------
def _with_files(tmp_path: Path, main_cf: str, aliases: str = "root: jura\n") -> Path:
    write(tmp_path, "conf/main.cf", main_cf)
    write(tmp_path, "conf/aliases", aliases)
    text = MINIMAL_YAML.replace(
        "    postfix:\n      mydestination: $myhostname, $mydomain, localhost\n",
        "    main_cf: conf/main.cf\n    aliases_file: conf/aliases\n",
    )
    return write(tmp_path, "lab.yaml", text)


def _file_issues(path: Path) -> list[ScenarioIssue]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return list(info.value.issues)


GOOD_MAIN_CF = "mydestination = $myhostname, $mydomain,\n    localhost\n"


def test_main_cf_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = _with_files(tmp_path, GOOD_MAIN_CF + "this is not a setting\n", "root jura\n")
    assert _file_issues(path) == [
        ScenarioIssue(str(tmp_path / "conf/main.cf"), f"hosts[{NEO}].main_cf", "'name = value'",
                      "'this is not a setting'", "", 3),
        ScenarioIssue(str(tmp_path / "conf/aliases"), f"hosts[{NEO}].aliases_file",
                      "'name: value, ...'", "'root jura'", "", 1),
    ]  # fmt: skip


def test_main_cf_values_are_checked_where_they_are_written(tmp_path: Path) -> None:
    path = _with_files(tmp_path, GOOD_MAIN_CF + "\nmessage_size_limit = 20MB\n")
    assert _file_issues(path) == [
        ScenarioIssue(str(tmp_path / "conf/main.cf"), f"{POSTFIX}.message_size_limit",
                      "a whole number of bytes (main.cf takes no units)", "'20MB'", "20000000", 4),
    ]  # fmt: skip


def test_user_defined_main_cf_parameters_are_warnings(tmp_path: Path) -> None:
    """Postfix accepts parameters it does not know in main.cf (user-defined ones, referenced as
    $name), so a real file may have them; mailsim keeps them and says so."""
    path = _with_files(tmp_path, GOOD_MAIN_CF + "site_gw = mx.firma2.intr\nmydestinaton = x\n")
    scenario = load_scenario(path)
    assert scenario.host(NEO).postfix["site_gw"] == "mx.firma2.intr"
    main_cf = tmp_path / "conf/main.cf"
    assert scenario.warnings == (
        f"{main_cf}:3: {POSTFIX}.site_gw: not a parameter mailsim knows; kept, as Postfix keeps "
        "user-defined ones",
        f"{main_cf}:4: {POSTFIX}.mydestinaton: not a parameter mailsim knows; kept, as Postfix "
        "keeps user-defined ones (did you mean 'mydestination'?)",
    )


def test_yaml_postfix_block_overrides_main_cf(tmp_path: Path) -> None:
    path = _with_files(
        tmp_path, GOOD_MAIN_CF + "queue_run_delay = 5m\nmyhostname = mail.firma1.intr\n"
    )
    text = path.read_text(encoding="utf-8").replace(
        "    aliases_file:", "    postfix: {queue_run_delay: 15s}\n    aliases_file:"
    )
    scenario = load_scenario(write(tmp_path, "lab.yaml", text))
    assert scenario.host(NEO).postfix.seconds("queue_run_delay") == 15.0
    assert scenario.warnings == (
        f"{tmp_path / 'conf/main.cf'}:4: {POSTFIX}.myhostname: differs from the host's name "
        f"'{NEO}'",
    )


def test_missing_main_cf_and_aliases_files() -> None:
    data = minimal()
    data["hosts"][NEO].update(main_cf="nope/main.cf", aliases_file=["nope/aliases"])
    assert issues(data, base_dir="/nonexistent") == [
        ScenarioIssue("<dict>", f"hosts[{NEO}].main_cf", "a readable main.cf file",
                      "/nonexistent/nope/main.cf (No such file or directory)", "", None),
        ScenarioIssue("<dict>", f"hosts[{NEO}].aliases_file", "a readable aliases file",
                      "/nonexistent/nope/aliases (No such file or directory)", "", None),
    ]  # fmt: skip


def test_bad_inline_aliases() -> None:
    data = minimal()
    data["hosts"][NEO]["aliases"] = {"root": "", "info": ["jura", 5]}
    assert [(i.path, i.expected, i.got) for i in issues(data)] == [
        (f"hosts[{NEO}].aliases.root", "an alias name with one or more destinations", "''"),
        (
            f"hosts[{NEO}].aliases.info",
            "an alias name with one or more destinations",
            "['jura', 5]",
        ),
    ]


def test_scenario_from_dict_reports_the_same_issues_as_yaml(tmp_path: Path) -> None:
    data = minimal()
    data["hosts"][NEO]["postfix"]["mynetworks"] = "10.0.0.1/8"
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    (issue,) = info.value.issues
    assert (issue.path, issue.suggestion) == (f"{POSTFIX}.mynetworks", "10.0.0.0/8")


@pytest.mark.parametrize("value", ["1/concurrency", "1/sqrt_concurrency", "0.25", "1/4", "1", "0"])
def test_concurrency_feedback_values_postfix_accepts(value: str) -> None:
    """SCHEDULER_README / qmgr_feedback.c: x, x/y, x/concurrency, x/sqrt_concurrency."""
    assert _postfix_issues(smtp_destination_concurrency_negative_feedback=value) == []


@pytest.mark.parametrize("value", ["1/N", "2", "fast", "1/0"])
def test_bad_concurrency_feedback_is_reported_where_it_is_written(value: str) -> None:
    expected = "feedback x, x/y, x/concurrency or x/sqrt_concurrency between 0 and 1"
    assert _postfix_issues(default_destination_concurrency_positive_feedback=value) == [
        ("default_destination_concurrency_positive_feedback", expected, repr(value), "")
    ]


def test_feedback_style_is_postfix_or_readme() -> None:
    issues_found = _postfix_issues(mailsim_concurrency_feedback_style="book")
    assert [(name, got) for name, _, got, _ in issues_found] == [
        ("mailsim_concurrency_feedback_style", "'book'")
    ]
