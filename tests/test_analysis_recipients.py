"""Recipient outcomes and the per-stage latency split, on hand-made logs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.analysis.example import MX, NEO, RELAY_MX, Story, example_eventlog

STAGES = ["smtpd_wait", "smtpd", "cleanup", "incoming", "deferred", "delivery"]
NEO_CLIENT = "neo.firma1.intr[195.113.106.10]"
NAN = math.nan


def recipients(story: Story) -> pd.DataFrame:
    return Run.from_eventlog(story.log).recipients()


def rows(table: pd.DataFrame, columns: list[str]) -> list[tuple[object, ...]]:
    """Return the table's rows as plain tuples (categoricals as str) for exact comparison."""
    plain = table[columns].astype({c: str for c in columns if table[c].dtype == "category"})
    return list(plain.itertuples(index=False, name=None))


def assert_stages(table: pd.DataFrame, expected: list[list[float]]) -> None:
    np.testing.assert_allclose(table[STAGES].to_numpy(), np.array(expected), atol=1e-9)


def test_example_outcomes_are_exact() -> None:
    table = Run.from_eventlog(example_eventlog()).recipients()
    assert rows(table, ["msg", "recipient", "node", "status", "dsn", "hops"]) == [
        ("m1", "bob@firma2.intr", MX, "delivered", "2.0.0", 2),
        ("m2", "carol@firma1.intr", NEO, "delivered", "2.0.0", 1),
        ("m2", "dave@firma2.intr", MX, "delivered", "2.0.0", 2),
        ("m3", "nobody@firma1.intr", NEO, "rejected", "5.1.1", 1),
        ("m4", "frank@firma3.intr", NEO, "bounced", "5.4.4", 1),
        ("m5", "gina@firma2.intr", NEO, "pending", "4.4.1", 1),
    ]
    assert table["size"].tolist() == [1000, 2000, 2000, 300, 500, 700]
    np.testing.assert_allclose(table["t_submit"], [0, 10, 10, 20, 30, 40])
    np.testing.assert_allclose(table["t_done"], [3.5, 11.5, 315, 20.3, 31, NAN])
    np.testing.assert_allclose(table["latency"], [3.5, 1.5, 305, 0.3, 1.0, NAN], atol=1e-9)
    np.testing.assert_allclose(table["fetch_wait"], [56.5, NAN, NAN, NAN, NAN, NAN])


def test_example_latency_split_per_stage() -> None:
    table = Run.from_eventlog(example_eventlog()).recipients()
    assert_stages(
        table,
        [
            [0.5, 0.9, 0.4, 0.7, 0.0, 1.0],  # bob: two hops, no retry
            [0.0, 0.5, 0.1, 0.4, 0.0, 0.5],  # carol: local at neo
            [0.0, 1.0, 0.8, 0.7, 300.0, 2.5],  # dave: 300 s in neo's deferred queue
            [0.2, 0.1, 0.0, 0.0, 0.0, 0.0],  # nobody: refused by smtpd
            [0.1, 0.3, 0.1, 0.3, 0.0, 0.2],  # frank: bounced by neo's smtp
            [NAN] * 6,  # gina: pending
        ],
    )


def test_stages_add_up_to_latency_for_every_finished_recipient() -> None:
    table = Run.from_eventlog(example_eventlog()).recipients()
    done = table[table["status"] != "pending"]
    np.testing.assert_allclose(done[STAGES].sum(axis=1), done["latency"], atol=1e-9)


def test_alias_expansion_inherits_the_path_of_the_original_address() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.connect(4.0, MX, 1, NEO_CLIENT)
    story.received(5.0, MX, 1, 1)
    story.outcome(6.0, NEO, "sent", 1, 1, "postmaster@firma2.intr", relay=RELAY_MX)
    story.queue(6.0, NEO, "removed", 1, 1)
    story.queue(7.0, MX, "queued", 1, 1)
    story.queue(8.0, MX, "active", 1, 1)
    expanded = "maildir (orig_to=<postmaster@firma2.intr>)"
    story.outcome(9.0, MX, "delivered", 1, 1, "bob@firma2.intr", detail=expanded)
    story.outcome(9.5, MX, "delivered", 1, 1, "carol@firma2.intr", detail=expanded)
    story.queue(9.5, MX, "removed", 1, 1)
    table = recipients(story)
    assert rows(table, ["recipient", "status", "hops"]) == [
        ("bob@firma2.intr", "delivered", 2),
        ("carol@firma2.intr", "delivered", 2),
    ]
    assert_stages(table, [[0, 2, 3, 2, 0, 2], [0, 2, 3, 2, 0, 2.5]])


def test_local_forward_copy_is_a_second_hop_and_pending_until_it_leaves() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.outcome(4.0, NEO, "sent", 1, 1, "bob@firma2.intr", relay="local", detail="forwarded")
    story.queue(4.0, NEO, "removed", 1, 1)
    story.queue(4.5, NEO, "queued", 1, 2)
    story.queue(5.0, NEO, "active", 1, 2)
    assert rows(recipients(story), ["status", "hops"]) == [("pending", 1)]

    story.outcome(6.0, NEO, "sent", 1, 2, "bob@firma2.intr", relay="mx.outside.example[1.2.3.4]:25")
    table = recipients(story)
    assert rows(table, ["status", "relay", "hops"]) == [
        ("relayed", "mx.outside.example[1.2.3.4]:25", 2)
    ]
    assert table["t_done"].tolist() == [6.0]
    assert_stages(table, [[0.0, 1.0, 1.0, 1.5, 0.0, 2.5]])


def test_whole_message_refusal_counts_as_one_rejected_recipient() -> None:
    story = Story()
    story.submit(0.0, 1, size=50_000_000)
    story.connect(0.5, NEO, 1)
    story.reject(0.7, NEO, 1, "", "5.3.4")
    table = recipients(story)
    assert rows(table, ["msg", "recipient", "status", "dsn", "hops"]) == [
        ("m1", "", "rejected", "5.3.4", 1)
    ]
    assert_stages(table, [[0.5, 0.2, 0, 0, 0, 0]])


def test_refused_recipient_keeps_its_own_reply_when_the_message_is_refused_too() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.connect(0.5, NEO, 1)
    story.reject(0.6, NEO, 1, "nobody@firma1.intr", "5.1.1")
    story.reject(0.8, NEO, 1, "", "5.3.4")
    assert rows(recipients(story), ["recipient", "status", "dsn"]) == [
        ("nobody@firma1.intr", "rejected", "5.1.1")
    ]


def test_expiry_ends_deferred_recipients_with_the_qmgr_bounce_reason() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.outcome(4.0, NEO, "deferred", 1, 1, "bob@firma2.intr", "4.4.1", RELAY_MX)
    story.queue(4.0, NEO, "deferred", 1, 1)
    story.queue(100.0, NEO, "active", 1, 1)
    story.outcome(101.0, NEO, "deferred", 1, 1, "bob@firma2.intr", "4.4.1", RELAY_MX)
    story.log.emit(101.0, NEO, "qmgr", "bounced", 1, 1, "", "bob@firma2.intr", 0, "5.4.7", "none")
    story.queue(101.0, NEO, "expired", 1, 1)
    table = recipients(story)
    assert rows(table, ["status", "dsn", "node"]) == [("expired", "5.4.7", NEO)]
    assert table["t_done"].tolist() == [101.0]
    assert_stages(table, [[0, 1, 1, 1, 96, 2]])


def test_sent_to_a_host_outside_the_log_is_relayed_but_to_a_logged_mta_is_pending() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.outcome(4.0, NEO, "sent", 1, 1, "x@outside.example", relay="mx.outside[1.2.3.4]:25")
    story.queue(4.0, NEO, "removed", 1, 1)
    story.submit(10.0, 2)
    story.accept((10.0, 11.0, 12.0, 13.0), NEO, 2, 2)
    story.connect(14.0, MX, 2, NEO_CLIENT)
    story.received(15.0, MX, 2, 1)
    story.outcome(16.0, NEO, "sent", 2, 2, "bob@firma2.intr", relay=RELAY_MX)
    story.queue(16.0, NEO, "removed", 2, 2)
    table = recipients(story)
    assert rows(table, ["recipient", "status", "node"]) == [
        ("x@outside.example", "relayed", NEO),
        ("bob@firma2.intr", "pending", NEO),
    ]
    np.testing.assert_allclose(table["t_done"], [4.0, NAN])


def test_greylisted_hop_retries_and_the_split_follows_the_accepted_session() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.connect(4.0, MX, 1, NEO_CLIENT)
    story.reject(4.5, MX, 1, "bob@firma2.intr", "4.7.1")
    story.outcome(5.0, NEO, "deferred", 1, 1, "bob@firma2.intr", "4.7.1", RELAY_MX)
    story.queue(5.0, NEO, "deferred", 1, 1)
    story.queue(305.0, NEO, "active", 1, 1)
    story.connect(306.0, MX, 1, NEO_CLIENT)
    story.received(307.0, MX, 1, 1)
    story.outcome(308.0, NEO, "sent", 1, 1, "bob@firma2.intr", relay=RELAY_MX)
    story.queue(308.0, NEO, "removed", 1, 1)
    story.queue(309.0, MX, "queued", 1, 1)
    story.queue(310.0, MX, "active", 1, 1)
    story.outcome(311.0, MX, "delivered", 1, 1, "bob@firma2.intr")
    story.queue(311.0, MX, "removed", 1, 1)
    table = recipients(story)
    assert rows(table, ["status", "hops", "node"]) == [("delivered", 2, MX)]
    assert table["latency"].tolist() == [311.0]
    assert_stages(table, [[0, 2, 3, 2, 300, 4]])


def test_recipients_of_one_message_finish_independently() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.outcome(4.0, NEO, "delivered", 1, 1, "carol@firma1.intr")
    story.outcome(5.0, NEO, "deferred", 1, 1, "dave@firma2.intr", "4.4.1", RELAY_MX)
    story.queue(5.0, NEO, "deferred", 1, 1)
    story.queue(65.0, NEO, "active", 1, 1)
    story.outcome(66.0, NEO, "bounced", 1, 1, "dave@firma2.intr", "5.1.1", RELAY_MX)
    story.queue(66.0, NEO, "removed", 1, 1)
    table = recipients(story)
    assert rows(table, ["recipient", "status"]) == [
        ("carol@firma1.intr", "delivered"),
        ("dave@firma2.intr", "bounced"),
    ]
    # carol left before the deferral; dave's 60 s in the deferred queue are his alone.
    assert_stages(table, [[0, 1, 1, 1, 0, 1], [0, 1, 1, 1, 60, 3]])


def test_message_without_submit_starts_at_its_first_connect() -> None:
    story = Story()
    story.accept((5.0, 6.0, 7.0, 8.0), NEO, 1, 1)
    story.outcome(9.0, NEO, "delivered", 1, 1, "carol@firma1.intr")
    table = recipients(story)
    assert table["t_submit"].tolist() == [5.0]
    assert table["latency"].tolist() == [4.0]
    assert table["smtpd_wait"].tolist() == [0.0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_split_adds_up_on_random_retry_patterns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    story = Story()
    for msg in range(1, 41):
        t = float(rng.uniform(0, 100))
        story.submit(t, msg)
        times = tuple(np.cumsum(rng.exponential(1.0, 4)) + t)
        story.accept((times[0], times[1], times[2], times[3]), NEO, msg, msg)
        t = times[3]
        for _ in range(int(rng.integers(0, 4))):
            t += float(rng.exponential(1.0))
            story.outcome(t, NEO, "deferred", msg, msg, "dave@firma2.intr", "4.4.1", RELAY_MX)
            story.queue(t, NEO, "deferred", msg, msg)
            t += float(rng.exponential(100.0))
            story.queue(t, NEO, "active", msg, msg)
        t += float(rng.exponential(1.0))
        story.outcome(t, NEO, "delivered", msg, msg, "dave@firma2.intr")
        story.queue(t, NEO, "removed", msg, msg)
    table = recipients(story)
    assert (table["status"] == "delivered").all()
    assert (table[STAGES] >= -1e-9).all().all()
    np.testing.assert_allclose(table[STAGES].sum(axis=1), table["latency"], rtol=1e-12)


def test_expiry_without_per_recipient_bounces_ends_the_deferred_recipients() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.outcome(4.0, NEO, "delivered", 1, 1, "carol@firma1.intr")
    story.outcome(5.0, NEO, "deferred", 1, 1, "dave@firma2.intr", "4.4.1", RELAY_MX)
    story.queue(5.0, NEO, "deferred", 1, 1)
    story.queue(500.0, NEO, "expired", 1, 1)
    table = recipients(story)
    assert rows(table, ["recipient", "status", "dsn"]) == [
        ("carol@firma1.intr", "delivered", "2.0.0"),
        ("dave@firma2.intr", "expired", "4.4.1"),
    ]
    assert table["t_done"].tolist() == [4.0, 500.0]
    assert_stages(table, [[0, 1, 1, 1, 0, 1], [0, 1, 1, 1, 495, 2]])


def test_next_hop_may_deliver_before_the_sender_logs_sent() -> None:
    # The sender logs "sent" when the 250 reply arrives; the remote has delivered by then.
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), MX, 1, 7)
    story.connect(4.0, NEO, 1, "mx.firma2.intr[192.0.2.25]")
    story.received(5.0, NEO, 1, 9)
    story.queue(6.0, NEO, "queued", 1, 9)
    story.queue(7.0, NEO, "active", 1, 9)
    story.outcome(8.0, NEO, "delivered", 1, 9, "eva@firma1.intr")
    story.queue(8.0, NEO, "removed", 1, 9)
    story.outcome(
        8.5, MX, "sent", 1, 7, "eva@firma1.intr", relay="neo.firma1.intr[195.113.106.168]:25"
    )
    story.queue(8.5, MX, "removed", 1, 7)
    table = recipients(story)
    assert rows(table, ["status", "node", "hops"]) == [("delivered", NEO, 2)]
    assert table["latency"].tolist() == [8.0]
    assert_stages(table, [[0, 2, 2, 2, 0, 2]])


def test_queued_as_in_the_reply_names_the_next_hop_among_parallel_relays() -> None:
    # neo relays one message to two MTAs at once. b's "received" (8.5) comes after a delivered
    # x (8.0) but before neo logs x as sent (9.0): by time alone b would look like x's next
    # hop and x would still be in flight. The queue id in the reply says it was a.
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), NEO, 1, 1)
    story.connect(4.0, "a.example", 1, NEO_CLIENT)
    story.connect(4.1, "b.example", 1, NEO_CLIENT)
    story.received(5.0, "a.example", 1, 21)
    story.queue(6.0, "a.example", "queued", 1, 21)
    story.queue(7.0, "a.example", "active", 1, 21)
    story.outcome(8.0, "a.example", "delivered", 1, 21, "x@a.example")
    story.received(8.5, "b.example", 1, 22)
    story.outcome(9.0, NEO, "sent", 1, 1, "x@a.example", relay="a.example[1.1.1.1]:25",
                  detail="250 2.0.0 Ok: queued as 0000000015")  # fmt: skip
    story.outcome(9.5, NEO, "sent", 1, 1, "y@b.example", relay="b.example[2.2.2.2]:25",
                  detail="250 2.0.0 Ok: queued as 0000000016")  # fmt: skip
    table = recipients(story)
    assert rows(table, ["recipient", "status", "node", "hops"]) == [
        ("x@a.example", "delivered", "a.example", 2),
        ("y@b.example", "pending", NEO, 1),
    ]
    assert_stages(table.iloc[:1], [[0, 2, 2, 2, 0, 2]])
    graph = Run.from_eventlog(story.log).delivery_graph()
    assert graph.edges[NEO, "a.example"]["weight"] == 1
    assert graph.edges[NEO, "b.example"]["recipients"] == 1


def test_address_reached_directly_and_through_an_alias_passes_each_mta_once() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.accept((0.0, 1.0, 2.0, 3.0), MX, 1, 1)
    story.connect(4.0, NEO, 1, "mx.firma2.intr[192.0.2.25]")
    story.received(5.0, NEO, 1, 2)
    story.queue(6.0, NEO, "queued", 1, 2)
    story.queue(7.0, NEO, "active", 1, 2)
    story.outcome(8.0, NEO, "delivered", 1, 2, "nekdo@firma1.intr")
    story.outcome(8.0, NEO, "delivered", 1, 2, "nekdo@firma1.intr",
                  detail="delivered to mailbox (orig_to=<info@firma1.intr>)")  # fmt: skip
    relay = "neo.firma1.intr[195.113.106.168]:25"
    story.outcome(9.0, MX, "sent", 1, 1, "nekdo@firma1.intr", relay=relay)
    story.outcome(9.0, MX, "sent", 1, 1, "info@firma1.intr", relay=relay)
    table = recipients(story)
    assert rows(table, ["recipient", "status", "hops"]) == [("nekdo@firma1.intr", "delivered", 2)]


def test_a_recipient_who_keeps_a_copy_and_forwards_is_delivered() -> None:
    """dave's .forward in the real Postfix 3.7 sample is ``\\dave, dave.home@firma2.intr``:
    local(8) logs "delivered to mailbox" and then "forwarded as B3790160408" for dave. dave is
    delivered; the copy is followed as dave.home, relayed to firma2."""
    from pathlib import Path

    from mailsim.postfixlog import read_log

    sample = (
        Path(__file__).resolve().parents[1] / "data/postfix-logs/maillog-postfix-3.7-sample.log"
    )
    log = read_log(sample, 2026)
    msg = log.messages.loc[log.messages["queue_id"] == "AE36E160407", "msg"].iloc[0]
    table = Run(log.events).recipients()
    mine = table[table["msg"].astype(str) == msg].set_index("recipient")["status"].astype(str)
    assert mine.to_dict() == {
        "dave@firma1.intr": "delivered",
        "anna@firma4.intr": "expired",
        "dave.home@firma2.intr": "relayed",
    }
