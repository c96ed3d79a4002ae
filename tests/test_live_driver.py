"""Workload arrivals driven into the live lab by real SMTP clients (aiosmtplib): the lab's event
log then names every message by the workload's own number, as the simulation does."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mailsim.live.background import BackgroundLab
from mailsim.live.driver import compose
from mailsim.scenario import load_scenario
from mailsim.streams import RandomStreams
from mailsim.workload import Arrival, scenario_arrivals

ROOT = Path(__file__).resolve().parents[1]


def test_compose_gives_the_arrivals_size_headers_and_trace() -> None:
    arrival = Arrival(
        t=0.0, msg=42, sender="nekdo@firma1.intr", recipients=("jura@firma1.intr",), size=5000,
        headers=(("Subject", "[SPAM] levne hodinky"), ("List-Id", "<novinky.firma2.intr>")),
    )  # fmt: skip
    message = compose(arrival, "firma1.intr")
    assert len(message) == 5000
    head, _, body = message.partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
    assert fields[b"X-Mailsim-Id"] == b"m42"
    assert fields[b"Subject"] == b"[SPAM] levne hodinky"  # the arrival's, not a made-up one
    assert fields[b"Message-ID"] == b"<mailsim.m42@firma1.intr>"
    assert all(len(line) <= 998 for line in message.split(b"\r\n"))
    assert body.endswith(b"\r\n")
    tiny = compose(arrival._replace(size=10, headers=()))
    assert tiny.startswith(b"X-Mailsim-Id: m42\r\n") and tiny.endswith(b"\r\n\r\n")


def test_a_scenarios_workload_runs_in_the_live_lab(tmp_path: Path) -> None:
    """firma1's first ten minutes at 600x: every arrival is one client transaction; the local
    mail is accepted, delivered and logged under the workload's message numbers; mail the lab
    cannot relay yet (to and from the partners) is refused at RCPT with a 4xx, not lost."""
    scenario = load_scenario(ROOT / "data" / "scenarios" / "firma1.yaml")
    arrivals = list(
        itertools.takewhile(
            lambda a: a.t < 600, scenario_arrivals(scenario, RandomStreams(scenario.seed))
        )
    )
    assert len(arrivals) > 10
    with BackgroundLab(scenario, tmp_path) as lab:
        stats = lab.drive(arrivals, time_scale=600.0)
        run = lab.run()
    assert stats.submitted == len(arrivals) and stats.failed == 0
    assert stats.accepted > 0 and set(stats.refused) <= {450, 451, 454, 550, 554}
    events = run.events
    submits = events[events["event"] == "submit"]
    assert sorted(submits["msg"].astype(str)) == sorted(f"m{a.msg}" for a in arrivals)
    received = events[events["event"] == "received"]
    assert len(received) == stats.accepted
    numbers = {f"m{a.msg}" for a in arrivals}
    # every row of the servers names a workload message, refusals before DATA included
    assert set(events["msg"].astype(str)) == numbers
    assert (events["event"] == "reject").sum() >= sum(stats.refused.values())
    # the simulation's story for a local message: submit, then smtpd, cleanup, qmgr, local
    local = [
        a for a in arrivals if all(x.endswith("@firma1.intr") for x in (a.sender, *a.recipients))
    ]
    first = f"m{local[0].msg}"
    story = events[events["msg"] == first]["event"].astype(str).tolist()
    assert story[0] == "submit" and {"received", "queued", "active", "delivered"} <= set(story)
    table = run.recipients()
    assert (table.loc[table["msg"].astype(str) == first, "status"] == "delivered").all()


def test_bad_time_scale_is_refused(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "data" / "scenarios" / "firma1.yaml")
    with BackgroundLab(scenario, tmp_path) as lab, pytest.raises(ValueError, match="time_scale"):
        lab.drive([], time_scale=0)
