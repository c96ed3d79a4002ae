"""The event log keeps every row exactly, in order, across compaction, and formats ids."""

from __future__ import annotations

import pandas as pd

from mailsim.eventlog import COLUMNS, EVENTS, Event, EventLog, format_msg, format_qid


def test_rows_round_trip_exactly_across_compaction() -> None:
    log = EventLog()
    rows = []
    for i in range(70_000):  # more than one compaction batch
        rows.append(
            (
                i * 0.5,
                f"n{i % 3}",
                "smtpd",
                "connect",
                i + 1,
                i % 7,
                "a@x",
                "",
                i,
                "",
                "",
                f"d{i % 11}",
            )
        )
        log.emit(*rows[-1])
    assert len(log) == 70_000
    out = list(log.rows())
    assert out[0] == Event(0.0, "n0", "smtpd", "connect", "m1", "", "a@x", "", 0, "", "", "d0")
    assert out[-1].t == rows[-1][0] and out[-1].msg == "m70000"
    assert out[-1].queue_id == format_qid(69_999 % 7) and out[-1].detail == f"d{69_999 % 11}"


def test_append_and_emit_are_equivalent() -> None:
    a, b = EventLog(), EventLog()
    a.emit(1.0, "n", "qmgr", "active", 3, 255, sender="s@x", size=10, detail="nrcpt=1")
    b.append((1.0, "n", "qmgr", "active", 3, 255, "s@x", "", 10, "", "", "nrcpt=1"))
    assert list(a.rows()) == list(b.rows())


def test_to_frame_has_the_schema_columns_and_values() -> None:
    log = EventLog()
    log.emit(0.25, "neo.firma1.intr", "smtpd", "received", 1, 0xAE0F916003C, "a@b", size=900)
    log.emit(
        1.5,
        "neo.firma1.intr",
        "local",
        "delivered",
        1,
        0xAE0F916003C,
        "a@b",
        "c@d",
        900,
        "2.0.0",
        "local",
        "delivered to mailbox",
    )
    frame = log.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["t"].tolist() == [0.25, 1.5]
    assert frame["queue_id"].astype(str).tolist() == ["AE0F916003C", "AE0F916003C"]
    assert frame["msg"].astype(str).tolist() == ["m1", "m1"]
    assert frame["recipient"].astype(str).tolist() == ["", "c@d"]
    assert frame["size"].dtype == "int64"
    assert isinstance(frame["event"].dtype, pd.CategoricalDtype)


def test_empty_log_gives_an_empty_frame_with_the_schema() -> None:
    frame = EventLog().to_frame()
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 0


def test_id_formats() -> None:
    assert format_msg(0) == "" and format_msg(42) == "m42"
    assert format_qid(0) == "" and format_qid(0x970EB3B4086) == "970EB3B4086"
    assert format_qid(1) == "0000000001"


def test_vocabulary_is_documented() -> None:
    for name in (
        "submit",
        "connect",
        "reject",
        "received",
        "queued",
        "active",
        "deferred",
        "sent",
        "delivered",
        "bounced",
        "expired",
        "removed",
        "fetched",
        "dns_query",
    ):
        assert EVENTS[name]


def test_delays_print_as_postfix_format_tv_does() -> None:
    """Both engines write ``delays=a/b/c/d`` as Postfix 3.x does (util/format_tv.c: two
    significant digits, at most two decimals, rounded half up, whole seconds from 10 s), so an
    exported log reads back to the same text."""
    from mailsim.eventlog import format_delays

    assert format_delays(0.062, 0.004, 0.005, 1.25) == "0.06/0/0.01/1.3"
    assert format_delays(9.96, 42.5, 0, 123.4) == "10/43/0/123"
