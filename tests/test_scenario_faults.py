"""Loading faults: a host's ``behaviour`` and ``dns.faults``, their checks, and the example
scenario data/scenarios/firma1-outage.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsim.errors import ScenarioError, ScenarioIssue
from mailsim.scenario import load_scenario, scenario_from_dict
from mailsim.scenario.faultconf import split_reply
from mailsim.scenario.faults import DNSFault, Greylist, HostBehaviour, Outage, ReplyRule
from mailsim.sim import simulate

from scenario_cases import MINIMAL_YAML, NEO, issues, minimal, write

HOST = f"hosts[{NEO}]"
BEHAVIOUR = f"{HOST}.behaviour"
SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
EXPECT_REPLY = (
    "an SMTP reply line: a 4xx or 5xx code, an optional enhanced status code of the same class "
    "and a text, such as '450 4.2.1 Mailbox temporarily unavailable'"
)


def _issue(path: str, expected: str, got: str = "", suggestion: str = "") -> ScenarioIssue:
    return ScenarioIssue("<dict>", path, expected, got, suggestion, None)


def test_a_behaviour_and_dns_faults_load_into_the_records() -> None:
    data = minimal()
    data["hosts"][NEO]["behaviour"] = {
        "down": [{"start": "1h", "end": "4h"}],
        "replies": [
            {"reply": "450 4.2.1 Mailbox busy", "probability": 0.25, "recipients": r"^old\."},
            {"reply": "421 4.3.2 Bye", "stage": "connect", "start": "2h", "end": "3h"},
        ],
        "greylist": {"delay": "5m"},
        "session_limit": 4,
        "session_limit_reply": "",
    }
    data["dns"] = {"faults": [{"domain": "Firma2.intr.", "kind": "servfail", "end": "2h"}]}
    scenario = scenario_from_dict(data)
    assert scenario.hosts[NEO].behaviour == HostBehaviour(
        down=(Outage(3600.0, 14400.0),),
        replies=(
            ReplyRule("450 4.2.1 Mailbox busy", "rcpt", 0.25, 0.0, None, r"^old\."),
            ReplyRule("421 4.3.2 Bye", "connect", 1.0, 7200.0, 10800.0),
        ),
        greylist=Greylist(300.0, "450 4.7.1 Greylisted, please try again later"),
        session_limit=4,
        session_limit_reply="",
    )
    assert scenario.dns.faults == (DNSFault("firma2.intr", "servfail", 0.0, 7200.0),)


def test_a_host_without_behaviour_is_healthy() -> None:
    assert scenario_from_dict(minimal()).hosts[NEO].behaviour.healthy


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("450 4.2.1 Mailbox busy", (450, "4.2.1", "Mailbox busy")),
        ("421 Service not available", (421, "", "Service not available")),
        ("554", (554, "", "")),
        (
            "552 5.3.4 Message size exceeds fixed limit",
            (552, "5.3.4", "Message size exceeds fixed limit"),
        ),
        ("250 2.0.0 Ok", None),  # accepts nothing: not a refusal
        ("450 5.2.1 Mailbox busy", None),  # RFC 3463: the class must be the code's
        ("45 4.2.1 x", None),
        ("Greylisted", None),
    ],
)
def test_reply_lines_are_read_as_smtp_reads_them(line: str, parsed: object) -> None:
    assert split_reply(line) == parsed


def test_every_behaviour_problem_is_reported_with_its_path() -> None:
    data = minimal()
    data["hosts"][NEO]["behaviour"] = {
        "down": [{"start": "1h", "end": "4h"}, {"start": "5h"}, {"start": "2h", "end": "1h"}],
        "replies": [
            {"reply": "250 Ok"},
            {"reply": "450 5.2.1 Mailbox busy", "stage": "rcp"},
            {"reply": "550 5.1.1 x", "probability": 1.5, "recipients": "("},
            {"reply": "421 x", "stage": "connect", "recipients": "^a"},
        ],
        "greylist": {"delay": "5m", "reply": "550 5.7.1 go away"},
        "session_limit": -1,
        "sesion_limit": 3,
    }
    assert issues(data) == [
        _issue(
            f"{BEHAVIOUR}.sesion_limit", "a known behaviour key", "sesion_limit", "session_limit"
        ),
        _issue(f"{BEHAVIOUR}.down[1].end", "when the outage ends, such as 4h", "nothing"),
        _issue(f"{BEHAVIOUR}.down[2].end", "an end after start (7200s)", "'1h'"),
        _issue(f"{BEHAVIOUR}.replies[0].reply", EXPECT_REPLY, "'250 Ok'"),
        _issue(
            f"{BEHAVIOUR}.replies[1].reply",
            "an enhanced status code of class 4 (as the reply code)",
            "'450 5.2.1 Mailbox busy'",
            "450 4.2.1 Mailbox busy",
        ),
        _issue(
            f"{BEHAVIOUR}.replies[1].stage",
            "an SMTP stage (connect, data, helo, mail, rcpt)",
            "'rcp'",
            "rcpt",
        ),
        _issue(f"{BEHAVIOUR}.replies[2].probability", "a probability from 0 to 1", "1.5"),
        _issue(
            f"{BEHAVIOUR}.replies[2].recipients",
            "a valid regular expression (Python re)",
            "'(': missing ), unterminated subpattern at position 0",
        ),
        _issue(
            f"{BEHAVIOUR}.replies[3].recipients",
            "no recipients pattern: it applies at the rcpt stage only",
            "'^a'",
        ),
        _issue(
            f"{BEHAVIOUR}.greylist.reply",
            "a 4xx reply: greylisting defers (a 5xx would bounce the mail)",
            "'550 5.7.1 go away'",
            "450 4.7.1 go away",
        ),
        _issue(f"{BEHAVIOUR}.session_limit", "an integer >= 0", "-1"),
    ]


def test_dns_fault_problems() -> None:
    data = minimal()
    data["dns"] = {
        "faults": [
            {"domain": "firma2.intr", "kind": "srvfail"},
            {"domain": "bad domain!", "kind": "timeout", "end": "1h"},
            {"kind": "nxdomain", "start": "2h", "end": "1h"},
        ]
    }
    assert issues(data) == [
        _issue(
            "dns.faults[0].kind",
            "a DNS fault kind (nxdomain, servfail, timeout)",
            "'srvfail'",
            "servfail",
        ),
        _issue("dns.faults[1].domain", "a domain name such as firma3.intr", "'bad domain!'"),
        _issue("dns.faults[2].domain", "the domain whose lookups fail", "nothing"),
    ]


def test_issues_in_yaml_carry_the_line(tmp_path: Path) -> None:
    text = MINIMAL_YAML.replace(
        "    postfix:\n",
        "    behaviour:\n      replies:\n        - {reply: 450 5.2.1 busy}\n    postfix:\n",
    )
    path = write(tmp_path, "lab.yaml", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (issue,) = info.value.issues
    assert (issue.path, issue.line, issue.suggestion) == (
        f"{BEHAVIOUR}.replies[0].reply",
        9,
        "450 4.2.1 busy",
    )


def test_the_outage_example_loads_and_shows_its_faults() -> None:
    """data/scenarios/firma1-outage.yaml: mx.firma2.intr down 1h-4h, firma3 greylists."""
    scenario = load_scenario(SCENARIOS / "firma1-outage.yaml")
    assert scenario.warnings == ()
    assert scenario.hosts["mx.firma2.intr"].behaviour.down == (Outage(3600.0, 14400.0),)
    for name in ("mx1.firma3.intr", "mx2.firma3.intr"):
        assert scenario.hosts[name].behaviour.greylist == Greylist(300.0)
    run = simulate(scenario)
    events = run.events
    neo = events[events["node"] == "neo.firma1.intr"]
    to_firma2 = neo[(neo["event"] == "sent") & neo["relay"].astype(str).str.startswith("mx.firma2")]
    assert not ((to_firma2["t"] > 3600.0) & (to_firma2["t"] < 14400.0)).any()
    timed_out = neo[neo["event"] == "connect_fail"]["detail"].astype(str)
    assert len(timed_out) > 0
    assert set(timed_out) == {"connect to mx.firma2.intr[192.0.2.25]:25: Connection timed out"}
    greylisted = events[(events["node"] == "mx1.firma3.intr") & (events["event"] == "reject")]
    assert greylisted["detail"].astype(str).str.contains("Greylisted").any()
    recipients = run.recipients()
    firma3 = recipients[recipients["recipient"].astype(str).str.endswith("@firma3.intr")]
    assert (firma3["status"] == "delivered").mean() > 0.95
