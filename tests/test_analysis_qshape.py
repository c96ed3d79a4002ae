"""qshape(1) tables from hand-built logs, the delays=a/b/c/d columns, and the report's qshape.

The story at neo, looked at at T = 90000 s (25 h):

- m1 from alice, arrived at 0 for bob and dave @firma2.intr and x@f3.example, all deferred at
  2; retried at 50000 and deferred again: 1500 minutes old (bucket ``1280+``), not 666;
- m4 from alice, arrived at 60000 for y@f3.example, deferred: 500 minutes (``640``);
- m2 from the null sender, arrived at 89700 for carol@F3.Example., deferred: exactly 5 minutes
  (``10``: a bucket holds ages below its limit);
- m3 from alice, arrived at 89900 for z@firma2.intr (deferred) and w@firma1.intr (delivered
  at once): 100 s (``5``);
- m5 from alice, arrived at 89990 for v@firma1.intr, active at T and delivered at 90010;
- m6 from alice, queued at 89995 and still in incoming at T; the log never names its recipient.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mailsim.analysis import Run, write_report
from mailsim.analysis.example import NEO, RELAY_MX, Story, example_eventlog
from mailsim.analysis.qshape import bucket_labels, format_qshape
from mailsim.analysis.report import deferred_peaks

T = 90000.0
LABELS = ["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"]
REFUSED = "connect to mx.firma2.intr[195.113.107.10]:25: Connection refused"


def arrive(story: Story, t: float, msg: int, qid: int) -> None:
    story.accept((t, t + 0.5, t + 0.6, t + 1.0), NEO, msg, qid)


def defer(story: Story, t: float, msg: int, qid: int, *rcpts: str) -> None:
    for rcpt in rcpts:
        story.outcome(t, NEO, "deferred", msg, qid, rcpt, "4.4.1", RELAY_MX, REFUSED)
    story.queue(t, NEO, "deferred", msg, qid)


def story_run() -> Run:
    story = Story()
    arrive(story, 0.0, 1, 1)
    defer(story, 2.0, 1, 1, "bob@firma2.intr", "dave@firma2.intr", "x@f3.example")
    story.queue(50000.0, NEO, "active", 1, 1)
    defer(story, 50001.0, 1, 1, "bob@firma2.intr", "dave@firma2.intr", "x@f3.example")
    arrive(story, 60000.0, 4, 4)
    defer(story, 60002.0, 4, 4, "y@f3.example")
    story.sender = ""
    arrive(story, 89700.0, 2, 2)
    defer(story, 89702.0, 2, 2, "carol@F3.Example.")
    story.sender = "alice@firma1.intr"
    arrive(story, 89900.0, 3, 3)
    story.outcome(89901.5, NEO, "delivered", 3, 3, "w@firma1.intr")
    defer(story, 89902.0, 3, 3, "z@firma2.intr")
    arrive(story, 89990.0, 5, 5)
    story.outcome(90010.0, NEO, "delivered", 5, 5, "v@firma1.intr")
    story.queue(90010.0, NEO, "removed", 5, 5)
    story.connect(89994.0, NEO, 6)
    story.received(89994.5, NEO, 6, 6)
    story.queue(89995.0, NEO, "queued", 6, 6)
    story.log.emit(95000.0, NEO, "qmgr", "removed", 6, 6, "alice@firma1.intr")
    return Run.from_eventlog(story.log)


@pytest.fixture(scope="module")
def run() -> Run:
    return story_run()


def table(frame: pd.DataFrame) -> dict[str, list[int]]:
    return {
        str(name): [int(v) for v in row]
        for name, row in zip(frame.index, frame.to_numpy(), strict=True)
    }


def test_labels_are_qshapes_geometric_and_linear_buckets() -> None:
    assert bucket_labels() == LABELS
    assert bucket_labels(4, 10.0, linear=True) == ["T", "10", "20", "30", "30+"]
    assert bucket_labels(1) == ["T", "0+"]
    with pytest.raises(ValueError, match="buckets >= 1"):
        bucket_labels(0)


def test_deferred_queue_by_recipient_domain(run: Run) -> None:
    frame = run.qshape(NEO, ("deferred",), at=T)
    assert list(frame.columns) == LABELS
    assert frame.index.name == "domain"
    # f3.example ties with firma2.intr and is shorter, so it comes first (qshape's sort)
    assert table(frame) == {
        "TOTAL": [6, 1, 1, 0, 0, 0, 0, 0, 1, 0, 3],
        "f3.example": [3, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1],
        "firma2.intr": [3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    }
    assert frame.attrs == {"node": NEO, "queues": ("deferred",), "at": T, "by": "recipient"}
    assert run.qshape(NEO, "deferred", at=T).equals(frame)


def test_sender_distribution_counts_messages(run: Run) -> None:
    """qshape -s: one count per message; the null sender is MAILER-DAEMON."""
    frame = run.qshape(NEO, ("deferred",), at=T, by="sender")
    assert table(frame) == {
        "TOTAL": [4, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1],
        "firma1.intr": [3, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1],
        "MAILER-DAEMON": [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    }


def test_default_queues_are_incoming_and_active(run: Run) -> None:
    """m5 is active with one recipient to go; m6 in incoming names none, so only -s sees it."""
    assert table(run.qshape(NEO, at=T)) == {
        "TOTAL": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "firma1.intr": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    }
    assert table(run.qshape(NEO, at=T, by="sender"))["firma1.intr"][:2] == [2, 2]
    everything = run.qshape(NEO, ("incoming", "active", "deferred"), at=T)
    assert everything.loc["TOTAL", "T"] == 7


def test_queue_membership_follows_the_transitions(run: Run) -> None:
    # at the instant of a transition the file is in its new queue; a delivered recipient is gone
    assert table(run.qshape(NEO, ("deferred",), at=2.0)) == {
        "TOTAL": [3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "firma2.intr": [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "f3.example": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    }
    assert table(run.qshape(NEO, ("deferred",), at=1.9)) == {"TOTAL": [0] * 11}
    # during the retry m1 is active, 833 minutes old: between 640 and 1280
    active = run.qshape(NEO, ("active",), at=50000.5)
    assert table(active)["TOTAL"] == [3, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0]
    # without ``at``: the end of the log, when only the deferred mail is left
    assert run.qshape(NEO, ("deferred",)).attrs["at"] == 95000.0
    assert run.qshape(NEO).loc["TOTAL", "T"] == 0


def test_linear_and_custom_buckets(run: Run) -> None:
    frame = run.qshape(NEO, ("deferred",), at=T, buckets=3, bucket_time=10.0, linear=True)
    assert list(frame.columns) == ["T", "10", "20", "20+"]
    assert table(frame)["TOTAL"] == [6, 2, 0, 4]


def test_bad_arguments_say_what_is_allowed(run: Run) -> None:
    with pytest.raises(ValueError, match=r"unknown queue \['maildrop'\]"):
        run.qshape(NEO, ("maildrop",))
    with pytest.raises(ValueError, match="by must be 'recipient' or 'sender'"):
        run.qshape(NEO, by="domain")
    with pytest.raises(ValueError, match="unknown node 'nowhere'"):
        run.qshape("nowhere")


def test_printed_as_qshape_prints_it(run: Run) -> None:
    text = run.format_qshape(NEO, ("deferred",), at=T)
    pad = " " * 39  # 80 columns less the eleven count columns (3 x 6, 4 x 3, 5, 6)
    assert text.splitlines() == [
        pad + "  T  5 10 20 40 80 160 320 640 1280 1280+",
        pad[5:] + "TOTAL  6  1  1  0  0  0   0   0   1    0     3",
        pad[10:] + "f3.example  3  0  1  0  0  0   0   0   1    0     1",
        pad[11:] + "firma2.intr  3  1  0  0  0  0   0   0   0    0     2",
    ]
    assert all(len(line) == 80 for line in text.splitlines())
    assert text.endswith("\n")


def test_printing_widens_columns_and_cuts_long_domains() -> None:
    """qshape.pl: a column is as wide as its heading or TOTAL count plus one (at least 3); the
    domain column gets the rest (at least 18); a longer name keeps its end after '+'."""
    frame = pd.DataFrame(
        [[12345, 12345], [12000, 12000], [345, 345]],
        index=pd.Index(
            ["TOTAL", "mail.a-very-long-subdomain.example", ".a-long-parent.example.org"]
        ),
        columns=pd.Index(["T", "5+"]),
    )
    assert format_qshape(frame, width=32).splitlines() == [
        " " * 20 + "     T    5+",
        " " * 15 + "TOTAL 12345 12345",
        "+g-subdomain.example 12000 12000",
        ".+parent.example.org   345   345",
    ]
    # too narrow a terminal: the domain column keeps its 18 characters
    assert format_qshape(frame, width=20).splitlines()[2] == "+subdomain.example 12000 12000"


def test_delays_split_of_each_recipients_outcome() -> None:
    story = Story()
    story.submit(0.0, 1, 100)
    story.accept((0.0, 0.5, 0.6, 1.0), NEO, 1, 1)
    story.outcome(
        2.0,
        NEO,
        "delivered",
        1,
        1,
        "a@firma1.intr",
        detail="delivered to mailbox delays=1/0.02/0/0.98",
    )
    story.outcome(
        3.0,
        NEO,
        "sent",
        1,
        1,
        "b@elsewhere.example",
        relay="mx.elsewhere[1.2.3.4]:25",
        detail="250 2.0.0 Ok (orig_to=<c@firma1.intr>) delays=1/0.5/1.2e+02/15",
    )
    story.outcome(
        4.0,
        NEO,
        "deferred",
        1,
        1,
        "d@elsewhere.example",
        "4.4.1",
        RELAY_MX,
        detail=f"{REFUSED} delays=1/0/3/0",
    )
    story.reject(5.0, NEO, 1, "e@firma1.intr")
    run = Run.from_eventlog(story.log)
    frame = run.recipients().set_index(run.recipients()["recipient"].astype(str))
    columns = ["delay_a", "delay_b", "delay_c", "delay_d"]
    assert list(frame.columns[-4:]) == columns
    np.testing.assert_allclose(
        frame.loc[["a@firma1.intr", "b@elsewhere.example", "d@elsewhere.example"], columns],
        [[1, 0.02, 0, 0.98], [1, 0.5, 120, 15], [1, 0, 3, 0]],
    )
    assert frame.loc["e@firma1.intr", columns].isna().all()
    # the detail keeps its delays
    assert run.events["detail"].astype(str).str.endswith("delays=1/0/3/0").sum() == 1
    assert math.isnan(Run.from_eventlog(example_eventlog()).recipients()["delay_a"][0])


def test_report_shows_each_deferred_queue_at_its_peak(tmp_path: Path) -> None:
    """The example's neo holds two deferred messages from 41 s (m2 and m5) until 312 s."""
    example = Run.from_eventlog(example_eventlog(), name="example")
    assert deferred_peaks(example) == [(NEO, 41.0, 2)]
    page = write_report(example, tmp_path / "report").read_text(encoding="utf-8")
    assert f"<h3>{NEO}: qshape deferred at t = 41 s (2 messages)</h3>" in page
    expected = format_qshape(example.qshape(NEO, ("deferred",), at=41.0))
    assert f"<pre>{expected}</pre>" in page
    assert "firma2.intr  2  2" in expected


def test_report_says_when_nothing_was_deferred(tmp_path: Path) -> None:
    story = Story()
    story.accept((0.0, 0.5, 0.6, 1.0), NEO, 1, 1)
    story.outcome(2.0, NEO, "delivered", 1, 1, "a@firma1.intr")
    story.queue(2.0, NEO, "removed", 1, 1)
    page = write_report(Run.from_eventlog(story.log), tmp_path / "r").read_text(encoding="utf-8")
    assert "<p>No message was ever deferred.</p>" in page
