"""mailsim report and simulate --maillog; the report page's mail-log section; mailgraph charts."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from mailsim.analysis import Run, plot_mail_problems, plot_mail_traffic, write_report
from mailsim.analysis.example import example_eventlog
from mailsim.analysis.logreport import traffic
from mailsim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def short_firma1(tmp_path: Path) -> Path:
    """firma1 with a 20-minute working day (the YAML is copied and its duration edited)."""
    text = (ROOT / "data" / "scenarios" / "firma1.yaml").read_text(encoding="utf-8")
    text = text.replace("duration: 8h ", "duration: 20m").replace("drain: 2h ", "drain: 10m")
    path = tmp_path / "firma1-short.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def grand_totals(printed: str) -> str:
    return printed.split("Grand Totals\n", 1)[1].split("Per-Hour Traffic Summary", 1)[0]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(scenario, output directory of simulate --out --events --maillog DIR/)."""
    tmp = tmp_path_factory.mktemp("cli")
    scenario = short_firma1(tmp)
    out = tmp / "out"
    logs = tmp / "logs"
    argv = ["simulate", str(scenario), "--quiet", "--out", str(out), "--events"]
    assert main([*argv, "--maillog", f"{logs}/", "--start", "2025-11-28T08:00:00"]) == 0
    return scenario, out


def test_report_of_a_scenario_prints_and_writes_the_page(
    simulated: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, _out = simulated
    capsys.readouterr()
    out = tmp_path / "report"
    assert main(["report", str(scenario), "--quiet", "--out", str(out), "--top", "3"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^ +\d+   received$", printed, re.M)
    assert "Per-Hour Traffic Summary" in printed and "top 3 Senders by message count" in printed
    assert f"report written to {out / 'report.html'}" in printed
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Mail log summary (pflogsumm style)</h2>" in page
    assert re.findall(r'<img src="(mailgraph_[a-z]+\.png)"', page) == [
        "mailgraph_traffic.png",
        "mailgraph_problems.png",
    ]
    for name in ("mailgraph_traffic.png", "mailgraph_problems.png", "pflogsumm.txt"):
        assert (out / name).stat().st_size > 1000, name
    # the file has every row (--top 0), the same totals as the terminal
    assert grand_totals((out / "pflogsumm.txt").read_text(encoding="utf-8")) == grand_totals(
        printed
    )


def test_report_of_the_event_log_is_the_report_of_the_scenario(
    simulated: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, out = simulated
    capsys.readouterr()
    # simulate --start put the start into the event log's meta file: give the same here
    assert main(["report", str(scenario), "--quiet", "--start", "2025-11-28T08:00:00"]) == 0
    from_scenario = capsys.readouterr().out
    assert main(["report", str(out / "events.csv.gz")]) == 0
    from_events = capsys.readouterr().out
    assert grand_totals(from_events) == grand_totals(from_scenario)
    assert from_events.split("\n", 1)[1] == from_scenario.split("\n", 1)[1]  # all but the name


def test_simulate_writes_the_mail_log(
    simulated: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _scenario, out = simulated
    logs = out.parent / "logs"
    names = sorted(path.name for path in logs.iterdir())
    # the backup MX mx2.firma3.intr had nothing to do: no file
    assert names == ["mx.firma2.intr.log", "mx1.firma3.intr.log", "neo.firma1.intr.log"]
    neo = (logs / "neo.firma1.intr.log").read_text(encoding="utf-8").splitlines()
    assert neo[0].startswith("Nov 28 08:00:") and " neo postfix/smtpd[" in neo[0]
    run = Run.read_csv(out / "events.csv.gz")
    assert sum(": client=" in line for line in neo) == int(
        ((run.events["event"] == "received") & (run.events["node"] == "neo.firma1.intr")).sum()
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Mail log summary" in page and (out / "mailgraph_traffic.png").exists()
    single = out.parent / "one" / "maillog.gz"
    assert main(["simulate", str(_scenario), "--quiet", "--maillog", str(single)]) == 0
    assert f"mail log written to {single}" in capsys.readouterr().out
    lines = gzip.decompress(single.read_bytes()).decode().splitlines()
    assert len(lines) > len(neo) and lines[0].startswith("Jan  5 00:00:")


def test_report_of_a_mail_log_and_of_nothing(
    simulated: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _scenario, out = simulated
    capsys.readouterr()
    neo = out.parent / "logs" / "neo.firma1.intr.log"
    assert main(["report", str(neo)]) == 0  # read back by the Postfix log parser
    printed = capsys.readouterr().out
    assert main(["report", str(out / "events.csv.gz"), "--node", "neo.firma1.intr"]) == 0
    assert grand_totals(printed) == grand_totals(capsys.readouterr().out)
    assert main(["report", str(tmp_path / "nothing.log")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def example() -> Run:
    return Run.from_eventlog(example_eventlog(), name="example")


def test_mailgraph_charts_count_what_the_report_counts(example: Run) -> None:
    figure = Figure()
    ax = figure.add_subplot()
    assert plot_mail_traffic(example, ax=ax, interval=60.0) is ax
    assert ax.get_ylabel() == "messages per minute" and "mailgraph" in ax.get_title()
    assert ax.get_xaxis().get_major_formatter()(1.5, 0) == "01:30"  # clock time of day
    (received,) = ax.get_lines()
    # step heights in messages per minute, one bin per minute, the last repeated
    per_minute = np.asarray(received.get_ydata())[:-1]
    assert per_minute.sum() == example.pflogsumm().total("received") == 6
    table = traffic(example, 60.0)
    assert list(table.columns) == ["received", "delivered", "deferred", "bounced", "rejected"]
    # first minute: m1, m2, m4, m5 at neo and m1 at mx received; bob twice and carol
    # delivered; dave and gina deferred; frank bounced; nobody rejected
    assert table.loc[0.0].tolist() == [5, 3, 2, 1, 1]
    assert table.loc[300.0].tolist() == [1, 2, 0, 0, 0]  # m2's retry: mx, then dave twice
    assert table.iloc[1:5].to_numpy().sum() == 0
    ax = plot_mail_problems(example, interval=60.0)
    assert isinstance(ax.get_figure(), Figure)
    (deferred,) = ax.get_lines()
    assert np.asarray(deferred.get_ydata())[:-1].sum() == 2
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "rejected",
        "bounced",
        "deferred (lines)",
    ]


def test_the_default_page_is_unchanged_and_the_mail_log_section_is_added(
    example: Run, tmp_path: Path
) -> None:
    plain = write_report(example, tmp_path / "plain")
    assert not (plain.parent / "pflogsumm.txt").exists()
    assert "Mail log summary" not in plain.read_text(encoding="utf-8")
    full = write_report(example, tmp_path / "full", mail_log=True)
    page = full.read_text(encoding="utf-8")
    for heading in (
        "Grand Totals (pflogsumm&#x27;s definitions)",
        "Delivery latency (s)",
        "Per-hour traffic",
        "Host/Domain Summary: Message Delivery",
        "Reject reasons",
        "Defer reasons",
    ):
        assert f"<h3>{heading}</h3>" in page, heading
    assert "<td>bytes received</td>" in page and "<td>7200</td>" in page
    text = (full.parent / "pflogsumm.txt").read_text(encoding="utf-8")
    assert text == example.pflogsumm().to_text(top=0)
