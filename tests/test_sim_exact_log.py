"""Exact event logs of tiny scenarios with constant service times, worked out by hand.

Service times (seconds): smtpd 0.1, cleanup 0.01, qmgr 0.001, local 0.02, mda 0.03, smtp 0.05,
trivial-rewrite and DNS free, links without latency. One message from alice@a.test (LAN client
10.0.0.5) enters mx.a.test at t = 1.
"""

from __future__ import annotations

import pytest

from mailsim.scenario.model import FetchConfig
from mailsim.sim import Simulation
from mailsim.streams import RandomStreams
from mailsim.workload import Arrival

from builders import EXACT_TIMES, two_domains

TIMES = EXACT_TIMES


def run(arrivals: list[Arrival], **kw: object) -> list[tuple[object, ...]]:
    scenario = two_domains(capacity=TIMES, **kw)  # type: ignore[arg-type]
    sim = Simulation(scenario, arrivals=iter(arrivals))
    sim.run()
    return [
        (
            round(e.t, 9),
            e.node,
            e.daemon,
            e.event,
            e.msg,
            e.sender,
            e.recipient,
            e.dsn,
            e.relay,
            e.detail,
        )
        for e in sim.log.rows()
    ]


def test_local_message_end_to_end() -> None:
    log = run([Arrival(1.0, 1, "alice@a.test", ("bob@a.test",), 1000)])
    assert log == [
        (
            1.0,
            "alice@a.test",
            "client",
            "submit",
            "m1",
            "alice@a.test",
            "",
            "",
            "mx.a.test",
            "smtp nrcpt=1",
        ),
        (1.0, "mx.a.test", "smtpd", "connect", "m1", "", "", "", "alice@a.test[10.0.0.5]", ""),
        # smtpd: 0.1 s
        (
            1.1,
            "mx.a.test",
            "smtpd",
            "received",
            "m1",
            "alice@a.test",
            "",
            "",
            "alice@a.test[10.0.0.5]",
            "nrcpt=1",
        ),
        # cleanup: 0.01 s
        (
            1.11,
            "mx.a.test",
            "cleanup",
            "queued",
            "m1",
            "alice@a.test",
            "",
            "",
            "",
            "queue incoming",
        ),
        # qmgr 0.001 s (trivial-rewrite free)
        (1.111, "mx.a.test", "qmgr", "active", "m1", "alice@a.test", "", "", "", "nrcpt=1"),
        # local 0.02 s + mda 0.03 s; delays: a = active - connect = 0.111, b = 0 (a local
        # process was free), c = 0 (no connection), d = 0.05
        (
            1.161,
            "mx.a.test",
            "local",
            "delivered",
            "m1",
            "alice@a.test",
            "bob@a.test",
            "2.0.0",
            "local",
            "delivered to maildir delays=0.11/0/0/0.05",
        ),
        (1.161, "mx.a.test", "qmgr", "removed", "m1", "alice@a.test", "", "", "", ""),
    ]


def test_relay_to_other_domain_via_mx() -> None:
    log = run([Arrival(1.0, 1, "alice@a.test", ("carol@b.test",), 1000)])
    hop2 = [row for row in log if row[1] == "mx.b.test"]
    sent = [row for row in log if row[3] == "sent"]
    # hop 1 as above up to active at 1.111; smtp 0.05 -> connect on mx.b.test at 1.161;
    # its smtpd 0.1 -> received 1.261, cleanup 0.01 -> queued 1.271 and the 250 reply, so the
    # sender logs sent at 1.271; mx.b.test: active 1.272, delivered 1.322.
    assert [row[:4] for row in hop2] == [
        (1.161, "mx.b.test", "smtpd", "connect"),
        (1.261, "mx.b.test", "smtpd", "received"),
        (1.271, "mx.b.test", "cleanup", "queued"),
        (1.272, "mx.b.test", "qmgr", "active"),
        (1.322, "mx.b.test", "local", "delivered"),
        (1.322, "mx.b.test", "qmgr", "removed"),
    ]
    assert hop2[0][8] == "mx.a.test[10.0.0.1]"
    assert len(sent) == 1
    t, node, daemon, _event, _msg, _sender, rcpt, dsn, relay, detail = sent[0]
    assert (t, node, daemon, rcpt, dsn, relay) == (
        1.271,
        "mx.a.test",
        "smtp",
        "carol@b.test",
        "2.0.0",
        "mx.b.test[10.0.1.1]:25",
    )
    assert str(detail).startswith("250 2.0.0 Ok: queued as ")
    dns = [row for row in log if row[2] == "dns"]
    assert [row[3] for row in dns] == ["dns_query"] and "mx.b.test[10.0.1.1]" in str(dns[0][9])
    removed = [row for row in log if row[1] == "mx.a.test" and row[3] == "removed"]
    assert [row[0] for row in removed] == [1.271]


def test_relay_attempt_from_outside_is_rejected_and_nothing_is_queued() -> None:
    log = run(
        [
            Arrival(
                2.0,
                1,
                "promo@cheap.example",
                ("x@elsewhere.example",),
                500,
                client_address="203.0.113.9",
                connect_to="mx.a.test",
            )
        ]
    )
    assert [row[3] for row in log] == ["submit", "connect", "reject"]
    reject = log[2]
    assert reject[0] == 2.1 and reject[7] == "5.7.1"
    assert "554 5.7.1 <x@elsewhere.example>: Relay access denied" in str(reject[9])
    assert log[0][1] == "[203.0.113.9]"


def test_postfix_3_default_relay_restrictions_defer_instead() -> None:
    """postconf(5) smtpd_relay_restrictions default ends in defer_unauth_destination."""
    log = run(
        [
            Arrival(
                2.0,
                1,
                "promo@cheap.example",
                ("x@elsewhere.example",),
                500,
                client_address="203.0.113.9",
                connect_to="mx.a.test",
            )
        ],
        smtpd_relay_restrictions=(
            "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
        ),
    )
    assert [(row[3], row[7]) for row in log][-1] == ("reject", "4.7.1")


def test_unknown_local_user_is_rejected_at_rcpt_others_delivered() -> None:
    log = run([Arrival(1.0, 1, "alice@a.test", ("nosuch@a.test", "bob@a.test"), 1000)])
    rejects = [row for row in log if row[3] == "reject"]
    assert len(rejects) == 1 and rejects[0][6] == "nosuch@a.test" and rejects[0][7] == "5.1.1"
    assert [row[6] for row in log if row[3] == "delivered"] == ["bob@a.test"]
    received = next(row for row in log if row[3] == "received")
    assert received[9] == "nrcpt=1"


def test_smtpd_process_limit_makes_the_second_client_wait() -> None:
    arrivals = [
        Arrival(1.0, 1, "alice@a.test", ("bob@a.test",), 1000),
        Arrival(1.0, 2, "alice@a.test", ("bob@a.test",), 1000),
    ]
    log = run(arrivals, smtpd_process_limit="1")
    connects = [(row[0], row[4]) for row in log if row[3] == "connect"]
    # the first holds the only smtpd process until cleanup is done (1.11)
    assert connects == [(1.0, "m1"), (1.11, "m2")]


def test_pop3_client_fetches_at_its_poll_and_the_phase_comes_from_its_stream() -> None:
    log = run(
        [Arrival(1.0, 1, "alice@a.test", ("bob@a.test",), 1000)],
        fetch=FetchConfig("pop3", 60.0, "mx.a.test"),
    )
    phase = float(RandomStreams(1).generator("client/bob@a.test").uniform(0.0, 60.0))
    first_poll_after_delivery = phase if phase >= 1.161 else phase + 60.0
    fetched = [row for row in log if row[3] == "fetched"]
    assert len(fetched) == 1
    assert fetched[0][:4] == (
        pytest.approx(first_poll_after_delivery + 0.004),
        "mx.a.test",
        "pop3d",
        "fetched",
    )
    assert fetched[0][6] == "bob@a.test"


def test_queue_manager_is_replaceable() -> None:
    """The engine builds each node's qmgr through a factory (issue 3 plugs in its own)."""
    from mailsim.sim.qmgr import PostfixQueueManager

    built: list[str] = []

    class Counting(PostfixQueueManager):
        def enqueue(self, queue_file):  # type: ignore[no-untyped-def]
            built.append(self.node.name)
            super().enqueue(queue_file)

    scenario = two_domains(capacity=TIMES)
    sim = Simulation(
        scenario,
        arrivals=iter([Arrival(1.0, 1, "alice@a.test", ("bob@a.test",), 1000)]),
        queue_manager=Counting,
    )
    sim.run()
    assert built == ["mx.a.test"]
    assert [e.event for e in sim.log.rows()][-1] == "removed"
