"""A big destination down for hours: its backlog in qshape, retry waves, and the drain.

QSHAPE_README ("Example 4: High volume destination backlog"): while a destination that gets a
lot of mail is down, its messages pile up in the deferred queue and qshape shows them under that
domain, spread over the age buckets. qmgr(8) retries a deferred message after its age clamped to
[minimal_backoff_time, maximal_backoff_time], so mail that arrived together (a newsletter burst)
is retried together: once its age passes maximal_backoff_time the attempts come in waves
maximal_backoff_time apart (rounded up to the next deferred-queue scan, queue_run_delay), and
after the destination recovers the backlog goes out in the first wave after recovery.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mailsim.analysis import Run
from mailsim.scenario.faults import HostBehaviour, Outage
from mailsim.scenario.model import Distribution, Scenario, Stream, Weighted, Workload
from mailsim.sim import Simulation

from outage_builders import outage_scenario

RELAY = "relay.isp.example"
DOWN, UP = 3600.0, 6 * 3600.0
BURST_AT = 5400.0
BURST = 2000
NEWS = "news@isp.example"


def scenario() -> Scenario:
    base = outage_scenario(20_000, hours=12.0)
    hosts = dict(base.hosts)
    hosts["mx.big.example"] = replace(
        hosts["mx.big.example"], behaviour=HostBehaviour(down=(Outage(DOWN, UP),))
    )
    newsletter = Stream(
        name="newsletter",
        rate=BURST / 100.0,
        senders=(Weighted(NEWS),),
        connect_to=RELAY,
        client_address="10.1.9.9",
        recipients=tuple(Weighted(f"contact{j}@big.example") for j in range(20)),
        size=Distribution.constant(20_000.0),
        start=BURST_AT,
        stop=BURST_AT + 100.0,
    )
    return replace(
        base,
        hosts=hosts,
        drain=4 * 3600.0,
        workload=Workload((*base.workload.streams, newsletter)),
    )


@pytest.fixture(scope="module")
def run() -> Run:
    sim = Simulation(scenario())
    sim.run()
    return Run.from_eventlog(sim.log, name="outage")


def burst_events(run: Run, event: str) -> np.ndarray:
    events = run.events
    relay = events[events["node"] == RELAY]
    burst = relay[(relay["event"] == "received") & (relay["sender"] == NEWS)]
    mine = relay[relay["msg"].isin(set(burst["msg"])) & (relay["event"] == event)]
    big = mine["recipient"].astype(str).str.endswith("@big.example")
    return np.sort(mine[big]["t"].to_numpy())


def count_burst(run: Run) -> int:
    events = run.events
    received = events[(events["node"] == RELAY) & (events["event"] == "received")]
    return int((received["sender"] == NEWS).sum())


def waves(times: np.ndarray, width: float, minimum: int) -> list[float]:
    """Start times of the bins of ``width`` seconds that hold at least ``minimum`` events."""
    bins = np.floor(times / width).astype(int)
    counts = pd.Series(bins).value_counts().sort_index()
    return [float(b * width) for b, c in counts.items() if c >= minimum]


def test_qshape_shows_the_destination_backlog_at_the_end_of_the_outage(run: Run) -> None:
    table = run.qshape(RELAY, ("deferred",), at=UP - 1)
    assert table.index[0] == "TOTAL" and table.index[1] == "big.example"
    assert table.loc["big.example", "T"] == table.loc["TOTAL", "T"] > BURST
    ages = table.loc["big.example"].drop("T")
    # messages of every age since the outage began: the oldest (from 1:00, 5 h old) in the
    # 320-minute bucket, and nothing older
    assert ages["320"] > 0 and ages["640"] == 0 and (ages[["5", "10", "20", "40"]] > 0).all()


def test_burst_is_retried_in_waves_maximal_backoff_time_apart(run: Run) -> None:
    settings = scenario().hosts[RELAY].postfix
    delay = settings.seconds("queue_run_delay")
    backoff = settings.seconds("maximal_backoff_time")
    attempts = burst_events(run, "deferred")
    starts = waves(attempts, delay, minimum=BURST // 2)
    capped = [t for t in starts if t - BURST_AT >= backoff]
    gaps = np.diff(capped)
    expected = math.ceil(backoff / delay) * delay  # due times wait for the next scan
    assert len(gaps) >= 2 and set(gaps) == {expected}


def test_backlog_goes_out_in_the_first_wave_after_recovery(run: Run) -> None:
    settings = scenario().hosts[RELAY].postfix
    delay = settings.seconds("queue_run_delay")
    backoff = settings.seconds("maximal_backoff_time")
    sent = burst_events(run, "sent")
    burst_size = count_burst(run)
    assert len(sent) == burst_size  # nothing lost: every recipient delivered in the end
    assert sent.min() >= UP  # none before the destination came back
    wave = waves(sent, delay, minimum=burst_size // 2)
    assert len(wave) == 1 and UP <= wave[0] < UP + backoff + delay
    in_wave = ((sent >= wave[0]) & (sent < wave[0] + delay)).mean()
    assert in_wave > 0.8
