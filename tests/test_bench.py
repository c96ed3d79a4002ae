"""Benchmark scripts run, print a table, and end with one JSON object of their figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interop import require_tool

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*argv: str) -> tuple[list[str], dict[str, Any]]:
    """Run a benchmark script; return its output lines and the JSON object on the last one."""
    result = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.strip().splitlines()
    return lines, json.loads(lines[-1])


def test_sim_speed_prints_table_and_json_last_line() -> None:
    lines, figures = run_bench(
        "bench/sim_speed.py", "--messages", "2000", "--big", "5000", "--repeat", "1"
    )
    for key in (
        "mmc_stage_visits_per_s",
        "simpy_customers_per_s",
        "ciw_customers_per_s",
        "stage_visit_vs_simpy",
        "stage_visit_vs_ciw",
        "big_run_peak_rss_mib",
    ):
        assert figures[key] > 0, key
    assert figures["big_run_messages"] == 5000
    assert any("stage visit / SimPy customer" in line for line in lines[:-1])


def test_outage_day_prints_table_and_json_last_line() -> None:
    lines, figures = run_bench("bench/outage_day.py", "--messages", "3000", "--hours", "14")
    assert figures["messages"] > 2500 and figures["events"] > figures["messages"]
    # the outage (10:00-13:00) falls inside the 14 hours: mail to big.example was deferred,
    # and all of it was delivered in the end
    assert figures["deferred_attempts_at_relay"] > 0
    assert figures["delivered"] == figures["messages"]
    assert any(line.startswith("wall time") for line in lines[:-1])


@pytest.mark.interop
def test_smtp_ingest_measures_both_servers_and_ours_stores_every_message() -> None:
    require_tool("smtp-source")
    lines, figures = run_bench("bench/smtp_ingest.py", "--messages", "200", "--repeat", "1")
    for key in (
        "aiosmtpd_messages_per_s",
        "ours_messages_per_s",
        "ratio_ours_vs_aiosmtpd",
        "aiosmtpd_cpu_ms_per_message",
        "ours_cpu_ms_per_message",
    ):
        assert figures[key] > 0, key
    # every message smtp-source sent is a file in jura's Maildir new/ (and the reference saw
    # every DATA)
    assert figures["ours_stored"] == [200] and figures["ours_stored_all"] is True
    assert figures["aiosmtpd_received"] == [200]
    assert any(line.startswith("ours / aiosmtpd") for line in lines[:-1])


@pytest.mark.interop
def test_pop3_retr_measures_ours_against_dovecot_over_the_same_maildirs() -> None:
    require_tool("dovecot")
    lines, figures = run_bench("bench/pop3_retr.py", "--messages", "200", "--repeat", "1")
    for key in (
        "dovecot_messages_per_s",
        "ours_messages_per_s",
        "ratio_ours_vs_dovecot",
        "dovecot_mb_per_s",
        "ours_mb_per_s",
    ):
        assert figures[key] > 0, key
    # both servers handed out every message, byte for byte the same
    assert figures["dovecot_retrieved"] == [200] and figures["ours_retrieved"] == [200]
    assert figures["all_retrieved"] is True and figures["same_bytes"] is True
    # and the same UIDLs (Dovecot's %08Xu%08Xv is lower-case hex): a client moving between the
    # two servers fetches nothing twice
    assert figures["same_uidls"] is True
    assert 3000 < figures["mean_message_bytes"] < 5000
    assert any(line.startswith("ours / Dovecot") for line in lines[:-1])


def test_workload_gen_prints_table_and_json_last_line() -> None:
    lines, figures = run_bench("bench/workload_gen.py", "--records", "20000", "--users", "300")
    assert figures["records"] == figures["plain_records"] == 20000
    assert (figures["organisation_users"], figures["organisation_streams"]) == (300, 3)
    for key in (
        "organisation_records_per_s",
        "plain_records_per_s",
        "organisation_vs_plain",
        "organisation_s",
        "plain_s",
        "load_and_compile_s",
    ):
        assert figures[key] > 0, key
    assert any(line.startswith("organisation / plain") for line in lines[:-1])


def test_parse_log_prints_table_and_json_last_line() -> None:
    lines, figures = run_bench("bench/parse_log.py", "--lines", "30000", "--repeat", "1")
    for key in (
        "reference_s",
        "parse_s",
        "ratio",
        "lines_per_s",
        "reference_lines_per_s",
        "rss_mib_quarter",
        "rss_mib_end",
        "peak_rss_mib",
        "file_mib",
    ):
        assert figures[key] > 0, key
    assert figures["lines"] == 30000 and figures["target_ratio"] == 4.0
    # the tiled sample: 2,444 lines hold 306 queue files, every line is read
    assert figures["messages"] >= 30000 // 2444 * 306
    assert figures["malformed"] == 0 and figures["unrelated"] == 0
    assert figures["peak_live"] < 100  # memory holds the queue, not the log
    assert any(line.startswith("parser / reference") for line in lines[:-1])
