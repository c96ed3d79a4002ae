"""``mailsim replay LOG --scenario S``: a real Postfix log's offered load, through the model.

The log's clients' transactions (:mod:`mailsim.workload.replay`) become the scenario's
workload; the simulation runs them, and the command prints the model's pflogsumm totals next
to the log's own, so "would this setup have coped with last week?" is answered in the words
the administrator already reads. ``--speed 2`` replays twice as fast, ``--thin 0.5`` keeps
half the messages (seeded), ``--host neo=neo.firma1.intr`` maps the log's host field, and
``--live`` sends the arrivals to the live lab with real SMTP clients instead
(:mod:`mailsim.live.driver`; the lab does not relay yet, so mail for other hosts is refused with
a 4xx there).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailsim.errors import MailsimError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_replay_command", "compare_totals"]


def add_replay_command(commands: Any) -> None:
    """Register ``replay`` on the CLI's sub-command parser."""
    replay = commands.add_parser(
        "replay", help="run a real Postfix log's offered load through a scenario"
    )
    replay.add_argument("log", help="Postfix mail log (plain or compressed)")
    replay.add_argument("--scenario", required=True, help="scenario YAML to replay into")
    replay.add_argument("--speed", type=float, default=1.0, help="replay K times as fast")
    replay.add_argument(
        "--thin", type=float, default=1.0, help="keep each message with probability P"
    )
    replay.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="LOGHOST=HOST",
        help="map the log's host field to a scenario host (default: by first label)",
    )
    replay.add_argument("--year", type=int, default=None, help="year of syslog timestamps")
    replay.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    replay.add_argument("--out", help="directory for the replay's report")
    replay.add_argument("--events", action="store_true", help="also write events.csv.gz")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.add_argument(
        "--live",
        action="store_true",
        help="send the arrivals to the live lab (real SMTP clients) instead of simulating them",
    )
    replay.add_argument("--lab-dir", default=None, help="the live lab's directory (--live)")
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from mailsim.analysis import Run, write_report
    from mailsim.postfixlog import build_log, parse_log
    from mailsim.scenario import load_scenario
    from mailsim.sim import simulate
    from mailsim.streams import RandomStreams
    from mailsim.workload.replay import ReplayStats, arrivals_of

    source = Path(args.log)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file")
    hosts = dict(_mapping(item) for item in args.host)
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed
    stats = ReplayStats()
    items, parsed = parse_log(source, args.year)  # once: for the arrivals and the log's report
    arrivals = list(
        arrivals_of(
            items,
            scenario,
            RandomStreams(seed).generator("workload/replay"),
            speed=1.0 if args.live else args.speed,
            thin=args.thin,
            hosts=hosts,
            stats=stats,
        )
    )
    duration = (arrivals[-1].t if arrivals else 0.0) + 1.0
    where = "the live lab" if args.live else scenario.name
    print(f"replaying {source.name} into {where}: {stats}")
    started = time.perf_counter()
    if args.live:
        from mailsim.live.background import BackgroundLab

        with BackgroundLab(scenario, args.lab_dir) as lab:
            clients = lab.drive(arrivals, time_scale=args.speed)
            run = lab.run(f"replay of {source.name}")
        print(f"clients: {clients}")
    else:
        run = simulate(
            scenario.replace(duration=duration),
            seed=seed,
            arrivals=iter(arrivals),
            progress=not args.quiet,
        )
    elapsed = time.perf_counter() - started
    run.meta.update(replay=str(source), speed=args.speed, thin=args.thin)
    recorded = Run(build_log(items, parsed).events, name=source.name)
    targets = sorted({arrival.connect_to for arrival in arrivals})  # the hosts that wrote the log
    print(f"{'ran' if args.live else 'simulated'} {len(run.events):,} events in {elapsed:.2f} s\n")
    print(compare_totals(recorded.pflogsumm().totals, run.pflogsumm(nodes=targets).totals))
    if args.out:
        out = Path(args.out)
        page = write_report(run, out, title=f"mailsim replay: {source.name}", mail_log=True)
        if args.events:
            run.to_csv(out / "events.csv.gz")
        print(f"\nreport written to {page}")
    return 0


def _mapping(item: str) -> tuple[str, str]:
    logged, sep, host = item.partition("=")
    if not sep or not logged or not host:
        raise MailsimError(f"--host {item!r}: expected LOGHOST=HOST, e.g. neo=neo.firma1.intr")
    return logged, host


def compare_totals(recorded: pd.DataFrame, replayed: pd.DataFrame) -> str:
    """pflogsumm's Grand Totals of the log and of the replay, side by side."""
    mine = dict(zip(replayed["metric"], replayed["value"], strict=True))
    rows = [("", "log", "replay")]
    for metric, value in zip(recorded["metric"], recorded["value"], strict=True):
        rows.append((str(metric), f"{int(value):,}", f"{int(mine.get(metric, 0)):,}"))
    width = max(len(row[0]) for row in rows)
    return "\n".join(f"{name:<{width}}  {log:>12}  {replay:>12}" for name, log, replay in rows)
