"""The delivery-path graph: nodes, kinds, layers, edges and weights."""

from __future__ import annotations

import networkx as nx

from mailsim.analysis import Run, delivery_graph
from mailsim.analysis.example import ALICE, MX, NEO, RELAY_MX, Story, example_eventlog

NEO_CLIENT = "neo.firma1.intr[195.113.106.10]"


def edges(graph: nx.DiGraph) -> dict[tuple[str, str], tuple[int, int]]:
    return {(u, v): (d["weight"], d["recipients"]) for u, v, d in graph.edges(data=True)}


def test_example_graph_edges_and_weights() -> None:
    graph = delivery_graph(Run.from_eventlog(example_eventlog()))
    assert edges(graph) == {
        (ALICE, NEO): (5, 6),  # five messages, m2 has two recipients
        (NEO, MX): (2, 2),  # m1 -> bob, m2 -> dave (after the retry)
        (NEO, f"mailboxes@{NEO}"): (1, 1),  # carol
        (MX, f"mailboxes@{MX}"): (2, 2),  # bob, dave
        (NEO, "rejected"): (1, 1),  # nobody
        (NEO, "bounced"): (1, 1),  # frank
    }  # gina is still deferred at neo: no edge out of neo for her


def test_example_graph_kinds_and_layers() -> None:
    graph = Run.from_eventlog(example_eventlog()).delivery_graph()
    assert dict(graph.nodes(data="kind")) == {
        ALICE: "client",
        NEO: "mta",
        MX: "mta",
        f"mailboxes@{NEO}": "mailbox",
        f"mailboxes@{MX}": "mailbox",
        "rejected": "sink",
        "bounced": "sink",
    }
    assert dict(graph.nodes(data="layer")) == {
        ALICE: 0,
        NEO: 1,
        MX: 2,
        f"mailboxes@{NEO}": 2,
        f"mailboxes@{MX}": 3,
        "rejected": 4,
        "bounced": 4,
    }


def test_mailboxes_per_recipient_when_not_aggregated() -> None:
    graph = delivery_graph(Run.from_eventlog(example_eventlog()), aggregate_mailboxes=False)
    assert {v for u, v in graph.edges if v.startswith("mailbox")} == {
        "mailbox:bob@firma2.intr",
        "mailbox:carol@firma1.intr",
        "mailbox:dave@firma2.intr",
    }
    assert graph.edges[MX, "mailbox:dave@firma2.intr"]["weight"] == 1


def test_relay_outside_the_lab_and_a_hand_off_still_pending() -> None:
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
    graph = Run.from_eventlog(story.log).delivery_graph()
    assert edges(graph) == {
        (ALICE, NEO): (2, 2),
        (NEO, "mx.outside"): (1, 1),
        (NEO, MX): (1, 1),
    }
    assert graph.nodes["mx.outside"]["kind"] == "external"
    assert graph.nodes[MX]["kind"] == "mta"
    assert graph.nodes["mx.outside"]["layer"] == 2
