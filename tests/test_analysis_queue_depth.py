"""Queue depth step functions, time averages and Little's law, against hand-made logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.analysis.example import MX, NEO, Story, example_eventlog


def steps(table: pd.DataFrame, node: str, queue: str) -> list[tuple[float, int]]:
    chosen = table[(table["node"] == node) & (table["queue"] == queue)]
    return [(float(t), int(d)) for t, d in zip(chosen["t"], chosen["depth"], strict=True)]


@pytest.fixture(scope="module")
def example() -> Run:
    return Run.from_eventlog(example_eventlog(), name="example")


def test_example_depth_including_a_deferred_round_trip(example: Run) -> None:
    table = example.queue_depth()
    assert list(table.columns) == ["t", "node", "queue", "depth"]
    assert steps(table, NEO, "incoming") == [
        (1.2, 1), (1.5, 0), (10.6, 1), (11.0, 0), (30.5, 1), (30.8, 0), (40.4, 1), (40.6, 0)
    ]  # fmt: skip
    assert steps(table, NEO, "active") == [
        (1.5, 1), (2.5, 0), (11.0, 1), (12.0, 0), (30.8, 1), (31.0, 0), (40.6, 1), (41.0, 0),
        (312.0, 1), (314.0, 0),
    ]  # fmt: skip
    # m2 waits from 12 to 312; m5 enters at 41 and is still there at the end.
    assert steps(table, NEO, "deferred") == [(12.0, 1), (41.0, 2), (312.0, 1)]
    assert steps(table, MX, "incoming") == [(2.6, 1), (3.0, 0), (314.2, 1), (314.5, 0)]
    assert steps(table, MX, "active") == [(3.0, 1), (3.5, 0), (314.5, 1), (315.0, 0)]
    assert steps(table, MX, "deferred") == []
    assert list(dict.fromkeys(table["node"].astype(str))) == [MX, NEO]


def test_nodes_filter_and_unknown_node(example: Run) -> None:
    table = example.queue_depth(nodes=[MX])
    assert set(table["node"].astype(str)) == {MX}
    assert len(table) == 8
    with pytest.raises(ValueError, match=r"unknown node 'nowhere'.*mx\.firma2\.intr"):
        example.queue_depth(nodes=["nowhere"])


def test_simultaneous_changes_merge_into_one_step() -> None:
    story = Story()
    for qid in (1, 2):
        story.queue(5.0, NEO, "queued", qid, qid)
    story.queue(6.0, NEO, "active", 1, 1)
    story.queue(6.0, NEO, "active", 2, 2)
    story.queue(7.0, NEO, "queued", 3, 3)  # in and out of incoming at once: no step
    story.queue(7.0, NEO, "active", 3, 3)
    for qid in (1, 2, 3):
        story.queue(8.0, NEO, "removed", qid, qid)
    table = Run.from_eventlog(story.log).queue_depth()
    assert steps(table, NEO, "incoming") == [(5.0, 2), (6.0, 0)]
    assert steps(table, NEO, "active") == [(6.0, 2), (7.0, 3), (8.0, 0)]


def test_recipient_level_deferrals_do_not_move_the_queue_file() -> None:
    story = Story()
    story.queue(1.0, NEO, "queued", 1, 1)
    story.queue(2.0, NEO, "active", 1, 1)
    story.outcome(3.0, NEO, "deferred", 1, 1, "dave@firma2.intr", "4.4.1", "mx[1.2.3.4]:25")
    story.outcome(3.5, NEO, "delivered", 1, 1, "carol@firma1.intr")
    story.queue(4.0, NEO, "deferred", 1, 1)
    story.queue(9.0, NEO, "active", 1, 1)
    story.queue(10.0, NEO, "expired", 1, 1)
    table = Run.from_eventlog(story.log).queue_depth()
    assert steps(table, NEO, "active") == [(2.0, 1), (4.0, 0), (9.0, 1), (10.0, 0)]
    assert steps(table, NEO, "deferred") == [(4.0, 1), (9.0, 0)]


def reference_depth(events: list[tuple[float, str, int]]) -> dict[str, list[tuple[float, int]]]:
    """A slow, obvious replay of queue transitions (the vectorised code must agree)."""
    state_of = {"queued": "incoming", "active": "active", "deferred": "deferred"}
    where: dict[int, str] = {}
    depth = {"incoming": 0, "active": 0, "deferred": 0}
    out: dict[str, list[tuple[float, int]]] = {queue: [] for queue in depth}
    for t, event, qid in sorted(events, key=lambda e: e[0]):
        old = where.pop(qid, None)
        new = state_of.get(event)
        for queue, change in ((old, -1), (new, +1)):
            if queue is not None:
                depth[queue] += change
        if new is not None:
            where[qid] = new
        for queue in depth:
            series = out[queue]
            if series and series[-1][0] == t:
                series.pop()
            before = series[-1][1] if series else 0
            if depth[queue] != before:
                series.append((t, depth[queue]))
    return out


def test_vectorised_depth_matches_a_replay_of_random_files() -> None:
    rng = np.random.default_rng(7)
    story = Story()
    events: list[tuple[float, str, int]] = []
    for qid in range(1, 200):
        t = float(rng.uniform(0, 1000))
        path = ["queued", "active"]
        path += ["deferred", "active"] * int(rng.integers(0, 3))
        path.append("removed" if rng.random() < 0.8 else "expired")
        for event in path[: int(rng.integers(1, len(path) + 1))]:
            t += float(np.round(rng.exponential(5.0), 0))  # whole seconds: many ties
            events.append((t, event, qid))
    for t, event, qid in sorted(events, key=lambda e: e[0]):
        story.queue(t, NEO, event, qid, qid)
    table = Run.from_eventlog(story.log).queue_depth()
    expected = reference_depth(events)
    for queue, series in expected.items():
        assert steps(table, NEO, queue) == series


def test_time_average_depth_is_the_integral_of_the_step_function(example: Run) -> None:
    # neo's deferred queue: m2 over [12, 312), m5 over [41, end).
    assert example.time_average_depth(NEO, "deferred", 0.0, 400.0) == pytest.approx(659 / 400)
    active = (1.0 + 1.0 + 0.2 + 0.4 + 2.0) / 315.0
    assert example.time_average_depth(NEO, "active") == pytest.approx(active)
    assert example.time_average_depth(MX, "deferred", 0.0, 10.0) == 0.0
    with pytest.raises(ValueError, match="unknown queue 'maildrop'"):
        example.time_average_depth(NEO, "maildrop")
    with pytest.raises(ValueError, match="empty averaging window"):
        example.time_average_depth(NEO, "active", 10.0, 10.0)


def test_in_system_obeys_littles_law_on_a_closed_window(example: Run) -> None:
    sojourns = example.sojourns(MX)
    assert sojourns["t_arrival"].tolist() == [2.0, 313.0]
    assert sojourns["t_departure"].tolist() == [3.5, 315.0]
    window = 400.0
    arrival_rate = len(sojourns) / window
    mean_sojourn = float((sojourns["t_departure"] - sojourns["t_arrival"]).mean())
    assert example.in_system(MX, 0.0, window) == pytest.approx(arrival_rate * mean_sojourn)


def test_in_system_counts_from_submit_to_removal_and_open_visits_to_the_end(example: Run) -> None:
    sojourns = example.sojourns(NEO)
    assert sojourns["msg"].astype(str).tolist() == ["m1", "m2", "m4", "m5", "m3"]
    assert sojourns["t_arrival"].tolist() == [0.0, 10.0, 30.0, 40.0, 20.0]
    assert sojourns["t_departure"].tolist() == [2.5, 314.0, 31.0, np.inf, 20.3]
    present = 2.5 + 304.0 + 1.0 + (400.0 - 40.0) + 0.3
    assert example.in_system(NEO, 0.0, 400.0) == pytest.approx(present / 400.0)
