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
