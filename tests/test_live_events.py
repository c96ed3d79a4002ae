"""The live servers write the simulation's event log (DESIGN.md section 3), as it happens.

The SMTP rows come from real sessions over sockets (raw client and smtplib); what matters is
that a live run reads like a simulated one: the same events in the same order for a message,
one ``msg`` for all its rows (carried by the ``X-Mailsim-Id`` header), the ``delays=`` suffix
and Postfix's reject texts, and a CSV file that ``Run.read_csv`` reads while the lab runs.
"""

from __future__ import annotations

import smtplib
from pathlib import Path

import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.eventlog import COLUMNS
from mailsim.live.events import TRACE_HEADER, LiveEventLog, trace_id

from smtp_fakes import OUTSIDE, Client, MemoryStore, ServerThread, message


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(events: LiveEventLog) -> pd.DataFrame:
    frame = events.to_frame()
    for column in ("node", "daemon", "event", "msg", "recipient", "dsn", "relay", "detail"):
        frame[column] = frame[column].astype(str)
    return frame


# -- the log itself -------------------------------------------------------------------------------
def test_time_is_scaled_wall_time_since_the_log_opened() -> None:
    clock = FakeClock(100.0)
    events = LiveEventLog(time_scale=60.0, clock=clock)
    clock.now = 102.5
    events.emit("neo.firma1.intr", "smtpd", "connect", msg=events.new_msg())
    assert events.to_frame()["t"].tolist() == [150.0]
    assert events.now() == 150.0


def test_unknown_event_and_bad_time_scale_are_refused() -> None:
    events = LiveEventLog()
    with pytest.raises(ValueError, match="vocabulary"):
        events.emit("neo.firma1.intr", "smtpd", "accepted")
    with pytest.raises(ValueError, match="time_scale"):
        LiveEventLog(time_scale=0)


def test_message_ids_never_repeat_one_that_was_seen() -> None:
    events = LiveEventLog()
    assert events.new_msg() == 1
    events.seen_msg(41)
    assert events.new_msg() == 42
    events.seen_msg(7)
    assert events.new_msg() == 43


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"Subject: x\r\nX-Mailsim-Id: m42\r\n\r\nbody\r\n", 42),
        (b"x-mailsim-id:\tm7\nSubject: x\n\nbody\n", 7),
        (b"X-Mailsim-Id: m3\r\nX-Mailsim-Id: m4\r\n\r\n", 3),
        (b"Subject: x\r\n\r\nX-Mailsim-Id: m42\r\n", 0),  # in the body: not a header
        (b"X-Mailsim-Id: 42\r\n\r\n", 0),
        (b"X-Mailsim-Id: m42 extra\r\n\r\n", 0),
        (b"", 0),
    ],
)
def test_trace_id_reads_the_header_section_only(message: bytes, expected: int) -> None:
    assert trace_id(message) == expected


def test_csv_file_is_readable_while_the_log_is_open(tmp_path: Path) -> None:
    events = LiveEventLog(tmp_path / "lab" / "events.csv")
    events.emit("neo.firma1.intr", "smtpd", "connect", msg=1, relay="unknown[127.0.0.1]")
    events.emit(
        "neo.firma1.intr", "smtpd", "received", msg=1, queue_id="00C0FFEE42", sender="a@b.c",
        size=123, relay="unknown[127.0.0.1]", detail="nrcpt=1",
    )  # fmt: skip
    on_disk = Run.read_csv(events.path).events  # type: ignore[arg-type]
    in_memory = events.run().events
    assert list(on_disk.columns) == list(COLUMNS)
    for column in COLUMNS:
        assert on_disk[column].astype(str).tolist() == in_memory[column].astype(str).tolist()
    assert on_disk["queue_id"].astype(str).tolist() == ["", "00C0FFEE42"]
    assert on_disk["msg"].astype(str).tolist() == ["m1", "m1"]
    events.close()
    assert len(events.run()) == 2  # closing keeps the rows


# -- a live smtpd's rows --------------------------------------------------------------------------
def test_accepted_message_has_the_simulations_rows_under_one_id() -> None:
    store, events = MemoryStore(), LiveEventLog()
    with ServerThread(store, events=events) as server, Client(server.port()) as c:
        c.reply()
        for command in ("EHLO pc.firma1.intr", "MAIL FROM:<nekdo@firma1.intr>"):
            c.command(command)
        assert c.command("RCPT TO:<nikdo@firma1.intr>").startswith("550 5.1.1")
        assert c.command("RCPT TO:<jura@firma1.intr>").startswith("250")
        c.command("DATA")
        assert c.command(message("ahoj").decode() + ".").startswith("250 2.0.0 Ok: queued as ")
        c.command("QUIT")
    frame = rows(events)
    assert frame["event"].tolist() == [
        "connect", "reject", "received", "queued", "active", "delivered", "removed",
    ]  # fmt: skip
    assert set(frame["msg"]) == {"m1"}
    assert frame["daemon"].tolist() == [
        "smtpd", "smtpd", "smtpd", "cleanup", "qmgr", "local", "qmgr",
    ]  # fmt: skip
    reject = frame.iloc[1]
    assert (reject["recipient"], reject["dsn"], reject["relay"]) == (
        "nikdo@firma1.intr",
        "5.1.1",
        "unknown[127.0.0.1]",
    )
    assert reject["detail"].startswith(
        "RCPT from unknown[127.0.0.1]: 550 5.1.1 <nikdo@firma1.intr>"
    )
    delivered = frame.iloc[5]
    assert delivered["recipient"] == "jura@firma1.intr" and delivered["dsn"] == "2.0.0"
    assert delivered["detail"].startswith("delivered to mailbox delays=0/0/0/")
    queue_ids = set(frame["queue_id"].astype(str)) - {""}
    assert len(queue_ids) == 1
    stored = store.mailbox("jura").bodies()[0]
    assert trace_id(stored) == 1  # the header names the message for the next hop and POP3
    assert frame["size"].iloc[2] == len(stored)
    assert frame["t"].is_monotonic_increasing


def test_a_message_that_names_itself_keeps_its_id() -> None:
    store, events = MemoryStore(), LiveEventLog()
    events.seen_msg(3)
    content = f"{TRACE_HEADER}: m77\r\n".encode() + message("from an upstream lab MTA")
    with (
        ServerThread(store, events=events) as server,
        smtplib.SMTP("127.0.0.1", server.port(), timeout=10) as smtp,
    ):
        smtp.sendmail("nekdo@firma1.intr", ["jura@firma1.intr"], content)
        smtp.sendmail("nekdo@firma1.intr", ["jura@firma1.intr"], message("fresh"))
    frame = rows(events)
    assert set(frame["msg"]) == {"m77", "m78"}
    bodies = store.mailbox("jura").bodies()
    assert [body.count(b"X-Mailsim-Id") for body in bodies] == [1, 1]
    assert sorted(trace_id(body) for body in bodies) == [77, 78]
    # the second message of the session was "connected" when its MAIL came, after the first
    first, second = (frame[frame["msg"] == m] for m in ("m77", "m78"))
    assert second["t"].min() >= first["t"].max()


def test_relay_attempt_is_logged_as_a_reject_when_the_session_ends() -> None:
    store, events = MemoryStore(), LiveEventLog()
    postfix = {"mynetworks": "127.0.0.1/32"}
    with (
        ServerThread(store, events=events, postfix=postfix) as server,
        Client(server.port(), source=OUTSIDE) as c,
    ):
        c.reply()
        c.command("EHLO spammer.example")
        c.command("MAIL FROM:<promo@cheap-offers.example>")
        c.command("RCPT TO:<a.novak@firma9.example>")
        c.command("RCPT TO:<b.svoboda@firma9.example>")
        assert c.command("DATA").startswith("554 5.5.1")
        assert len(events) == 0  # the transaction is still open
    frame = rows(events)
    assert frame["event"].tolist() == ["connect", "reject", "reject"]
    assert set(frame["msg"]) == {"m1"} and set(frame["dsn"][1:]) == {"5.7.1"}
    assert set(frame["relay"]) == {f"unknown[{OUTSIDE}]"}
    assert frame["detail"].iloc[1].endswith("<a.novak@firma9.example>: Relay access denied")
    assert store.total() == 0


def test_rejected_mail_from_and_oversized_data_are_message_level_rejects() -> None:
    store, events = MemoryStore(), LiveEventLog()
    with (
        ServerThread(store, events=events, postfix={"message_size_limit": "2000"}) as server,
        Client(server.port()) as c,
    ):
        c.reply()
        c.command("EHLO pc.firma1.intr")
        assert c.command("MAIL FROM:<nekdo@firma1.intr> SIZE=5000").startswith("552")
        c.command("MAIL FROM:<nekdo@firma1.intr>")
        c.command("RCPT TO:<jura@firma1.intr>")
        c.command("DATA")
        assert c.command(message("big", size=3000).decode() + ".").startswith("552")
        c.command("QUIT")
    frame = rows(events)
    assert frame["event"].tolist() == ["connect", "reject", "connect", "reject"]
    assert frame["msg"].tolist() == ["m1", "m1", "m2", "m2"]
    assert (frame["recipient"] == "").all() and set(frame["dsn"][1::2]) == {"5.3.4"}
    assert store.total() == 0


def test_reset_transaction_without_rejects_leaves_no_rows() -> None:
    events = LiveEventLog()
    with ServerThread(MemoryStore(), events=events) as server, Client(server.port()) as c:
        c.reply()
        for command in ("HELO pc", "MAIL FROM:<nekdo@firma1.intr>", "RSET", "NOOP", "QUIT"):
            c.command(command)
    assert len(events) == 0


def test_live_run_answers_the_notebooks_questions() -> None:
    events = LiveEventLog()
    with (
        ServerThread(MemoryStore(), events=events) as server,
        smtplib.SMTP("127.0.0.1", server.port(), timeout=10) as smtp,
    ):
        for n in range(3):
            smtp.sendmail(
                "nekdo@firma1.intr", ["jura@firma1.intr", "petra@firma1.intr"],
                message(f"zprava {n}"),
            )  # fmt: skip
    run = events.run()
    recipients = run.recipients()
    assert len(recipients) == 6
    assert (recipients["status"].astype(str) == "delivered").all()
    assert (recipients["latency"] >= 0).all()
    summary = run.summary().set_index(["scope", "metric"])["value"]
    assert summary[("run", "delivered")] == 6
    assert summary[("run", "messages_received")] == 3
    assert run.meta["engine"] == "live"


def test_rset_and_quit_write_the_transactions_rows_before_their_reply() -> None:
    """A client that saw 250 to RSET (or 221 to QUIT) finds the rejects already logged."""
    events = LiveEventLog()
    with ServerThread(MemoryStore(), events=events) as server, Client(server.port()) as c:
        c.reply()
        for command in ("HELO pc", "MAIL FROM:<nekdo@firma1.intr>", "RCPT TO:<nikdo@firma1.intr>"):
            c.command(command)
        assert len(events) == 0
        assert c.command("RSET") == "250 2.0.0 Ok"
        assert rows(events)["event"].tolist() == ["connect", "reject"]
        c.command("MAIL FROM:<nekdo@firma1.intr>")
        c.command("RCPT TO:<nikdo@firma1.intr>")
        assert c.command("QUIT").startswith("221")
        frame = rows(events)
        assert frame["event"].tolist() == ["connect", "reject", "connect", "reject"]
        assert frame["msg"].tolist() == ["m1", "m1", "m2", "m2"]
