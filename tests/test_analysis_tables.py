"""messages(), throughput(), summary(), stage_waits() and latency_table() on the example log."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mailsim.analysis import Run
from mailsim.analysis.example import MX, NEO, Story, example_eventlog

NAN = math.nan


@pytest.fixture(scope="module")
def example() -> Run:
    return Run.from_eventlog(example_eventlog(), name="example")


def test_messages_table(example: Run) -> None:
    table = example.messages()
    assert list(table.columns) == [
        "msg", "sender", "size", "nrcpt", "t_submit", "t_first_delivery", "t_last_outcome",
        "latency", "n_delivered", "n_relayed", "n_bounced", "n_rejected", "n_expired",
        "n_pending", "n_deferred_attempts", "hops",
    ]  # fmt: skip
    assert table["msg"].astype(str).tolist() == ["m1", "m2", "m3", "m4", "m5"]
    assert table["size"].tolist() == [1000, 2000, 300, 500, 700]
    assert table["nrcpt"].tolist() == [1, 2, 1, 1, 1]
    np.testing.assert_allclose(table["t_first_delivery"], [3.5, 11.5, NAN, NAN, NAN])
    np.testing.assert_allclose(table["t_last_outcome"], [3.5, 315.0, 20.3, 31.0, NAN])
    np.testing.assert_allclose(table["latency"], [3.5, 305.0, 0.3, 1.0, NAN], atol=1e-9)
    assert table["n_delivered"].tolist() == [1, 2, 0, 0, 0]
    assert table["n_rejected"].tolist() == [0, 0, 1, 0, 0]
    assert table["n_bounced"].tolist() == [0, 0, 0, 1, 0]
    assert table["n_pending"].tolist() == [0, 0, 0, 0, 1]
    assert table["n_deferred_attempts"].tolist() == [0, 1, 0, 0, 1]
    assert table["hops"].tolist() == [2, 2, 0, 1, 1]


def test_throughput_counts_per_interval_and_node(example: Run) -> None:
    table = example.throughput(60.0, "delivered")
    assert table.index.name == "t"
    assert table.index.tolist() == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    assert list(table.columns) == [MX, NEO, "total"]
    assert table[MX].tolist() == [1, 0, 0, 0, 0, 1]
    assert table[NEO].tolist() == [1, 0, 0, 0, 0, 0]
    assert table["total"].tolist() == [2, 0, 0, 0, 0, 1]
    received = example.throughput(100.0, "received")
    assert received["total"].tolist() == [5, 0, 0, 1]
    assert received[NEO].tolist() == [4, 0, 0, 0]


def test_throughput_rejects_bad_arguments(example: Run) -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        example.throughput(0.0)
    with pytest.raises(ValueError, match="unknown event 'delivery'"):
        example.throughput(60.0, "delivery")


def test_summary_is_tidy_and_exact(example: Run) -> None:
    table = example.summary()
    assert list(table.columns) == ["scope", "metric", "value"]
    run = dict(zip(table.loc[table["scope"] == "run", "metric"], table["value"], strict=False))
    assert run == {
        "messages_submitted": 5,
        "messages_received": 4,
        "recipients": 6,
        "delivered": 3,
        "relayed": 0,
        "bounced": 1,
        "rejected": 1,
        "expired": 0,
        "pending": 1,
        "rejected 5.1.1": 1,
        "sent": 2,
        "deferred_attempts": 2,
        "still_queued": 1,
        "bytes_submitted": 4500,
        "latency_mean_s": pytest.approx(310 / 3),
        "latency_p50_s": pytest.approx(3.5),
        "latency_p95_s": pytest.approx(np.percentile([1.5, 3.5, 305.0], 95)),
        "latency_p99_s": pytest.approx(np.percentile([1.5, 3.5, 305.0], 99)),
        "latency_max_s": pytest.approx(305.0),
    }
    neo = table[table["scope"] == NEO].set_index("metric")["value"].to_dict()
    assert neo == {
        "connect": 5, "received": 4, "reject": 1, "delivered": 1, "sent": 2, "deferred": 2,
        "bounced": 1, "expired": 0, "bytes_received": 4200,
    }  # fmt: skip
    mx = table[table["scope"] == MX].set_index("metric")["value"].to_dict()
    assert (mx["received"], mx["delivered"], mx["bytes_received"]) == (2, 2, 3000)


def test_stage_waits_of_first_hop_sessions(example: Run) -> None:
    table = example.stage_waits(NEO)
    assert table["msg"].astype(str).tolist() == ["m1", "m2", "m3", "m4", "m5"]
    assert table["first_hop"].tolist() == [True] * 5
    np.testing.assert_allclose(table["wait"], [0.5, 0.0, 0.2, 0.1, 0.0], atol=1e-9)
    np.testing.assert_allclose(table["service"], [0.5, 0.5, 0.1, 0.3, 0.3], atol=1e-9)
    assert (
        table["outcome"].astype(str).tolist() == ["received"] * 2 + ["rejected"] + ["received"] * 2
    )


def test_stage_waits_of_relayed_sessions_have_no_known_arrival(example: Run) -> None:
    table = example.stage_waits(MX)
    assert table["first_hop"].tolist() == [False, False]
    assert table["wait"].isna().all()
    np.testing.assert_allclose(table["service"], [0.4, 0.5], atol=1e-9)
    with pytest.raises(ValueError, match="daemon 'smtpd' only, got 'cleanup'"):
        example.stage_waits(NEO, daemon="cleanup")


def test_stage_waits_of_a_retried_submission() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.connect(2.0, NEO, 1)
    story.reject(2.5, NEO, 1, "bob@firma1.intr", "4.7.1")
    story.connect(300.0, NEO, 1)
    story.received(301.0, NEO, 1, 1)
    table = Run.from_eventlog(story.log).stage_waits(NEO)
    assert table["first_hop"].tolist() == [True, False]
    np.testing.assert_allclose(table["wait"], [2.0, NAN])
    np.testing.assert_allclose(table["service"], [0.5, 1.0])
    assert table["outcome"].astype(str).tolist() == ["rejected", "received"]


def test_latency_table_per_node_and_status(example: Run) -> None:
    table = example.latency_table()
    as_rows = {
        (str(node), str(status)): (int(count), float(mx))
        for node, status, count, mx in zip(
            table["node"], table["status"], table["count"], table["max"], strict=True
        )
    }
    assert as_rows == {
        (NEO, "delivered"): (1, 1.5),
        (NEO, "bounced"): (1, 1.0),
        (NEO, "rejected"): (1, pytest.approx(0.3)),
        (MX, "delivered"): (2, 305.0),
    }
    assert list(table.columns) == ["node", "status", "count", "mean", "p50", "p95", "p99", "max"]


def test_empty_log_gives_empty_tables() -> None:
    run = Run(Story().log.to_frame())
    assert run.recipients().empty
    assert run.messages().empty
    assert run.queue_depth().empty
    assert run.throughput()["total"].tolist() == [0]
    summary = run.summary()
    assert summary.loc[summary["metric"] == "messages_submitted", "value"].tolist() == [0.0]
    assert run.delivery_graph().number_of_nodes() == 0
    assert run.t_end == 0.0
