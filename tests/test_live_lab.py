"""The live lab end to end: firma1's services on their loopback addresses, real clients.

nekdo's mail client submits on neo's submission port (STARTTLS with the lab CA, then AUTH, as
the master.cf submission service requires), the message lands in jura's mbox, and POP3 (after
STLS) retrieves it; POP3S accepts only clients that trust the lab CA.
"""

from __future__ import annotations

import asyncio
import poplib
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailsim.analysis import Run
from mailsim.live.addressing import lab_plan
from mailsim.live.lab import Lab, ephemeral_ports
from mailsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
NEO = "neo.firma1.intr"


def run_lab(tmp_path: Path, clients) -> object:  # type: ignore[no-untyped-def]
    """Start firma1's lab, run the blocking ``clients(lab)`` in a thread, stop the lab."""
    scenario = load_scenario(ROOT / "data" / "scenarios" / "firma1.yaml")

    async def main() -> object:
        async with Lab(scenario, tmp_path, plan=ephemeral_ports(lab_plan(scenario))) as lab:
            return await asyncio.wait_for(asyncio.to_thread(clients, lab), timeout=60)

    return asyncio.run(main())


def test_submit_then_fetch_over_pop3_with_stls(tmp_path: Path) -> None:
    def clients(lab: Lab) -> tuple[str, bytes]:
        neo = lab.address(NEO)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = (
            "nekdo@firma1.intr",
            "jura@firma1.intr",
            "jak se vam dari?",
        )
        message.set_content("jak se vam dari ?\n")
        with smtplib.SMTP(neo, lab.ports[NEO]["submission"], timeout=30) as smtp:
            banner = smtp.ehlo()[1].decode()
            smtp.starttls(context=lab.client_context())
            smtp.login("nekdo@firma1.intr", "heslo")
            smtp.send_message(message)
        pop = poplib.POP3(neo, lab.ports[NEO]["pop3"], timeout=30)
        try:
            pop.stls(context=lab.client_context())
            pop.user("jura")
            pop.pass_("heslo")
            count, _size = pop.stat()
            lines = pop.retr(count)[1]
        finally:
            pop.quit()
        return banner, b"\r\n".join(lines)

    banner, fetched = run_lab(tmp_path, clients)
    assert banner.startswith(NEO)
    assert b"Subject: jak se vam dari?" in fetched and b"jak se vam dari ?" in fetched
    assert (tmp_path / "tls" / "ca.pem").exists()


def test_the_lab_writes_the_event_log_as_it_goes(tmp_path: Path) -> None:
    """Both engines write one log (DESIGN.md section 3): the lab keeps ``events.csv`` in its
    directory, readable while it runs, and ``Lab.run()`` answers like a simulated run."""

    def clients(lab: Lab) -> tuple[object, object]:
        neo = lab.address(NEO)
        with smtplib.SMTP(neo, lab.ports[NEO]["smtp"], timeout=30) as smtp:
            smtp.sendmail("nekdo@firma1.intr", ["jura@firma1.intr"], b"Subject: ahoj\r\n\r\nx\r\n")
        return Run.read_csv(tmp_path / "events.csv"), lab.run()

    on_disk, live = run_lab(tmp_path, clients)
    assert isinstance(on_disk, Run) and isinstance(live, Run)
    events = on_disk.events
    assert events["event"].astype(str).tolist()[:3] == ["connect", "received", "queued"]
    assert set(events["node"].astype(str)) == {NEO}
    assert set(events["msg"].astype(str)) == {"m1"}
    delivered = live.recipients()
    assert delivered["recipient"].astype(str).tolist() == ["jura@firma1.intr"]
    assert delivered["status"].astype(str).tolist() == ["delivered"]
    assert live.meta["engine"] == "live" and live.name == "firma1"


def test_lan_mail_for_another_domain_waits_for_relaying(tmp_path: Path) -> None:
    """firma1's mynetworks (the lecture's) includes 127.0.0.0/8, so a lab client may relay;
    until the live MTA relays (the next issue) the remote recipient is deferred at RCPT,
    never accepted and lost. (Relay refusal from outside mynetworks: test_smtp_policy_live.)"""

    def clients(lab: Lab) -> tuple[int, bytes]:
        neo = lab.address(NEO)
        with smtplib.SMTP(neo, lab.ports[NEO]["smtp"], timeout=30) as smtp:
            smtp.ehlo("spammer.example")
            smtp.mail("promo@cheap-offers.example")
            return smtp.rcpt("a.novak@firma9.example")

    code, text = run_lab(tmp_path, clients)
    assert code == 450 and text.startswith(b"4.3.2")


def test_table_lists_every_service_with_its_real_port(tmp_path: Path) -> None:
    def clients(lab: Lab) -> str:
        return lab.table()

    table = run_lab(tmp_path, clients)
    assert NEO in table and "openssl s_client" in table and "dig @" in table


def test_a_tls_client_trusting_the_lab_ca_connects_to_pop3s(tmp_path: Path) -> None:
    def clients(lab: Lab) -> bytes:
        neo = lab.address(NEO)
        context = lab.client_context()
        context.check_hostname = True
        pop = poplib.POP3_SSL(neo, lab.ports[NEO]["pop3s"], context=context, timeout=30)
        try:
            return pop.getwelcome()
        finally:
            pop.quit()

    assert run_lab(tmp_path, clients).startswith(b"+OK")


def test_untrusted_clients_are_refused_tls(tmp_path: Path) -> None:
    def clients(lab: Lab) -> None:
        neo = lab.address(NEO)
        with pytest.raises(ssl.SSLError):
            poplib.POP3_SSL(
                neo, lab.ports[NEO]["pop3s"], context=ssl.create_default_context(), timeout=30
            )

    run_lab(tmp_path, clients)


def test_mailsim_lab_up_serves_until_stopped(tmp_path: Path) -> None:
    """The CLI prints the table, serves (a real SMTP banner), and stops cleanly on SIGTERM."""
    import re
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "mailsim.cli", "lab", "up",
         str(ROOT / "data" / "scenarios" / "firma1.yaml"), "--dir", str(tmp_path), "--ephemeral"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("lab is up"):
                break
        table = "".join(lines)
        match = re.search(r"telnet (127\.0\.1\.\d+) (\d+)", table)
        assert match, table
        with smtplib.SMTP(match.group(1), int(match.group(2)), timeout=30) as smtp:
            code, _ = smtp.noop()
        assert code == 250
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "lab stopped" in out
