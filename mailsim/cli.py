"""The ``mailsim`` command line (DESIGN.md section 6).

``mailsim simulate SCENARIO --out DIR`` runs a scenario in the simulation, prints the summary and
writes the report (PNG charts, HTML, CSV tables). ``mailsim validate SCENARIO`` loads a scenario
and lists every problem in it. ``mailsim qshape SCENARIO_OR_EVENTS [queues] --at 3h`` prints
Postfix's qshape table of a node's queues at an instant. ``mailsim certs [--dir D] [--scenario S]``
creates the lab CA and host certificates and explains each file (the lecture's openssl steps);
``mailsim dig DOMAIN [TYPE] --scenario S`` asks the scenario's lab DNS and prints what ``dig``
would. ``mailsim report RUN_OR_LOG [--out DIR]`` prints the pflogsumm-style report of a scenario
(simulated first), an event log (``--events``) or a Postfix mail log; ``mailsim simulate ...
--maillog DIR_OR_FILE`` also writes the run as Postfix's mail log. ``mailsim replay LOG
--scenario S`` runs a real Postfix log's offered load through a scenario and compares the totals
(:mod:`mailsim.cli_replay`). A later issue adds ``sweep``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mailsim.cli_replay import add_replay_command
from mailsim.errors import MailsimError

if TYPE_CHECKING:
    from mailsim.analysis import Run
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
    if args.start:
        run.meta["start"] = args.start  # t = 0 of the mail log and the mail-log charts
    print(format_summary(run))
    print(f"\nsimulated {len(run.events):,} events in {elapsed:.2f} s wall time")
    if args.out:
        out = Path(args.out)
        report = write_report(run, out, title=f"mailsim: {scenario.name}", mail_log=True)
        if args.events:
            run.to_csv(out / "events.csv.gz")
        print(f"report written to {report}")
    if args.maillog:
        files = _write_maillog(run, args.maillog)
        where = files[0] if len(files) == 1 else f"{len(files)} files in {files[0].parent}"
        print(f"mail log written to {where}")
    return 0


def _write_maillog(run: Run, target: str) -> list[Path]:
    """One file, or one file per MTA when ``target`` is a directory (or ends with a slash)."""
    import os

    per_node = target.endswith(("/", os.sep)) or Path(target).is_dir()
    return run.to_postfix_log(target, per_node=per_node)


_EVENT_LOG_HEADER = "t,node,daemon,event,"


def _report_source(path: Path) -> str:
    """What ``mailsim report`` was given: "scenario", "csv", "parquet" or "maillog"."""
    name = path.name.lower()
    if name.endswith((".yaml", ".yml")):
        return "scenario"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    import gzip

    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as stream:
        first = stream.readline()
    return "csv" if first.startswith(_EVENT_LOG_HEADER) else "maillog"


def _report(args: argparse.Namespace) -> int:
    from mailsim.analysis import Run, write_report

    source = Path(args.source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file")
    kind = _report_source(source)
    run: Run
    if kind == "scenario":
        from mailsim.scenario import load_scenario
        from mailsim.sim import simulate

        until = parse_duration(args.until) if args.until else None
        run = simulate(load_scenario(source), seed=args.seed, until=until, progress=not args.quiet)
    elif kind == "parquet":
        run = Run.read_parquet(source)
    elif kind == "csv":
        run = Run.read_csv(source)
    else:
        run = _read_maillog(source)
    if args.start:
        run.meta["start"] = args.start  # the text, the page and its charts alike
    report = run.pflogsumm(nodes=args.node or None)
    print(report.to_text(top=args.top), end="")
    if args.out:
        page = write_report(run, args.out, title=f"mailsim report: {run.name}", mail_log=True)
        print(f"\nreport written to {page}")
    return 0


def _read_maillog(source: Path) -> Run:
    """A run from a Postfix mail log (plain or compressed), through mailsim.postfixlog."""
    from mailsim.analysis import Run

    try:
        from mailsim.postfixlog.events import read_log
    except ImportError as error:
        raise MailsimError(
            f"{source}: looks like a Postfix mail log, but the Postfix log parser "
            f"(mailsim.postfixlog.events.read_log) is not available ({error}); give a "
            "scenario YAML or an event log written by 'mailsim simulate --events'"
        ) from error
    log = read_log(source)
    meta = {"source": str(source), "engine": "postfix log"}
    if log.start is not None:
        meta["start"] = log.start.isoformat()
    return Run(log.events, name=source.name, meta=meta)


def _load_run(source: str, seed: int | None, quiet: bool) -> Run:
    """A run from a scenario (simulated now) or from an event log written by --events."""
    from mailsim.analysis import Run
    from mailsim.scenario import load_scenario
    from mailsim.sim import simulate

    if source.endswith((".yaml", ".yml")):
        return simulate(load_scenario(source), seed=seed, progress=not quiet)
    return Run.read_csv(source)


def _qshape(args: argparse.Namespace) -> int:
    at = parse_duration(args.at) if args.at else None
    run = _load_run(args.source, args.seed, args.quiet)
    nodes = [args.node] if args.node else run.nodes
    for node in nodes:
        if len(nodes) > 1:
            print(f"{node}:")
        print(
            run.format_qshape(
                node,
                args.queues,
                at=at,
                by="sender" if args.sender else "recipient",
                buckets=args.buckets,
                bucket_time=args.bucket_time,
            )
        )
    return 0


def _lab(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from mailsim.live.addressing import lab_plan
    from mailsim.live.lab import Lab, ephemeral_ports
    from mailsim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    plan = lab_plan(scenario, port_offset=args.port_offset)
    if args.ephemeral:
        plan = ephemeral_ports(plan)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Lab(scenario, args.dir, plan=plan) as lab:
            print(lab.table())
            print(f"\nlab is up: {scenario.name}, files in {args.dir}; Ctrl-C stops it")
            print(f"event log: {lab.events.path if lab.events else None}", flush=True)
            await stop.wait()
        print("lab stopped", flush=True)

    asyncio.run(serve())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from mailsim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    print(
        f"{args.scenario}: ok - {len(scenario.hosts)} hosts, {len(scenario.users)} users, "
        f"{len(scenario.workload.streams)} workload streams"
    )
    return 0


def _certs(args: argparse.Namespace) -> int:
    from mailsim.live.addressing import lab_plan
    from mailsim.live.tls import LabCA, explain_certificates
    from mailsim.scenario import load_scenario

    ca = LabCA(args.dir)
    issued, example = [], ""
    if args.scenario:
        plan = lab_plan(load_scenario(args.scenario), port_offset=0)
        issued = [ca.issue(host.name, [host.address]) for host in plan.hosts]
        # explained on the host with the most services (the lecture's neo in firma1)
        example = max(plan.hosts, key=lambda host: len(host.ports)).name
    print(explain_certificates(ca, issued, example))
    return 0


def _dig(args: argparse.Namespace) -> int:
    import dns.rdatatype

    from mailsim.live.addressing import lab_plan
    from mailsim.live.dns import LabDNSServer, dig
    from mailsim.scenario import load_scenario

    try:
        dns.rdatatype.from_text(args.type)
    except dns.rdatatype.UnknownRdatatype:
        raise ValueError(f"unknown record type {args.type!r} (try A, MX, NS, SOA, ANY)") from None
    plan = lab_plan(load_scenario(args.scenario), port_offset=0)
    with LabDNSServer(plan.zones, "127.0.0.1", 0) as server:
        print(dig(args.domain, args.type, server.address, server.port, tcp=args.tcp), end="")
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
    sim.add_argument(
        "--maillog",
        metavar="DIR_OR_FILE",
        help="also write the run as a Postfix mail log: one file (.gz: compressed), or one "
        "<node>.log per MTA in a directory (an existing one, or a name ending in /)",
    )
    sim.add_argument(
        "--start",
        default=None,
        help="wall-clock time of t = 0 in the mail log, ISO 8601 (default 2026-01-05T00:00Z)",
    )
    sim.set_defaults(handler=_simulate)
    rep = commands.add_parser(
        "report",
        help="pflogsumm-style report of a scenario (simulated), event log or Postfix mail log",
    )
    rep.add_argument(
        "source",
        help="scenario YAML (simulated first), event log CSV/Parquet (simulate --events) or "
        "Postfix mail log (plain or .gz)",
    )
    rep.add_argument("--out", help="directory for report.html, charts and pflogsumm.txt")
    rep.add_argument("--node", action="append", help="only this MTA (repeatable)")
    rep.add_argument("--top", type=int, default=10, help="rows per ranking (0: all)")
    rep.add_argument("--start", default=None, help="wall-clock time of t = 0, ISO 8601")
    rep.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    rep.add_argument("--until", default=None, help="stop the clock here (e.g. 2h)")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(handler=_report)
    add_replay_command(commands)
    shape = commands.add_parser(
        "qshape", help="Postfix qshape(1) table of a node's queues at an instant of a run"
    )
    shape.add_argument("source", help="scenario YAML (simulated first) or events CSV (--events)")
    shape.add_argument(
        "queues",
        nargs="*",
        default=["incoming", "active"],
        help="queues to show: incoming active deferred hold (default: incoming active)",
    )
    shape.add_argument("--node", help="MTA host name (default: every node)")
    shape.add_argument("--at", help="instant in scenario time, e.g. 3h (default: end of run)")
    shape.add_argument("-s", "--sender", action="store_true", help="sender domains (qshape -s)")
    shape.add_argument("-b", "--buckets", type=int, default=10, help="number of age buckets")
    shape.add_argument(
        "-t", "--bucket-time", type=float, default=5.0, help="first bucket's width in minutes"
    )
    shape.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    shape.add_argument("--quiet", action="store_true", help="no progress bar")
    shape.set_defaults(handler=_qshape)
    lab = commands.add_parser("lab", help="the live lab: real servers on loopback")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)
    up = lab_commands.add_parser(
        "up", help="start SMTP, submission, SMTPS, POP3, POP3S and DNS for every host"
    )
    up.add_argument("scenario", help="scenario YAML file")
    up.add_argument("--dir", default="lab", help="directory for mail stores and TLS files")
    up.add_argument(
        "--port-offset",
        type=int,
        default=None,
        help="add this to the standard ports (default: 0 if they can be bound, else 10000)",
    )
    up.add_argument(
        "--ephemeral",
        action="store_true",
        help="let the system pick free ports (printed in the table)",
    )
    up.set_defaults(handler=_lab)
    val = commands.add_parser("validate", help="load a scenario and report every problem")
    val.add_argument("scenario", help="scenario YAML file")
    val.set_defaults(handler=_validate)
    certs = commands.add_parser(
        "certs", help="create (or reuse) the lab CA and host certificates and explain each file"
    )
    certs.add_argument("--dir", default="lab/tls", help="directory of the files (default lab/tls)")
    certs.add_argument("--scenario", help="scenario YAML: also issue a certificate for every host")
    certs.set_defaults(handler=_certs)
    lookup = commands.add_parser(
        "dig", help="ask the lab DNS of a scenario (started in-process) and print what dig would"
    )
    lookup.add_argument("domain", help="name to look up, e.g. firma1.intr")
    lookup.add_argument("type", nargs="?", default="A", help="record type (default A), e.g. MX")
    lookup.add_argument("--scenario", required=True, help="scenario YAML file")
    lookup.add_argument("--tcp", action="store_true", help="ask over TCP (dig +tcp)")
    lookup.set_defaults(handler=_dig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for bad input, with a clear message)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except MailsimError as error:
        print(f"mailsim: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as error:
        print(f"mailsim: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
