"""Round trip: simulate -> export as Postfix's mail log -> parse -> the same per-message facts.

A day of firma1 with mx.firma2 down and firma3 greylisting (data/scenarios/firma1-outage.yaml,
shortened) has multi-hop messages, deferrals, expiries are not reached, bounce notifications,
alias expansions and relay refusals. Its recipient table (arrival, size, recipients, status,
dsn, relay, hops, Postfix's delays a/b/c/d, when each was done) must come back from the
exported log exactly, message for message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.postfixlog import DEFAULT_START, read_log
from mailsim.scenario import load_scenario
from mailsim.sim import simulate

ROOT = Path(__file__).resolve().parents[1]
FACTS = ["sender", "size", "node", "status", "dsn", "relay", "hops"]
DELAYS = ["delay_a", "delay_b", "delay_c", "delay_d"]


@pytest.fixture(scope="module")
def run() -> Run:
    scenario = load_scenario(ROOT / "data" / "scenarios" / "firma1-outage.yaml")
    return simulate(scenario.replace(duration=2400), until=5400)


def parsed_run(run: Run, tmp_path: Path, timestamps: str) -> Run:
    (path,) = run.to_postfix_log(tmp_path / f"maillog-{timestamps}", timestamps=timestamps)
    nodes = {node.split(".")[0]: node for node in run.nodes}
    log = read_log(path, nodes=nodes)
    assert log.start is not None
    # a parsed log's t = 0 is its first line; the export's t = 0 is DEFAULT_START
    offset = (log.start - DEFAULT_START).total_seconds()
    return Run(log.events.assign(t=log.events["t"] + offset), name="parsed")


def queue_files(run: Run) -> dict[tuple[str, str], str]:
    """(node, queue id) -> msg, from cleanup's rows (every queue file has one)."""
    queued = run.events[run.events["event"] == "queued"]
    return {
        (str(row.node), str(row.queue_id)): str(row.msg)
        for row in queued[["node", "queue_id", "msg"]].itertuples()
    }


def matched(run: Run, parsed: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two recipient tables of the messages that entered a queue, the parsed one's msg
    renamed to the simulation's through their common queue files, in the same order."""
    ours, theirs = queue_files(run), queue_files(parsed)
    assert ours.keys() == theirs.keys()  # every queue file came back, and no other
    rename = {theirs[key]: ours[key] for key in theirs}
    assert len(set(rename.values())) == len(set(rename))  # one parsed message per message
    original = run.recipients()
    original = original[original["msg"].astype(str).isin(set(rename.values()))]
    back = parsed.recipients()
    back = back[back["msg"].astype(str).isin(set(rename))]
    back = back.assign(msg=back["msg"].astype(str).map(rename))
    key = ["msg", "recipient"]
    original = original.assign(msg=original["msg"].astype(str)).sort_values(key)
    back = back.sort_values(key)
    return original.reset_index(drop=True), back.reset_index(drop=True)


def arrival_at_first_mta(run: Run) -> pd.Series:
    """When each message reached its first MTA: smtpd's connect, or cleanup's queue file for
    a message an MTA wrote itself (a bounce notification)."""
    rows = run.events[run.events["event"].isin(["connect", "queued"])]
    return rows.groupby(rows["msg"].astype(str), observed=True)["t"].min()


def test_every_recipient_comes_back_with_the_same_facts(run: Run, tmp_path: Path) -> None:
    original, back = matched(run, parsed_run(run, tmp_path, "iso"))
    assert len(original) > 500 and set(original["status"]) >= {"delivered", "bounced"}
    assert original["hops"].max() >= 2  # messages that crossed MTAs are one message again
    assert back["recipient"].tolist() == original["recipient"].tolist()
    for column in FACTS:
        assert back[column].astype(str).tolist() == original[column].astype(str).tolist(), column
    for column in DELAYS:  # Postfix's delays=a/b/c/d, as logged: exactly the same numbers
        assert back[column].tolist() == pytest.approx(original[column].tolist(), nan_ok=True)
    # ISO timestamps keep microseconds: when each recipient was done, and when each message
    # arrived at its first MTA (the log knows no mail client)
    assert back["t_done"].tolist() == pytest.approx(original["t_done"].tolist(), abs=1e-5)
    arrived = arrival_at_first_mta(run)
    assert back["t_submit"].tolist() == pytest.approx(
        original["msg"].map(arrived).tolist(), abs=1e-5
    )


def test_refusals_come_back_with_their_recipients_and_codes(run: Run, tmp_path: Path) -> None:
    parsed = parsed_run(run, tmp_path, "iso")

    def refusals(of: Run) -> list[tuple[str, str, str, float]]:
        rows = of.events[of.events["event"] == "reject"]
        return sorted(
            (str(r.node), str(r.recipient), str(r.dsn), float(r.t))
            for r in rows[["node", "recipient", "dsn", "t"]].itertuples()
        )

    ours, theirs = refusals(run), refusals(parsed)
    assert len(ours) > 5
    assert [row[:3] for row in theirs] == [row[:3] for row in ours]
    assert [row[3] for row in theirs] == pytest.approx([row[3] for row in ours], abs=1e-5)


def test_whole_second_syslog_timestamps_keep_the_facts(run: Run, tmp_path: Path) -> None:
    """Classic syslog lines have whole seconds: times come back to the second, the rest
    exactly."""
    original, back = matched(run, parsed_run(run, tmp_path, "syslog"))
    for column in [*FACTS, *DELAYS]:
        assert back[column].astype(str).tolist() == original[column].astype(str).tolist(), column
    assert (back["t_done"] - original["t_done"]).abs().max() < 1.0 + 1e-9


def test_join_hops_follows_a_chain_of_mtas_and_survives_a_loop() -> None:
    """Three MTAs hand one message on (``queued as`` names the next file): one number for all;
    two files that name each other (a mail loop) end the walk instead of hanging it."""
    from mailsim.postfixlog.hops import join_hops

    def sent(node: str, qid: str, msg: str, relay: str, next_qid: str) -> dict[str, object]:
        reply = f"250 2.0.0 Ok: queued as {next_qid}"
        relayed = f"{relay}[192.0.2.1]:25"
        return {"node": node, "queue_id": qid, "msg": msg, "event": "sent", "relay": relayed,
                "detail": reply}  # fmt: skip

    rows = [
        sent("a", "A1", "m1", "b.example", "B1"),
        sent("b", "B1", "m2", "c.example", "C1"),
        {
            "node": "c",
            "queue_id": "C1",
            "msg": "m3",
            "event": "delivered",
            "relay": "local",
            "detail": "delivered to mailbox",
        },
        sent("a", "A2", "m4", "b.example", "B2"),
        sent("b", "B2", "m5", "a.example", "A2"),  # back to a: a loop
    ]
    (joined,) = join_hops(pd.DataFrame(rows))
    assert joined["msg"].tolist() == ["m1", "m1", "m1", "m4", "m4"]
