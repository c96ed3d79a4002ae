"""Structural problems: unknown keys, wrong types, bad units and addresses, missing fields, YAML.

Every issue names the file, the path (keys with dots in brackets), what was expected, what was
found, the closest known word for a misspelt one, and the YAML line where there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import load_scenario, scenario_from_dict

from scenario_cases import MINIMAL_YAML, NEO, issues, minimal, write

Data = dict[str, Any]
HOST = f"hosts[{NEO}]"


def _set(path: str, value: object) -> Callable[[Data], None]:
    """Return a change that sets ``data[a][b]...`` (``/``-separated; digits index lists)."""

    def change(data: Data) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return change


def _issue(path: str, expected: str, got: str = "", suggestion: str = "") -> ScenarioIssue:
    return ScenarioIssue("<dict>", path, expected, got, suggestion, None)


UNKNOWN_KEYS = [
    ("duraton", "duraton", "a known scenario key", "duration"),
    (f"hosts/{NEO}/adress", f"{HOST}.adress", "a known host key", "address"),
    (f"hosts/{NEO}/mailbox_fromat", f"{HOST}.mailbox_fromat", "a known host key", "mailbox_format"),
    (f"hosts/{NEO}/capacity/smptd", f"{HOST}.capacity.smptd", "a known daemon key", "smtpd"),
    ("users/0/pasword", "users[0].pasword", "a known user key", "password"),
    ("dns/zone", "dns.zone", "a known dns key", "zones"),
    ("dns/zones/firma1.intr/mxx", "dns.zones[firma1.intr].mxx", "a known zone key", "mx"),
    ("workload/stream", "workload.stream", "a known workload key", "streams"),
    ("workload/streams/0/sendrs", "workload.streams[0].sendrs", "a known stream key", "senders"),
]


@pytest.mark.parametrize(("where", "path", "expected", "suggestion"), UNKNOWN_KEYS)
def test_unknown_keys_at_every_level_get_the_closest_known_key(
    where: str, path: str, expected: str, suggestion: str
) -> None:
    data = minimal()
    _set(where, 1)(data)
    assert issues(data) == [_issue(path, expected, path.rpartition(".")[2], suggestion)]


def test_unknown_keys_in_lists_of_mappings() -> None:
    data = minimal()
    data["users"][0]["fetch"] = {"protocl": "pop3"}
    data["links"] = [{"latncy": "5ms"}]
    data["workload"]["streams"][0]["senders"] = [{"address": "jura@firma1.intr", "wieght": 2}]
    assert issues(data) == [
        _issue("users[0].fetch.protocl", "a known fetch key", "protocl", "protocol"),
        _issue("links[0].latncy", "a known link key", "latncy", "latency"),
        _issue(
            "workload.streams[0].senders[0].wieght",
            "a known weighted address key",
            "wieght",
            "weight",
        ),
    ]


@pytest.mark.parametrize(
    ("where", "value", "path", "expected", "got"),
    [
        ("hosts", ["neo"], "hosts", "a mapping", "['neo']"),
        ("users", {"jura": 1}, "users", "a list", "a mapping"),
        ("seed", "2006", "seed", "an integer >= 0", "'2006'"),
        ("seed", True, "seed", "an integer >= 0", "True"),
        ("description", 5, "description", "a string", "5"),
        (f"hosts/{NEO}/services", "smtp", f"{HOST}.services", "a list", "'smtp'"),
        (f"hosts/{NEO}/postfix", "x", f"{HOST}.postfix", "a mapping", "'x'"),
        ("users/0/sasl", "yes please", "users[0].sasl", "true or false", "'yes please'"),
        ("workload/streams/0/name", 7, "workload.streams[0].name", "a stream name", "7"),
    ],
)
def test_wrong_types(where: str, value: object, path: str, expected: str, got: str) -> None:
    data = minimal()
    _set(where, value)(data)
    assert issues(data)[0] == _issue(path, expected, got)


DURATION = "a duration such as 300s, 5m, 2h or 5d (a bare number is seconds)"


@pytest.mark.parametrize(
    ("where", "value", "path", "expected", "got"),
    [
        ("duration", "8x", "duration", DURATION, "'8x'"),
        ("duration", 0, "duration", "a duration > 0", "0"),
        ("drain", -1, "drain", "a non-negative duration", "-1"),
        ("drain", float("inf"), "drain", DURATION, "inf"),
        ("dns/lookup_time", "fast", "dns.lookup_time", DURATION, "'fast'"),
        (
            "workload/streams/0/rate",
            "10/x",
            "workload.streams[0].rate",
            "a rate such as 240/h, 2000/d or 0.5 (a bare number is per second)",
            "'10/x'",
        ),
        (
            "workload/streams/0/size",
            "3.5XB",
            "workload.streams[0].size",
            "a size such as 4096, 4KB, 20MB or 1MiB (a bare number is bytes)",
            "'3.5XB'",
        ),
        (
            "links",
            [{"bandwidth": "fast"}],
            "links[0].bandwidth",
            "a bandwidth such as 10MB/s or 100KB/s (a bare number is bytes/s, 0 unlimited)",
            "'fast'",
        ),
    ],
)
def test_bad_quantities_quote_the_value(
    where: str, value: object, path: str, expected: str, got: str
) -> None:
    data = minimal()
    _set(where, value)(data)
    assert issues(data) == [_issue(path, expected, got)]


@pytest.mark.parametrize(
    ("where", "value", "path", "expected", "got", "suggestion"),
    [
        (f"hosts/{NEO}/address", "195.113.106.300", f"{HOST}.address",
         "an IP address such as 195.113.106.168", "'195.113.106.300'", ""),
        (f"hosts/{NEO}/network", "195.113.106.168/24", f"{HOST}.network",
         "a network address with no host bits set", "'195.113.106.168/24'", "195.113.106.0/24"),
        (f"hosts/{NEO}/network", "10.0.0.0/33", f"{HOST}.network",
         "an IP network such as 195.113.106.0/24", "'10.0.0.0/33'", ""),
        (f"hosts/{NEO}/network", "10.0.0.0/8", f"{HOST}.network",
         "a network that contains the host address 195.113.106.168", "'10.0.0.0/8'", ""),
        ("users/0/client_address", "localhost", "users[0].client_address",
         "an IP address such as 195.113.106.168", "'localhost'", ""),
        ("dns/zones/firma1.intr/a", {NEO: "::1"}, f"dns.zones[firma1.intr].a[{NEO}]",
         "an IPv4 address such as 195.113.106.168", "'::1'", ""),
    ],
)  # fmt: skip
def test_bad_addresses_and_networks(
    where: str, value: object, path: str, expected: str, got: str, suggestion: str
) -> None:
    data = minimal()
    _set(where, value)(data)
    assert issues(data) == [_issue(path, expected, got, suggestion)]


KINDS = "a distribution kind (constant, exponential, lognormal, uniform)"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"dist": "exponentil", "mean": "2ms"},
            [("smtpd.dist", KINDS, "'exponentil'", "exponential")],
        ),
        ({"mean": "2ms"}, [("smtpd.dist", KINDS, "nothing", "")]),
        (
            {"dist": "lognormal", "mean": "2ms", "sigma": 1},
            [
                ("smtpd.mean", "a known lognormal distribution key", "mean", "median"),
                ("smtpd.median", "the median of the lognormal distribution", "nothing", ""),
            ],
        ),
        (
            {"dist": "lognormal", "median": "2ms", "sigma": -1},
            [("smtpd.sigma", "a number >= 0", "-1", "")],
        ),
        (
            {"dist": "uniform", "low": "5ms", "high": "1ms"},
            [("smtpd.high", "high >= low", "'1ms'", "")],
        ),
    ],
)
def test_bad_distributions(spec: object, expected: list[tuple[str, str, str, str]]) -> None:
    data = minimal()
    data["hosts"][NEO]["capacity"] = {"smtpd": spec}
    assert issues(data) == [_issue(f"{HOST}.capacity.{p}", e, g, s) for p, e, g, s in expected]


def test_missing_required_fields() -> None:
    data = minimal()
    del data["name"]
    del data["hosts"][NEO]["address"]
    data["users"].append({"address": "nekdo@firma1.intr"})
    del data["workload"]["streams"][0]["rate"]
    assert issues(data) == [
        _issue("name", "the scenario's name", "nothing"),
        _issue(f"{HOST}.address", "the host's IP address", "nothing"),
        _issue("users[1].host", "the host of the user's mailbox", "nothing"),
        _issue("workload.streams[0].rate", "the stream's rate, such as 240/h", "nothing"),
    ]


def test_every_problem_is_reported_at_once_and_printed_one_per_line() -> None:
    data = minimal()
    data["seed"] = -5
    data["hosts"][NEO]["postfix"]["mydestinaton"] = "$myhostname"
    data["users"][0]["host"] = "neo.firma.intr"
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="lab.yaml")
    assert str(info.value).splitlines() == [
        "3 problems in scenario:",
        "  lab.yaml: seed: expected an integer >= 0, got -5",
        f"  lab.yaml: {HOST}.postfix.mydestinaton: expected a known Postfix parameter, "
        "got mydestinaton (did you mean 'mydestination'?)",
        "  lab.yaml: users[0].host: expected a host of the scenario (neo.firma1.intr), "
        "got 'neo.firma.intr' (did you mean 'neo.firma1.intr'?)",
    ]


# -- YAML: lines, syntax, duplicates, files -------------------------------------------------------
def _yaml_issues(tmp_path: Path, text: str) -> list[ScenarioIssue]:
    path = write(tmp_path, "lab.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return list(info.value.issues)


def test_yaml_issues_carry_the_line(tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace("mydestination:", "mydestinaton:").replace(
        "rate: 60/h", "rate: 60/x"
    )
    file = str(tmp_path / "lab.yaml")
    assert _yaml_issues(tmp_path, text) == [
        ScenarioIssue(file, f"{HOST}.postfix.mydestinaton", "a known Postfix parameter",
                      "mydestinaton", "mydestination", 8),
        ScenarioIssue(file, "users[0].address", "an address in a domain neo.firma1.intr delivers "
                      "locally (mydestination: neo.firma1.intr, localhost.firma1.intr, localhost)",
                      "'jura@firma1.intr'", "", 10),
        ScenarioIssue(file, "workload.streams[0].rate",
                      "a rate such as 240/h, 2000/d or 0.5 (a bare number is per second)",
                      "'60/x'", "", 14),
    ]  # fmt: skip


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace("rate: 60/h", "rate: [60/h")
    (issue,) = _yaml_issues(tmp_path, text)
    assert (issue.path, issue.expected, issue.line) == ("", "valid YAML", 15)
    assert issue.got == "expected ',' or ']', but got ':'"


def test_yaml_keys_given_twice_are_reported(tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace("    network:", "    address: 195.113.106.169\n    network:", 1)
    (issue,) = _yaml_issues(tmp_path, text)
    assert issue == ScenarioIssue(
        str(tmp_path / "lab.yaml"),
        f"{HOST}.address",
        "each key once (YAML keeps only the last value)",
        "address again, first on line 4",
        "",
        5,
    )


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace(
        "users:\n  - {address: jura@firma1.intr, host: neo.firma1.intr}",
        "defaults: &user {host: neo.firma1.intr, password: x}\n"
        "users:\n  - {<<: *user, address: jura@firma1.intr, password: heslo}",
    )
    assert _yaml_issues(tmp_path, text) == [
        ScenarioIssue(
            str(tmp_path / "lab.yaml"), "defaults", "a known scenario key", "defaults", "", 9
        )
    ]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    (issue,) = _yaml_issues(tmp_path, "- just\n- a list\n")
    assert (issue.path, issue.expected, issue.got) == ("", "a mapping", "['just', 'a list']")


def test_an_empty_file_lacks_the_required_keys(tmp_path: Path) -> None:
    assert [(i.path, i.expected, i.got) for i in _yaml_issues(tmp_path, "# nothing yet\n")] == [
        ("name", "the scenario's name", "nothing"),
        ("hosts", "a mapping of host names to hosts", "nothing"),
    ]


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert info.value.issues == (
        ScenarioIssue(
            str(tmp_path / "nope.yaml"), "", "a readable scenario file", "No such file or directory"
        ),
    )
