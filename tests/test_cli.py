"""The mailsim command line: simulate writes a report; bad input exits 2 with a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailsim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def short_firma1(tmp_path: Path) -> Path:
    """firma1 with a 20-minute working day (the YAML is copied and its duration edited)."""
    text = (ROOT / "data" / "scenarios" / "firma1.yaml").read_text(encoding="utf-8")
    text = text.replace("duration: 8h ", "duration: 20m").replace("drain: 2h ", "drain: 10m")
    path = tmp_path / "firma1-short.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_simulate_prints_summary_and_writes_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert (
        main(["simulate", str(short_firma1(tmp_path)), "--out", str(out), "--quiet", "--events"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "messages_submitted" in printed and "report written to" in printed
    for name in (
        "report.html",
        "throughput.png",
        "queue_depth.png",
        "latency.png",
        "delivery_paths.png",
        "events.csv.gz",
    ):
        assert (out / name).stat().st_size > 0, name


def test_validate_reports_every_problem_with_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = short_firma1(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "mydestination: $myhostname, $mydomain, localhost",
        "mydestinaton: $myhostname, $mydomain, localhost",
        1,
    )
    text = text.replace(
        "mynetworks: 195.113.106.0/24, 127.0.0.0/8", "mynetworks: 195.113.106.0/33, 127.0.0.0/8", 1
    )
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    # the misspelt mydestination also leaves firma1's users outside the (default) destinations
    assert "problems in scenario" in error
    assert "hosts[neo.firma1.intr].postfix.mydestinaton" in error
    assert "did you mean 'mydestination'" in error
    assert "hosts[neo.firma1.intr].postfix.mynetworks" in error
    assert str(path) in error


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/scenario.yaml"]) == 2
    assert "no/such/scenario.yaml" in capsys.readouterr().err


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / "data" / "scenarios" / "firma1.yaml", tmp_path / "f.yaml")
    assert main(["validate", str(tmp_path / "f.yaml")]) == 0
    assert "ok - 4 hosts" in capsys.readouterr().out


def test_qshape_of_a_scenario_at_an_instant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """firma1-outage: mx.firma2.intr is down from hour 1 to hour 4, so just before it comes back
    neo's deferred queue holds firma2.intr mail, printed in qshape's layout."""
    text = (ROOT / "data" / "scenarios" / "firma1-outage.yaml").read_text(encoding="utf-8")
    path = tmp_path / "outage.yaml"
    path.write_text(text, encoding="utf-8")
    assert (
        main(
            [
                "qshape",
                str(path),
                "deferred",
                "--node",
                "neo.firma1.intr",
                "--at",
                "3h59m",
                "--quiet",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "T",
        "5",
        "10",
        "20",
        "40",
        "80",
        "160",
        "320",
        "640",
        "1280",
        "1280+",
    ]
    assert lines[1].split()[0] == "TOTAL" and lines[2].split()[0] == "firma2.intr"
    assert int(lines[1].split()[1]) == int(lines[2].split()[1]) > 100


def test_bad_duration_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(ROOT / "data" / "scenarios" / "firma1.yaml")
    assert main(["qshape", scenario, "--at", "soon", "--quiet"]) == 2
    assert "not a duration: 'soon'" in capsys.readouterr().err
