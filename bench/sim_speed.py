"""How fast is the simulation? mailsim against bare SimPy and Ciw on the same M/M/c queue.

Prints a table and, as its last line, one JSON object with the figures. Everything is measured in
this run on this machine, so the ratios (not the absolute numbers) are what to compare:

* mailsim on ``data/scenarios/firma1.yaml``: simulated messages per wall-clock second;
* mailsim on a single-stage M/M/c scenario (smtpd with Exp(mu) service and c processes; cleanup,
  qmgr and local free): messages/s and *stage visits*/s (each message visits smtpd, cleanup, qmgr
  and local: 4 visits);
* bare SimPy: the textbook Resource-based M/M/c customer (process, request, timeout, release);
* Ciw: the same M/M/c network;
* peak RSS of a 1,000,000-message M/M/c run, in a fresh process.

Targets (issue 2): stage visits/s >= SimPy customers/s and >= 2x Ciw's customers/s; the
million-message run under 1 GiB. The whole-message rate against Ciw is printed too.

Usage: ``python bench/sim_speed.py [--messages N] [--big N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

LAMBDA, MU, SERVERS = 8.0, 1.0, 10
STAGES_PER_MESSAGE = 4


def best_of(repeat: int, func, *args):  # type: ignore[no-untyped-def]
    """Return the fastest (seconds, result) of ``repeat`` runs (least disturbed by noise).

    Every contestant runs with the garbage-collector thresholds mailsim uses for its own runs
    (``fewer_gc_passes``), so the comparison is of the simulators, not of GC settings.
    """
    from mailsim.sim.engine import fewer_gc_passes

    results = []
    for _ in range(repeat):
        start = time.perf_counter()
        with fewer_gc_passes():
            value = func(*args)
        results.append((time.perf_counter() - start, value))
    return min(results, key=lambda item: item[0])


def mailsim_mmc(customers: int) -> int:
    from mailsim.sim import Simulation

    from builders import single_stage

    sim = Simulation(single_stage(LAMBDA, MU, SERVERS, customers / LAMBDA, seed=1))
    sim.run()
    return sim.arrived


def mailsim_firma1() -> int:
    from mailsim.scenario import load_scenario
    from mailsim.sim import Simulation

    sim = Simulation(load_scenario(ROOT / "data" / "scenarios" / "firma1.yaml"))
    sim.run()
    return sim.arrived


def simpy_mmc(customers: int) -> int:
    """The classic SimPy M/M/c: one process per customer using a Resource."""
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    rng = np.random.default_rng(1)
    gaps = rng.exponential(1 / LAMBDA, customers).tolist()
    services = rng.exponential(1 / MU, customers).tolist()
    done = [0]

    def customer(service: float):  # type: ignore[no-untyped-def]
        with servers.request() as request:
            yield request
            yield env.timeout(service)
        done[0] += 1

    def source():  # type: ignore[no-untyped-def]
        for gap, service in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(customer(service))

    env.process(source())
    env.run()
    return done[0]


def ciw_mmc(customers: int) -> int:
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAMBDA)],
        service_distributions=[ciw.dists.Exponential(rate=MU)],
        number_of_servers=[SERVERS],
    )
    ciw.seed(1)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(customers, method="Finish")
    return len(simulation.get_all_records())


def peak_rss_of_big_run(messages: int) -> tuple[float, float]:
    """Run a ``messages``-message M/M/c simulation in a fresh process; return (MiB, seconds)."""
    code = (
        "import resource, sys, time; sys.path.insert(0, sys.argv[1]);"
        "sys.argv = sys.argv[:1] + sys.argv[2:];"
        "from bench.sim_speed import mailsim_mmc;"
        "t = time.perf_counter(); n = mailsim_mmc(int(sys.argv[1]));"
        "print(n, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(messages)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.split()
    return int(out[2]) / 1024.0, float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000, help="customers per M/M/c run")
    parser.add_argument("--big", type=int, default=1_000_000, help="messages in the RSS run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.messages

    firma1_s, firma1_n = best_of(args.repeat, mailsim_firma1)
    mailsim_s, mailsim_n = best_of(args.repeat, mailsim_mmc, n)
    simpy_s, simpy_n = best_of(args.repeat, simpy_mmc, n)
    ciw_s, ciw_n = best_of(args.repeat, ciw_mmc, n)
    rss_mib, big_s = peak_rss_of_big_run(args.big)

    figures = {
        "firma1_messages_per_s": firma1_n / firma1_s,
        "mmc_messages_per_s": mailsim_n / mailsim_s,
        "mmc_stage_visits_per_s": STAGES_PER_MESSAGE * mailsim_n / mailsim_s,
        "simpy_customers_per_s": simpy_n / simpy_s,
        "ciw_customers_per_s": ciw_n / ciw_s,
        "big_run_messages": args.big,
        "big_run_seconds": big_s,
        "big_run_peak_rss_mib": rss_mib,
    }
    figures["stage_visit_vs_simpy"] = (
        figures["mmc_stage_visits_per_s"] / figures["simpy_customers_per_s"]
    )
    figures["stage_visit_vs_ciw"] = (
        figures["mmc_stage_visits_per_s"] / figures["ciw_customers_per_s"]
    )
    figures["message_vs_ciw"] = figures["mmc_messages_per_s"] / figures["ciw_customers_per_s"]

    rows = [
        (
            "mailsim firma1.yaml",
            f"{firma1_n:,} msgs",
            f"{figures['firma1_messages_per_s']:,.0f} msg/s",
        ),
        ("mailsim M/M/c", f"{mailsim_n:,} msgs", f"{figures['mmc_messages_per_s']:,.0f} msg/s"),
        (
            "  stage visits",
            f"{STAGES_PER_MESSAGE * mailsim_n:,}",
            f"{figures['mmc_stage_visits_per_s']:,.0f} visits/s",
        ),
        (
            "bare SimPy M/M/c",
            f"{simpy_n:,} cust",
            f"{figures['simpy_customers_per_s']:,.0f} cust/s",
        ),
        ("Ciw M/M/c", f"{ciw_n:,} cust", f"{figures['ciw_customers_per_s']:,.0f} cust/s"),
        (
            "stage visit / SimPy customer",
            "",
            f"{figures['stage_visit_vs_simpy']:.2f}x (target >= 1)",
        ),
        (
            "stage visit / Ciw customer",
            "",
            f"{figures['stage_visit_vs_ciw']:.2f}x (target >= 2)",
        ),
        (
            "whole message / Ciw customer",
            "",
            f"{figures['message_vs_ciw']:.2f}x (4 visits + 7 events per message)",
        ),
        (
            f"{args.big:,}-message run",
            f"{big_s:.1f} s",
            f"peak RSS {rss_mib:,.0f} MiB (target < 1024)",
        ),
    ]
    print(f"M/M/c: lambda={LAMBDA}/s, mu={MU}/s, c={SERVERS}; best of {args.repeat}")
    width = max(len(r[0]) for r in rows)
    for name, size, figure in rows:
        print(f"{name:<{width}}  {size:>14}  {figure}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
