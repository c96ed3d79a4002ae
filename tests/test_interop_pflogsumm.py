"""Debian's pflogsumm summarises an exported mail log with the totals of our own report.

A day of firma1 with an outage (firma2's MX down from hour 1), greylisting at firma3, relay
attempts, unknown users, short queue lifetimes (delay notices, expiries, bounces) and an alias
with a remote member (``forwarded as``) is exported as Postfix's log; pflogsumm 1.1.5 reads it
and its Grand Totals, per-hour table, per-domain table and deferral/bounce/reject details must
be ours, number for number.

pflogsumm prints counts above 512k as ``k``/``m`` units. To compare bytes exactly the tests
also run a copy of the script whose two display thresholds ($divByOneKAt, $divByOneMegAt) are
raised; nothing else of it is changed. The unmodified script's Grand Totals must read, line for
line, as ours.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mailsim.analysis import LogReport, Run, summarise
from mailsim.analysis.logtext import format_logreport
from mailsim.cli import main
from mailsim.scenario import load_scenario
from mailsim.sim import simulate

from interop import require_tool

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "postfix-logs" / "maillog-postfix-3.7-sample.log"


def outage_text() -> str:
    """firma1-outage with short queue lifetimes and a remote member in the alias info@."""
    text = (ROOT / "data" / "scenarios" / "firma1-outage.yaml").read_text(encoding="utf-8")
    text = text.replace("info: [jura, nekdo]\n", "info: [jura, nekdo, pavel@firma2.intr]\n", 1)
    return text.replace(
        "      myhostname: neo.firma1.intr\n",
        "      myhostname: neo.firma1.intr\n      maximal_queue_lifetime: 40m\n"
        "      bounce_queue_lifetime: 40m\n      delay_warning_time: 15m\n",
        1,
    )


@pytest.fixture(scope="module")
def pflogsumm(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(the installed pflogsumm, a copy that prints every count without k/m units)."""
    path = require_tool("pflogsumm")
    source = Path(path).read_text(encoding="utf-8")
    exact, changed = re.subn(
        r"^(\$divByOne(?:K|Meg)At\s*=\s*)\d+;", r"\g<1>1e18;", source, flags=re.M
    )
    assert changed == 2, "pflogsumm's display thresholds moved; update this test"
    copy = tmp_path_factory.mktemp("pflogsumm") / "pflogsumm-exact"
    copy.write_text(exact, encoding="utf-8")
    return path, str(copy)


def run_tool(command: list[str], *files: Path) -> str:
    if command[0].endswith("-exact"):
        command = ["perl", *command]
    done = subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    path = tmp_path_factory.mktemp("scenario") / "outage.yaml"
    path.write_text(outage_text(), encoding="utf-8")
    return simulate(load_scenario(path), until=2.5 * 3600, progress=False)


@pytest.fixture(scope="module")
def maillog(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run.to_postfix_log(tmp_path_factory.mktemp("log") / "maillog")[0]


def sections(text: str) -> dict[str, list[str]]:
    """pflogsumm's sections by title (the line above a line of dashes)."""
    out: dict[str, list[str]] = {}
    lines = text.splitlines()
    title = ""
    for index, line in enumerate(lines):
        if index + 1 < len(lines) and re.fullmatch(r"-+", lines[index + 1]) and line.strip():
            title = re.sub(r" \(top \d+\)$", "", line.strip())
            out[title] = []
        elif title and not re.fullmatch(r"-+", line):
            out[title].append(line)
    return out


def grand_totals(text: str) -> dict[str, int]:
    """The Grand Totals of a report printed without k/m units."""
    totals = {"deferrals": 0}  # printed only when there are some
    pattern = r"^ +(\d+)([ km])  ([a-z /]+?)(?:  \((\d+) +deferrals\)| \(\d+%\))?$"
    for line in sections(text)["Grand Totals"]:
        found = re.match(pattern, line)
        if found:
            assert found.group(2) == " ", line
            totals[found.group(3)] = int(found.group(1))
            if found.group(4):
                totals["deferrals"] = int(found.group(4))
    return totals


def ours(report: LogReport) -> dict[str, int]:
    return dict(zip(report.totals["metric"], map(int, report.totals["value"]), strict=True))


def test_pflogsumm_counts_what_we_count(
    run: Run, maillog: Path, pflogsumm: tuple[str, str]
) -> None:
    theirs = grand_totals(run_tool([pflogsumm[1]], maillog))
    mine = ours(run.pflogsumm())
    assert theirs == mine
    # the day has every kind of trouble pflogsumm counts
    assert min(mine[k] for k in ("forwarded", "deferred", "bounced", "rejected")) > 0
    assert mine["bytes received"] > 10_000_000  # beyond pflogsumm's 512k display threshold


def test_the_installed_pflogsumm_prints_our_grand_totals(
    run: Run, maillog: Path, pflogsumm: tuple[str, str]
) -> None:
    theirs = sections(run_tool([pflogsumm[0]], maillog))["Grand Totals"]
    mine = sections(format_logreport(run.pflogsumm()))["Grand Totals"]
    assert [line.rstrip() for line in mine if line] == [line.rstrip() for line in theirs if line]
    assert any(re.match(r"^ +\d+[km]  bytes received$", line) for line in theirs)  # units


def test_per_hour_and_per_domain_tables_agree(
    run: Run, maillog: Path, pflogsumm: tuple[str, str]
) -> None:
    text = run_tool([pflogsumm[1]], maillog)
    hours = sections(text)["Per-Hour Traffic Summary"]
    rows = [line.split() for line in hours if re.match(r"^    \d{4}-\d{4} ", line)]
    report = run.pflogsumm()
    per_hour = report.per_hour
    assert len(rows) == 24
    for row in rows:  # "0100-0200 566 896 284 2 14": hour of day, then five counts
        hour = int(row[0][:2])
        mine = per_hour[per_hour["start"].map(lambda s: s.hour) == hour]
        counts = [int(v) for v in row[1:]]
        expected = mine.iloc[0, 2:].astype(int).tolist() if len(mine) else [0] * 5
        assert counts == expected, row[0]
    lines = sections(text)["Host/Domain Summary: Message Delivery"][2:]
    table = report.per_domain.set_index("domain")
    assert len([line for line in lines if line.strip()]) == len(table)
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    for line in filter(str.strip, lines):
        sent, size, defers, avg, avg_unit, top, top_unit, domain = line.split()
        assert (int(sent), int(size), int(defers)) == (
            table.loc[domain, "sent"],
            table.loc[domain, "bytes"],
            table.loc[domain, "defers"],
        )
        # pflogsumm averages the rounded delay= values; ours are exact: one display digit
        for shown, unit, exact in (
            (avg, avg_unit, table.loc[domain, "avg_delay"]),
            (top, top_unit, table.loc[domain, "max_delay"]),
        ):
            assert float(shown) * units[unit] == pytest.approx(exact, abs=0.06 * units[unit] + 0.6)


def details(lines: list[str]) -> dict[tuple[str, str], int]:
    """pflogsumm's nested detail as (group, reason) -> count. Deferrals and bounces have two
    levels (group, then ``count   reason``); rejects three (type, ``reason (total: N)``, then
    the addresses or clients, which are not compared)."""
    found: dict[tuple[str, str], int] = {}
    group = ""
    for line in lines:
        if match := re.match(r"^  (\S.*?)(?: \(total: \d+\))?$", line):
            group = match.group(1)
        elif match := re.match(r"^    (\S.*) \(total: (\d+)\)$", line):
            found[(group, match.group(1))] = int(match.group(2))
        elif match := re.match(r"^ {4}([ \d]{5}\d) {3}(.+)$", line):
            found[(group, match.group(2))] = int(match.group(1))
    return found


def test_deferral_bounce_and_reject_details_agree(
    run: Run, maillog: Path, pflogsumm: tuple[str, str]
) -> None:
    text = sections(run_tool([pflogsumm[1], "--detail", "-1"], maillog))
    report = run.pflogsumm()
    for title, frame, by in (
        ("message deferral detail", report.defer_reasons, "daemon"),
        ("message bounce detail (by relay)", report.bounce_reasons, "relay"),
        ("message reject detail", report.reject_reasons, "command"),
    ):
        rows = zip(frame[by], frame["reason"], frame["count"], strict=True)
        mine = {(group, reason): int(count) for group, reason, count in rows}
        assert details(text[title]) == mine, title
        assert mine


def test_each_node_log_agrees_with_that_node(
    run: Run, tmp_path: Path, pflogsumm: tuple[str, str]
) -> None:
    files = run.to_postfix_log(tmp_path / "nodes", per_node=True)
    assert len(files) == 4
    for file in files:
        node = file.name.removesuffix(".log")
        assert grand_totals(run_tool([pflogsumm[1]], file)) == ours(summarise(run, [node])), node


def test_mailsim_report_of_the_real_sample_has_pflogsumms_totals(
    pflogsumm: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The real Postfix 3.7 log, read by mailsim's parser: the issue's own acceptance check."""
    from mailsim.postfixlog.events import read_log

    log = read_log(SAMPLE)
    mine = ours(Run(log.events, meta={"start": log.start}).pflogsumm())
    assert mine == grand_totals(run_tool([pflogsumm[1]], SAMPLE))
    assert mine["received"] == 202  # 175 by smtpd + 27 picked up
    assert main(["report", str(SAMPLE), "--top", "0"]) == 0
    printed = sections(capsys.readouterr().out)["Grand Totals"]
    theirs = sections(run_tool([pflogsumm[0]], SAMPLE))["Grand Totals"]
    assert [x.rstrip() for x in printed if x] == [x.rstrip() for x in theirs if x]


def test_queue_ids_shared_by_two_hosts_are_where_pflogsumm_differs(
    tmp_path: Path, pflogsumm: tuple[str, str]
) -> None:
    """The example's two MTAs both number their queue files 0000000001, 0000000002: pflogsumm,
    keying by queue id alone, takes mx's files for neo's already sized ones and leaves their
    bytes out; each host's own log agrees with us exactly."""
    from mailsim.analysis.example import example_eventlog

    example = Run.from_eventlog(example_eventlog())
    combined = grand_totals(run_tool([pflogsumm[1]], *example.to_postfix_log(tmp_path / "log")))
    mine = ours(example.pflogsumm())
    assert {k: v for k, v in combined.items() if combined[k] != mine[k]} == {
        "bytes received": 4200  # ours: 7200, mx's 1000 + 2000 counted too
    }
    for file in example.to_postfix_log(tmp_path / "nodes", per_node=True):
        node = file.name.removesuffix(".log")
        assert grand_totals(run_tool([pflogsumm[1]], file)) == ours(summarise(example, [node]))
