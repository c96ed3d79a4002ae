"""The lab on a thread of its own with the one-call clients a notebook uses (real sockets)."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from mailsim.live.background import BackgroundLab
from mailsim.live.clients import fetch_pop3, refusal_of, send_mail
from mailsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
NEO = "neo.firma1.intr"


@pytest.fixture
def lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    scenario = load_scenario(ROOT / "data" / "scenarios" / "firma1.yaml")
    with BackgroundLab(scenario, tmp_path) as running:
        yield running


def test_submit_then_fetch_and_delete(lab: BackgroundLab) -> None:
    reply = send_mail(lab, "nekdo@firma1.intr", ["jura@firma1.intr"], "ahoj", "jak se vam dari ?")
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    fetched = fetch_pop3(lab, "jura@firma1.intr", delete=True)
    assert [m["Subject"] for m in fetched] == ["ahoj"]
    assert fetched[0]["X-Mailsim-Id"] == "m1"
    assert fetched[0].get_content().strip() == "jak se vam dari ?"
    assert fetch_pop3(lab, "jura@firma1.intr") == []  # DELE was committed at QUIT
    run = lab.run()
    delivered = run.recipients()
    assert delivered["recipient"].astype(str).tolist() == ["jura@firma1.intr"]
    assert run.meta["engine"] == "live"
    fetched = run.events[run.events["event"] == "fetched"]
    assert fetched["msg"].astype(str).tolist() == ["m1"]
    assert fetched["recipient"].astype(str).tolist() == ["jura@firma1.intr"]
    assert fetched["daemon"].astype(str).tolist() == ["pop3d"]
    # the recipient table knows when the reader fetched it (the last hop of the journey)
    assert delivered["t_fetched"].iloc[0] >= delivered["t_done"].iloc[0]


def test_wrong_password_and_unknown_recipient_are_the_servers_refusals(lab: BackgroundLab) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
        send_mail(lab, "nekdo@firma1.intr", ["jura@firma1.intr"], "x", "y", password="spatne")
    assert failed.value.smtp_code == 535
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_mail(lab, "nekdo@firma1.intr", ["nikdo@firma1.intr"], "x", "y")
    ((code, text),) = refused.value.recipients.values()
    assert code == 550 and text.startswith(b"5.1.1")
    shown = refusal_of(lambda: send_mail(lab, "nekdo@firma1.intr", ["nikdo@firma1.intr"], "", ""))
    assert shown.startswith("550 5.1.1 <nikdo@firma1.intr>: Recipient address rejected")
    bad_login = refusal_of(
        lambda: send_mail(lab, "nekdo@firma1.intr", ["jura@firma1.intr"], "", "", password="x")
    )
    assert bad_login.startswith("535 5.7.8")
    with pytest.raises(AssertionError, match="accepted"):
        refusal_of(lambda: send_mail(lab, "nekdo@firma1.intr", ["jura@firma1.intr"], "", ""))
    rejects = lab.run().events
    assert "reject" in set(rejects["event"].astype(str))


def test_names_outside_the_scenario_are_key_errors(lab: BackgroundLab) -> None:
    with pytest.raises(KeyError, match="not a user"):
        fetch_pop3(lab, "nobody@nowhere.example")
    with pytest.raises(KeyError, match="not a host"):
        lab.address("mx.nowhere.example")
    assert lab.address(NEO).startswith("127.0.1.")
    assert "running" in repr(lab)


def test_stop_is_idempotent_and_a_lab_never_started_stops_quietly(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "data" / "scenarios" / "firma1.yaml")
    idle = BackgroundLab(scenario, tmp_path / "idle")
    idle.stop()
    with BackgroundLab(scenario, tmp_path / "used") as used:
        assert used.ports[NEO]["smtp"] > 0
    used.stop()
    assert "stopped" in repr(used)
