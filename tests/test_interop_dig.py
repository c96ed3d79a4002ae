"""Interop: Debian's dig gets the same answers from the lab DNS as our resolver and mailsim dig."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailsim.live.addressing import LabZone, lab_plan
from mailsim.live.dns import LabDNSServer, dig, resolve_mx
from mailsim.scenario import load_scenario
from mailsim.scenario.model import MXRecord

from interop import require_tool

FIRMA1 = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "firma1.yaml"
HOST = "127.0.0.1"
SECTIONS = ("QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL")


@pytest.fixture(scope="module")
def server() -> Iterator[LabDNSServer]:
    plan = lab_plan(load_scenario(FIRMA1), port_offset=0)
    big = LabZone(
        "big.test",
        60,
        ("ns.big.test",),
        tuple(MXRecord(i, f"mail-exchanger-{i:02}.big.test") for i in range(40)),
    )
    with LabDNSServer([*plan.zones.values(), big], HOST, 0) as running:
        yield running


def run_dig(server: LabDNSServer, *args: str) -> str:
    """Run Debian's dig against the lab server (three tries of two seconds at most)."""
    command = [require_tool("dig"), f"@{HOST}", "-p", str(server.port), *args, "+time=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def sections(text: str) -> dict[str, list[str]]:
    """dig's sections: title -> the lines under ``;; TITLE SECTION:`` up to the blank line."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        title = line.removeprefix(";; ").removesuffix(" SECTION:")
        if title in SECTIONS:
            current = found[title] = []
        elif not line:
            current = None
        elif current is not None:
            current.append(line)
    return found


def header(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(";; ->>HEADER<<-"))


@pytest.mark.interop
def test_dig_mx_matches_mailsim_dig_line_for_line(server: LabDNSServer) -> None:
    """dig @127.0.0.1 -p PORT firma1.intr MX, as the lecture's dig -t mx firma1.intr."""
    theirs = run_dig(server, "firma1.intr", "MX")
    ours = dig("firma1.intr", "MX", HOST, server.port)
    assert "status: NOERROR" in header(theirs)
    assert ";; flags: qr aa rd;" in theirs
    assert sections(theirs) == sections(ours)
    assert sections(theirs)["ANSWER"] == ["firma1.intr.\t\t38400\tIN\tMX\t10 neo.firma1.intr."]


@pytest.mark.interop
def test_dig_and_resolve_mx_agree_on_preferences_and_addresses(server: LabDNSServer) -> None:
    answer = run_dig(server, "firma3.intr", "MX", "+short")
    assert answer.splitlines() == ["10 mx1.firma3.intr.", "20 mx2.firma3.intr."]
    for preference, exchange, addresses in resolve_mx("firma3.intr", HOST, server.port):
        assert f"{preference} {exchange}." in answer
        assert run_dig(server, exchange, "A", "+short").split() == list(addresses)


@pytest.mark.interop
@pytest.mark.parametrize(
    ("name", "rdtype", "status"),
    [
        ("nic.firma1.intr", "A", "NXDOMAIN"),
        ("neo.firma1.intr", "MX", "NOERROR"),
        ("firma2.intr", "SOA", "NOERROR"),
        ("firma2.intr", "NS", "NOERROR"),
        ("example.com", "A", "REFUSED"),
    ],
)
def test_dig_sees_the_same_status_and_records(
    server: LabDNSServer, name: str, rdtype: str, status: str
) -> None:
    theirs = run_dig(server, name, rdtype)
    ours = dig(name, rdtype, HOST, server.port)
    assert f"status: {status}," in header(theirs)
    assert sections(theirs) == sections(ours)


@pytest.mark.interop
def test_dig_over_tcp(server: LabDNSServer) -> None:
    theirs = run_dig(server, "firma1.intr", "MX", "+tcp")
    assert "(TCP)" in theirs
    assert sections(theirs) == sections(dig("firma1.intr", "MX", HOST, server.port, tcp=True))


@pytest.mark.interop
def test_dig_retries_a_truncated_answer_over_tcp(server: LabDNSServer) -> None:
    """Without EDNS a 40-MX answer does not fit 512 octets: TC, then dig asks again over TCP."""
    theirs = run_dig(server, "big.test", "MX", "+noedns")
    ours = dig("big.test", "MX", HOST, server.port)
    assert theirs.startswith(";; Truncated, retrying in TCP mode.\n")
    assert ours.startswith(";; Truncated, retrying in TCP mode.\n")
    assert len(sections(theirs)["ANSWER"]) == 40
    assert sections(theirs) == sections(ours)  # names past column 24: one space, as BIND does


@pytest.mark.interop
def test_dig_any_counts_records_not_rrsets(server: LabDNSServer) -> None:
    theirs = run_dig(server, "firma3.intr", "ANY", "+noedns")
    ours = dig("firma3.intr", "ANY", HOST, server.port)
    flags = ";; flags: qr aa rd; QUERY: 1, ANSWER: 4, AUTHORITY: 0, ADDITIONAL: 3"
    assert flags in theirs.splitlines()
    assert flags in ours.splitlines()
    assert sections(theirs) == sections(ours)


def test_require_tool_returns_the_path_of_an_installed_tool() -> None:
    assert Path(require_tool("sh")).name == "sh"


def test_require_tool_skips_when_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="dig is not installed"):
        require_tool("dig")


def test_require_tool_fails_when_missing_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=re.escape("CI=true: .ci/run must install it")):
        require_tool("dig")
