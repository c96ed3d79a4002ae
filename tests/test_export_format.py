"""Exported mail logs have the line formats of a real Postfix 3.7 log, and are reproducible.

The regular expressions below are written from the real Postfix 3.7 sample
(``maillog-postfix-3.7-sample.log``): the first test shows that every line of the sample a
Postfix mail daemon wrote matches exactly one of them (with the sample README's counts), the
others that every line the export writes for a day with an outage, greylisting, bounces,
expiries and alias forwards matches exactly one of them too.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailsim.analysis import Run
from mailsim.postfixlog.export import format_postfix_log, postfix_lines, write_postfix_log
from mailsim.scenario import load_scenario
from mailsim.sim import simulate

ROOT = Path(__file__).resolve().parents[1]
#: a real Postfix 3.7 log (../shared/data/postfix-logs/README.md tells how it was made)
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"

TS = r"(?P<ts>[A-Z][a-z]{2} [ 123]\d \d{2}:\d{2}:\d{2})"
PREFIX = re.compile(rf"^{TS} (?P<host>\S+) postfix/(?P<daemon>[a-z-]+)\[(?P<pid>\d+)\]: ")
QID = r"(?P<qid>[0-9A-F]{6,})"
ADDR = r"[^<>\s]*"
CLIENT = r"(?P<client>[A-Za-z0-9.-]+\[[0-9A-Fa-f.:]+\])"
DELAY = r"\d+(?:\.\d+)?"
#: line kind -> (daemons, pattern of the text after "daemon[pid]: "), from the sample's lines
KINDS: dict[str, tuple[str, str]] = {
    "connect": ("smtpd", rf"connect from {CLIENT}$"),
    "client": ("smtpd", rf"{QID}: client={CLIENT}$"),
    "disconnect": ("smtpd", rf"disconnect from {CLIENT}(?: [a-z]+=\d+(?:/\d+)?)+$"),
    "reject": (
        "smtpd",
        rf"(?:{QID}|NOQUEUE): reject: (?:RCPT|MAIL) from {CLIENT}: [45]\d\d [45]\.\d+\.\d+ "
        rf".+; from=<{ADDR}>(?: to=<{ADDR}>)? proto=E?SMTP helo=<[^>\s]+>$",
    ),
    "message-id": ("cleanup", rf"{QID}: message-id=<[^<>\s]+>$"),
    "queue active": ("qmgr", rf"{QID}: from=<{ADDR}>, size=\d+, nrcpt=\d+ \(queue active\)$"),
    "removed": ("qmgr", rf"{QID}: removed$"),
    "expired": ("qmgr", rf"{QID}: from=<{ADDR}>, status=expired, returned to sender$"),
    "status": (
        "smtp|local|error|lmtp|virtual",
        rf"{QID}: to=<{ADDR}>, (?:orig_to=<{ADDR}>, )?relay=[^,\s]+, (?:conn_use=\d+, )?"
        rf"delay=(?P<delay>{DELAY}), delays=(?P<delays>{DELAY}/{DELAY}/{DELAY}/{DELAY}), "
        rf"dsn=[245]\.\d+\.\d+, status=(?P<status>sent|deferred|bounced) \(.+\)$",
    ),
    "notification": ("bounce", rf"{QID}: sender (?:non-delivery|delay) notification: [0-9A-F]+$"),
    "connect to": ("smtp", r"connect to [A-Za-z0-9.-]+\[[0-9A-Fa-f.:]+\]:\d+: .+$"),
}
#: kinds the sample has no line of, from Postfix's source: smtp_trouble.c's msg_info("%s: %s")
#: before trying the next MX host, and postsuper's "placed on hold"
MORE_KINDS: dict[str, tuple[str, str]] = {
    "next mx": ("smtp", rf"{QID}: host \S+\[\S+\] said: [45]\d\d .+$"),
    "postsuper": ("postsuper", rf"{QID}: (?:placed on hold|released from hold|requeued)$"),
}


def kind_of(line: str, kinds: dict[str, tuple[str, str]]) -> list[str]:
    found = PREFIX.match(line)
    assert found, f"not a Postfix syslog line: {line!r}"
    text = line[found.end() :]
    return [
        name
        for name, (daemons, pattern) in kinds.items()
        if re.fullmatch(daemons, found.group("daemon")) and re.match(pattern, text)
    ]


def outage_text() -> str:
    """firma1-outage with short queue lifetimes (expiries, delay notices) and a remote alias
    member (``forwarded as``)."""
    text = (ROOT / "data" / "scenarios" / "firma1-outage.yaml").read_text(encoding="utf-8")
    text = text.replace("info: [jura, nekdo]\n", "info: [jura, nekdo, pavel@firma2.intr]\n", 1)
    return text.replace(
        "      myhostname: neo.firma1.intr\n",
        "      myhostname: neo.firma1.intr\n      maximal_queue_lifetime: 40m\n"
        "      bounce_queue_lifetime: 40m\n      delay_warning_time: 15m\n",
        1,
    )


def outage_run(tmp: Path) -> Run:
    path = tmp / "outage.yaml"
    path.write_text(outage_text(), encoding="utf-8")
    return simulate(load_scenario(path), until=2.5 * 3600, progress=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return outage_run(tmp_path_factory.mktemp("outage"))


@pytest.fixture(scope="module")
def lines(run: Run) -> list[str]:
    return format_postfix_log(run.events).splitlines()


def test_the_patterns_come_from_the_real_sample() -> None:
    counts: Counter[str] = Counter()
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        found = PREFIX.match(line)
        assert found
        if found.group("daemon") in ("pickup", "master", "postfix-script") or ": warning: " in line:
            continue  # not lines the export writes
        kinds = kind_of(line, {**KINDS, **MORE_KINDS})
        assert len(kinds) == 1, (line, kinds)
        counts[kinds[0]] += 1
    # the sample README's table: 171 connects, 175 received by smtpd, 25 + 3 RCPT and 1 MAIL
    # rejects, 484 + 106 + 13 status lines, 306 queue files, 24 expiries, 37 + 24 notices
    assert counts == {
        "connect": 171,
        "disconnect": 171,
        "client": 175,
        "reject": 29,
        "message-id": 306,
        "removed": 306,
        "queue active": 387,
        "status": 603,
        "expired": 24,
        "notification": 61,
        "connect to": 34,
    }


def test_every_exported_line_has_a_postfix_format(run: Run, lines: list[str]) -> None:
    counts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for line in lines:
        kinds = kind_of(line, {**KINDS, **MORE_KINDS})
        assert len(kinds) == 1, (line, kinds)
        counts[kinds[0]] += 1
        if kinds[0] == "status":
            statuses[line.rsplit(", status=", 1)[1].split(" ", 1)[0]] += 1
    assert set(counts) == set(KINDS) | {"next mx"}  # every kind of the sample, and the MX skip
    events = run.events["event"].astype(str).value_counts()
    assert counts["connect"] == counts["disconnect"] == events["connect"]
    assert counts["message-id"] == events["queued"]  # one per queue file
    assert counts["removed"] == events["removed"] + events["expired"]  # expired files go too
    assert counts["expired"] == events["expired"] > 0
    assert statuses["sent"] > 2000 and statuses["deferred"] > 500 and statuses["bounced"] > 0


def test_lines_carry_the_run_facts(run: Run, lines: list[str]) -> None:
    events = run.events
    assert sum(" client=" in line for line in lines) == int((events["event"] == "received").sum())
    rejects = int((events["event"] == "reject").sum())
    assert sum(": reject: RCPT from " in line for line in lines) == rejects
    assert sum(", status=expired, returned to sender" in line for line in lines) == int(
        (events["event"] == "expired").sum()
    )
    assert sum("(forwarded as " in line for line in lines) > 0
    assert sum(" orig_to=<info@firma1.intr>, " in line for line in lines) > 0
    relay_denied = [line for line in lines if "Relay access denied" in line]
    assert relay_denied and all("RCPT from unknown[203.0.113.66]" in x for x in relay_denied)
    assert all(" helo=<[203.0.113.66]>" in line for line in relay_denied)
    assert {PREFIX.match(line).group("host") for line in lines} == {"neo", "mx", "mx1", "mx2"}  # type: ignore[union-attr]


def test_timestamps_follow_the_start_in_utc(run: Run) -> None:
    start = datetime(2025, 11, 8, 23, 59, tzinfo=UTC)
    lines = format_postfix_log(run.events, start=start).splitlines()
    first_t = float(run.events["t"].iloc[1])  # row 0 is a client's submit: no line
    assert lines[0].startswith(f"Nov  8 23:59:{int(first_t):02d} mx1 ")
    assert any(line.startswith("Nov  9 00:") for line in lines)  # day rolls over, padded
    iso = format_postfix_log(run.events, start=start, timestamps="iso").splitlines()
    assert len(iso) == len(lines)
    pattern = re.compile(r"^2025-11-(08T23|09T\d\d):\d\d:\d\d\.\d{6}\+00:00 (neo|mx|mx1|mx2) ")
    assert all(pattern.match(line) for line in iso)
    # the same text after the timestamp, and the same whole second
    assert [x.split(" ", 1)[1] for x in iso] == [x[16:] for x in lines]
    with pytest.raises(ValueError, match="timestamps"):
        format_postfix_log(run.events, timestamps="journal")  # type: ignore[arg-type]


def test_hosts_can_be_named_and_pids_are_stable(run: Run) -> None:
    lines = [x.text for x in postfix_lines(run.events, hosts={"neo.firma1.intr": "mail"})]
    hosts = Counter(PREFIX.match(line).group("host") for line in lines)  # type: ignore[union-attr]
    assert "mail" in hosts and "neo" not in hosts
    pids: dict[tuple[str, str], set[str]] = {}
    for line in lines:
        found = PREFIX.match(line)
        assert found
        pids.setdefault((found["host"], found["daemon"]), set()).add(found["pid"])
    assert all(len(p) == 1 for (_h, d), p in pids.items() if d != "smtpd")
    assert len(pids[("mail", "smtpd")]) > 1  # concurrent sessions: more than one smtpd process
    open_sessions: dict[tuple[str, str], str] = {}
    for line in lines:  # an smtpd process serves one connection at a time
        found = PREFIX.match(line)
        assert found
        key = (found["host"], found["pid"])
        text = line[found.end() :]
        if text.startswith("connect from "):
            assert key not in open_sessions, line
            open_sessions[key] = text[13:]
        elif text.startswith("disconnect from "):
            assert open_sessions.pop(key) == text[16:].split(" ")[0]


def test_export_is_reproducible(run: Run, tmp_path: Path) -> None:
    first = write_postfix_log(run.events, tmp_path / "a" / "maillog.gz")
    second = run.to_postfix_log(tmp_path / "b" / "maillog.gz")
    assert first[0].read_bytes() == second[0].read_bytes()
    again = outage_run(tmp_path)  # a new simulation with the same seed
    assert format_postfix_log(again.events) == gzip.decompress(first[0].read_bytes()).decode()


def test_per_node_files_split_the_combined_log(run: Run, tmp_path: Path) -> None:
    files = run.to_postfix_log(tmp_path / "nodes", per_node=True)
    assert [f.name for f in files] == [
        "mx.firma2.intr.log",
        "mx1.firma3.intr.log",
        "mx2.firma3.intr.log",
        "neo.firma1.intr.log",
    ]
    combined = format_postfix_log(run.events).splitlines()
    for file, host in zip(files, ("mx", "mx1", "mx2", "neo"), strict=True):
        mine = [line for line in combined if PREFIX.match(line)["host"] == host]  # type: ignore[index]
        assert file.read_text(encoding="utf-8").splitlines() == mine
    only = format_postfix_log(run.events, nodes=["mx1.firma3.intr"]).splitlines()
    assert only == files[1].read_text(encoding="utf-8").splitlines()
