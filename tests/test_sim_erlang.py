"""One MTA stage against queueing theory: smtpd as an M/M/c queue (Erlang C) and Little's law.

Poisson(lambda) arrivals, Exp(mu) smtpd service, c = smtpd_process_limit, everything else free.
For each (lambda, mu, c) the theoretical mean wait in queue and P(wait > 0) must lie inside the
99 % confidence interval of 20 seeded replications (Student t over the replication means, after
a warm-up cut), and so must the mean time in the stage W = Wq + 1/mu; Little's law L = lambda W
must hold on the same runs (time-average number in the stage against rate times mean sojourn).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mailsim.sim import Simulation

from builders import single_stage

REPLICATIONS = 20
WARMUP = 200.0


def erlang_c(lam: float, mu: float, c: int) -> tuple[float, float]:
    """Return (P(wait > 0), mean wait in queue) of an M/M/c queue."""
    a = lam / mu
    rho = a / c
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / (math.factorial(c) * (1 - rho))
    p_wait = tail / (head + tail)
    return p_wait, p_wait / (c * mu - lam)


def replication(lam: float, mu: float, c: int, duration: float, seed: int) -> dict[str, float]:
    sim = Simulation(single_stage(lam, mu, c, duration, seed))
    sim.run()
    frame = sim.log.to_frame()
    events = frame["event"].astype(str)
    submit = frame[events == "submit"].set_index(frame["msg"][events == "submit"].astype(str))["t"]
    connect = frame[events == "connect"].set_index(frame["msg"][events == "connect"].astype(str))
    done = frame[events == "received"].set_index(frame["msg"][events == "received"].astype(str))
    table = pd.DataFrame({"arrive": submit, "start": connect["t"], "leave": done["t"]}).dropna()
    window = table[(table["arrive"] >= WARMUP) & (table["arrive"] < duration)]
    wait = window["start"] - window["arrive"]
    sojourn = window["leave"] - window["arrive"]
    # L over the whole run (empty at both ends): time-average of the step function N(t) built
    # from the stream of +1 (submit) and -1 (received) events, independent of message pairing.
    steps = frame[events.isin(["submit", "received"])]
    change = np.where(steps["event"].astype(str) == "submit", 1, -1)
    times = steps["t"].to_numpy()
    order = np.argsort(times, kind="stable")
    times, change = times[order], change[order]
    level = np.cumsum(change)
    horizon = times[-1] - times[0]
    in_system = float(np.sum(level[:-1] * np.diff(times)) / horizon)
    whole = table["leave"] - table["arrive"]
    arrival_rate = len(table) / horizon
    return {
        "wait": float(wait.mean()),
        "p_wait": float((wait > 1e-12).mean()),
        "L": in_system,
        "lambda_W": float(arrival_rate * whole.mean()),
        "sojourn": float(sojourn.mean()),
    }


def interval(values: list[float], confidence: float = 0.99) -> tuple[float, float]:
    data = np.asarray(values)
    half = (
        stats.t.ppf((1 + confidence) / 2, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data))
    )
    return float(data.mean() - half), float(data.mean() + half)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lam", "mu", "c", "duration"),
    [(2.0, 1.0, 3, 2500.0), (8.0, 1.0, 10, 1200.0), (4.5, 1.0, 5, 2500.0)],
    ids=["rho=0.67", "rho=0.80", "rho=0.90"],
)
def test_smtpd_stage_matches_erlang_c_and_littles_law(
    lam: float, mu: float, c: int, duration: float
) -> None:
    runs = [replication(lam, mu, c, duration, seed) for seed in range(1, REPLICATIONS + 1)]
    p_wait, mean_wait = erlang_c(lam, mu, c)
    low, high = interval([r["wait"] for r in runs])
    assert low <= mean_wait <= high, (mean_wait, low, high)
    low, high = interval([r["p_wait"] for r in runs])
    assert low <= p_wait <= high, (p_wait, low, high)
    for r in runs:  # Little's law is a sample-path identity over a run that starts and ends empty
        assert r["L"] == pytest.approx(r["lambda_W"], rel=1e-9)
    low, high = interval([r["sojourn"] for r in runs])
    assert low <= mean_wait + 1 / mu <= high, (mean_wait + 1 / mu, low, high)


def test_erlang_c_formula_known_value() -> None:
    """Textbook check: a = 2 Erlang on c = 3 servers waits with probability 4/9."""
    p_wait, wait = erlang_c(2.0, 1.0, 3)
    assert p_wait == pytest.approx(4 / 9)
    assert wait == pytest.approx(4 / 9)
