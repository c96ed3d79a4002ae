"""postsuper -h/-H/-r and postqueue -f on the simulated queue, between run() calls."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailsim.scenario.faults import HostBehaviour, Outage
from mailsim.sim import Simulation

from qmgr_builders import mail, unreachable

#: the real run's backoff; a long lifetime unless a test says otherwise
LAB = {"minimal_backoff_time": "30s", "maximal_backoff_time": "60s", "queue_run_delay": "15s"}


def story(sim: Simulation, msg: str = "m1") -> list[tuple[float, str, str, str]]:
    """(t, daemon, event, detail) of ``msg`` at mx.a.test, without the delays."""
    return [
        (round(e.t, 6), e.daemon, e.event, e.detail.split(" delays=")[0])
        for e in sim.log.rows()
        if e.node == "mx.a.test" and e.msg == msg and e.daemon in ("qmgr", "smtp", "postsuper")
    ]


def queue_id(sim: Simulation, msg: str = "m1") -> str:
    return next(e.queue_id for e in sim.log.rows() if e.msg == msg and e.event == "received")


def test_held_mail_is_not_tried_and_does_not_expire_until_released() -> None:
    """Held at 10 (deferred, stamp 31): no attempt at 30, 60, ...; released at 200 with its
    stamp unchanged, the scan at 210 takes it and, 209 s old, it expires at once."""
    sim = Simulation(
        unreachable(**LAB, maximal_queue_lifetime="2m"), arrivals=iter([mail(1.0, "dan@c.test")])
    )
    sim.run(until=10.0)
    assert sim.hold("mx.a.test", queue_id(sim))
    sim.run(until=200.0)
    assert sim.release("mx.a.test", queue_id(sim))
    sim.run(until=300.0)
    refused = "connect to mx.c.test[10.0.2.1]:25: Connection refused"
    assert story(sim) == [
        (1.0, "qmgr", "active", "nrcpt=1"),
        (1.0, "smtp", "connect_fail", refused),
        (1.0, "smtp", "deferred", refused),
        (1.0, "qmgr", "deferred", "queue deferred"),
        (10.0, "postsuper", "hold", "placed on hold"),
        (200.0, "postsuper", "released", "released from hold"),
        (210.0, "qmgr", "active", "nrcpt=1"),
        (210.0, "smtp", "connect_fail", refused),
        (210.0, "smtp", "deferred", refused),
        (210.0, "qmgr", "bounced", "status=expired, returned to sender"),
        (210.0, "qmgr", "expired", "returned to sender"),
    ]


def test_requeue_gives_a_new_queue_file_and_a_fresh_lifetime() -> None:
    """postsuper -r on held mail: cleanup writes a new queue file (new queue id, same message),
    created now, so it is tried at once and deferred again instead of expiring."""
    sim = Simulation(
        unreachable(**LAB, maximal_queue_lifetime="2m"), arrivals=iter([mail(1.0, "dan@c.test")])
    )
    sim.run(until=10.0)
    old = queue_id(sim)
    sim.hold("mx.a.test", old)
    sim.run(until=200.0)
    assert sim.requeue("mx.a.test", old)
    sim.run(until=201.0)
    rows = [e for e in sim.log.rows() if e.node == "mx.a.test" and e.msg == "m1" and e.t >= 200]
    assert (rows[0].event, rows[0].queue_id, rows[0].detail) == ("requeued", old, "requeued")
    new = rows[1].queue_id
    assert new != old
    assert [(e.event, e.queue_id) for e in rows[1:]] == [
        ("queued", new),
        ("active", new),
        ("connect_fail", new),
        ("deferred", new),
        ("deferred", new),
    ]


def test_hold_in_incoming_and_active() -> None:
    """qmgr_message_active_limit 1 and mx.b.test down (connections time out after 5 s): m1 is
    active from 1 to 6 and m2 waits in incoming; both are held at 2. m1 finishes its attempt at
    6 and stays on hold; m2 never becomes active. Released at 100 (their files have no time
    stamp in the future: the move to deferred at 6 failed), the scan at 105 takes them; m2
    waits for m1 to leave the active queue.
    """
    base = unreachable(**LAB, qmgr_message_active_limit="1", smtp_connect_timeout="5s")
    b = replace(base.hosts["mx.b.test"], behaviour=HostBehaviour(down=(Outage(0.0, 1e9),)))
    sim = Simulation(
        replace(base, hosts={**base.hosts, "mx.b.test": b}),
        arrivals=iter([mail(1.0, "carol@b.test", 1), mail(1.0, "carol@b.test", 2)]),
    )
    sim.run(until=2.0)
    assert sim.hold("mx.a.test", queue_id(sim, "m1"))
    assert sim.hold("mx.a.test", queue_id(sim, "m2"))
    assert not sim.hold("mx.a.test", queue_id(sim, "m2"))  # already held
    sim.run(until=100.0)
    assert [(row[0], row[2]) for row in story(sim, "m1")] == [
        (1.0, "active"),
        (2.0, "hold"),
        (6.0, "connect_fail"),
        (6.0, "deferred"),
    ]
    assert [(row[0], row[2]) for row in story(sim, "m2")] == [(2.0, "hold")]
    sim.release("mx.a.test", queue_id(sim, "m1"))
    sim.release("mx.a.test", queue_id(sim, "m2"))
    sim.run(until=111.0)
    assert [(row[0], row[2]) for row in story(sim, "m1")][4:] == [
        (100.0, "released"),
        (105.0, "active"),
        (110.0, "connect_fail"),
        (110.0, "deferred"),
        (110.0, "deferred"),
    ]
    assert [(row[0], row[2]) for row in story(sim, "m2")] == [
        (2.0, "hold"),
        (100.0, "released"),
        (110.0, "active"),
    ]


def test_flush_retries_deferred_mail_now() -> None:
    sim = Simulation(unreachable(**LAB), arrivals=iter([mail(1.0, "dan@c.test")]))
    sim.run(until=12.5)
    sim.flush("mx.a.test")
    sim.run(until=13.0)
    assert [(row[0], row[2]) for row in story(sim) if row[1] == "qmgr"] == [
        (1.0, "active"),
        (1.0, "deferred"),
        (12.5, "active"),
        (12.5, "deferred"),
    ]


def test_operations_name_what_they_cannot_find() -> None:
    sim = Simulation(unreachable(), arrivals=iter([]))
    assert not sim.hold("mx.a.test", 0xABC)
    assert not sim.release("mx.a.test", "ABC")
    assert not sim.requeue("mx.a.test", 12)
    with pytest.raises(ValueError, match=r"unknown host 'mx\.z\.test'"):
        sim.hold("mx.z.test", 1)
    with pytest.raises(ValueError, match="not a queue id: 'XYZ'"):
        sim.hold("mx.a.test", "XYZ")


def test_analysis_sees_the_hold_queue() -> None:
    """queue_depth and qshape show held mail in the hold queue, and back in deferred after
    postsuper -H (QSHAPE_README: qshape hold)."""
    from mailsim.analysis import Run

    sim = Simulation(unreachable(**LAB), arrivals=iter([mail(1.0, "dan@c.test")]))
    sim.run(until=10.0)
    assert sim.hold("mx.a.test", queue_id(sim))
    sim.run(until=200.0)
    assert sim.release("mx.a.test", queue_id(sim))
    sim.run(until=205.0)
    run = Run.from_eventlog(sim.log)
    depth = run.queue_depth(["mx.a.test"])
    steps = [(t, q, d) for t, q, d in depth[["t", "queue", "depth"]].itertuples(index=False)]
    assert (10.0, "hold", 1) in steps and (200.0, "hold", 0) in steps
    assert (200.0, "deferred", 1) in steps
    held = run.qshape("mx.a.test", ("hold",), at=100.0)
    assert held.loc["c.test", "T"] == 1
    assert run.qshape("mx.a.test", ("hold",), at=204.0).loc["TOTAL", "T"] == 0
