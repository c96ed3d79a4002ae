"""The ``mailsim`` command line (DESIGN.md section 6).

``mailsim simulate SCENARIO --out DIR`` runs a scenario in the simulation, prints the summary and
writes the report (PNG charts, HTML, CSV tables). ``mailsim validate SCENARIO`` loads a scenario
and lists every problem in it. Later issues add ``lab``, ``replay``, ``sweep``, ``report``,
``qshape`` and ``certs``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mailsim.errors import MailsimError
from mailsim.units import parse_duration

__all__ = ["main"]


def _simulate(args: argparse.Namespace) -> int:
    from mailsim.analysis import format_summary, write_report
    from mailsim.scenario import load_scenario
    from mailsim.sim import simulate

    scenario = load_scenario(args.scenario)
    until = parse_duration(args.until) if args.until else None
    started = time.perf_counter()
    run = simulate(scenario, seed=args.seed, until=until, progress=not args.quiet)
    elapsed = time.perf_counter() - started
    print(format_summary(run))
    print(f"\nsimulated {len(run.events):,} events in {elapsed:.2f} s wall time")
    if args.out:
        out = Path(args.out)
        report = write_report(run, out, title=f"mailsim: {scenario.name}")
        if args.events:
            run.to_csv(out / "events.csv.gz")
        print(f"report written to {report}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from mailsim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    print(
        f"{args.scenario}: ok - {len(scenario.hosts)} hosts, {len(scenario.users)} users, "
        f"{len(scenario.workload.streams)} workload streams"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (exposed for tests and shell completion)."""
    parser = argparse.ArgumentParser(prog="mailsim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="run a scenario in the simulation")
    sim.add_argument("scenario", help="scenario YAML file")
    sim.add_argument("--out", help="directory for the report (charts, HTML, tables)")
    sim.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    sim.add_argument("--until", default=None, help="stop the clock here (e.g. 2h)")
    sim.add_argument("--events", action="store_true", help="also write events.csv.gz")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(handler=_simulate)
    val = commands.add_parser("validate", help="load a scenario and report every problem")
    val.add_argument("scenario", help="scenario YAML file")
    val.set_defaults(handler=_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for bad input, with a clear message)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except MailsimError as error:
        print(f"mailsim: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"mailsim: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
