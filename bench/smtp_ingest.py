"""SMTP ingest: messages/s into our live smtpd against a plain aiosmtpd, driven by smtp-source.

Postfix's load generator ``smtp-source`` (Debian package ``postfix``) sends ``--messages``
messages of 4 KiB (``-l 4096``) over 20 parallel sessions (``-s 20``), one connection per message
(smtp-source's default without ``-d``), from 127.0.0.1 to ``jura@firma1.intr``. Two servers are
measured in the same run, alternately (the order swaps every repetition), each in its own
process started afresh for every repetition and listening on 127.0.0.1, port 0:

* **aiosmtpd**: the reference, aiosmtpd's ``SMTP`` protocol with a handler whose
  ``handle_DATA`` returns ``250 OK`` and keeps nothing;
* **ours**: :class:`mailsim.live.smtp_server.SMTPServer` for the lecture's host
  ``neo.firma1.intr`` (``tests/smtp_fakes.py``: its main.cf, aliases, users and jura's procmail
  rule), every policy check, and durable delivery into jura's Maildir (write, fsync, rename,
  fsync the directory and the uidlist, all before the ``250``).

Reported: messages/s per server (the median of the repetitions), the server process's CPU time
per message, and the ratio ours/aiosmtpd. Afterwards every repetition of ours is checked to have
stored exactly ``--messages`` files in jura's ``new/``, and aiosmtpd to have seen as many DATA.

Target (issue 4): ours >= 0.7x aiosmtpd's messages/s.

Usage: ``python bench/smtp_ingest.py [--messages N] [--repeat K] [--sessions S] [--size B]``.
Exits 2, installing nothing, if smtp-source is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SERVERS = ("aiosmtpd", "ours")
SENDER = "anna@firma2.intr"
RECIPIENT = "jura@firma1.intr"
#: a guard for a child that never says it listens; never a way to wait for something
START_GUARD_S = 30.0


# -- the server processes (shared with bench/pop3_retr.py) --------------------------------------
class ChildServer:
    """A server child process that prints ``PORT <n>`` once it listens, and stops on SIGTERM.

    Started by :meth:`__enter__`, which returns once the port line has come (or raises with the
    child's stderr); :meth:`stop` sends SIGTERM and returns what the child printed after the port
    line. The child's stderr goes to a file, so a chatty child never blocks on a full pipe.
    """

    def __init__(self, argv: Sequence[str], workdir: Path, name: str) -> None:
        self.argv = list(argv)
        self.stderr_path = workdir / f"{name}.stderr"
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ChildServer:
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT
            )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_GUARD_S)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.process.kill()
            self.process.wait()
            raise RuntimeError(
                f"{self.argv[:4]} did not start (said {line!r}):\n{self.stderr_path.read_text()}"
            )
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> str:
        """SIGTERM the child, wait for it, and return the rest of its stdout."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=START_GUARD_S)
        if self.process.returncode != 0:
            raise RuntimeError(
                f"{self.argv[:4]} exited {self.process.returncode}:\n{self.stderr_path.read_text()}"
            )
        return out

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``, its live descendants and the children
    they have reaped (Linux /proc; 0.0 elsewhere). A forking server (Dovecot) is counted whole."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        # after "(comm)": state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based 14-17
        stats[int(entry.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]) / ticks)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def serve_until_sigterm(
    start: Callable[[], Awaitable[int]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Run ``await start()`` (which returns the port), print ``PORT <n>``, serve until SIGTERM,
    then ``await stop()``, all on one asyncio loop (the child side of :class:`ChildServer`)."""

    async def serve() -> None:
        port = await start()
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        print(f"PORT {port}", flush=True)
        await stopping.wait()
        await stop()

    asyncio.run(serve())


# -- the two SMTP servers (child side) ---------------------------------------------------------
def serve_aiosmtpd() -> None:
    """The reference: aiosmtpd's SMTP protocol, a discarding handler, on 127.0.0.1:0."""
    from aiosmtpd.smtp import SMTP

    class Discard:
        received = 0

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.received += 1
            return "250 OK"

    handler = Discard()
    listener: list[asyncio.Server] = []

    async def start() -> int:
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(handler, hostname="reference.localhost"), "127.0.0.1", 0
        )
        listener.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop() -> None:
        listener[0].close()
        print(f"RECEIVED {handler.received}", flush=True)

    serve_until_sigterm(start, stop)


def serve_ours(root: Path) -> None:
    """Our smtpd for neo.firma1.intr, delivering into Maildirs under ``root``."""
    from mailsim.live.smtp_server import SMTPServer
    from mailsim.live.store import open_store

    from smtp_fakes import LECTURE_AUTH, NEO, lecture_scenario

    store = open_store(root, "maildir")
    store.recover()  # as the lab does before it accepts anyone
    server = SMTPServer.for_host(lecture_scenario(), NEO, store, auth=LECTURE_AUTH)

    async def start() -> int:
        await server.start()
        return server.port()

    async def stop() -> None:
        await server.close()
        print("RECEIVED -1", flush=True)  # what counts is what the Maildir holds

    serve_until_sigterm(start, stop)


# -- the measurement (parent side) -------------------------------------------------------------
def find_smtp_source() -> str | None:
    """smtp-source on PATH, or where Debian's postfix package puts it."""
    found = shutil.which("smtp-source")
    if found is None and os.access("/usr/sbin/smtp-source", os.X_OK):
        found = "/usr/sbin/smtp-source"
    return found


def stored_in_new(root: Path, user: str = "jura") -> int:
    """How many message files user's INBOX holds in ``new/``."""
    new = root / "home" / user / "Maildir" / "new"
    return sum(1 for name in os.listdir(new) if not name.startswith(".")) if new.is_dir() else 0


def one_run(
    kind: str, smtp_source: str, args: argparse.Namespace, workdir: Path, number: int
) -> dict[str, float]:
    """Start server ``kind`` afresh, let smtp-source send, stop it; return the figures."""
    root = workdir / f"{kind}-{number}"
    root.mkdir()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--root", str(root)]
    with ChildServer(argv, workdir, f"{kind}-{number}") as server:
        command = [
            smtp_source, "-s", str(args.sessions), "-l", str(args.size), "-m", str(args.messages),
            "-f", SENDER, "-t", RECIPIENT, "-M", "client.firma1.intr",
            f"127.0.0.1:{server.port}",
        ]  # fmt: skip
        cpu_before = tree_cpu_s(server.pid)
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        wall = time.perf_counter() - started
        cpu = tree_cpu_s(server.pid) - cpu_before
        said = server.stop()
    if result.returncode != 0:
        raise RuntimeError(
            f"smtp-source against {kind} exited {result.returncode}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    received = int(said.split()[-1]) if said.startswith("RECEIVED") else -1
    stored = stored_in_new(root) if kind == "ours" else received
    shutil.rmtree(root, ignore_errors=True)
    return {"seconds": wall, "cpu_s": cpu, "count": stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server")
    parser.add_argument("--sessions", type=int, default=20, help="smtp-source -s")
    parser.add_argument("--size", type=int, default=4096, help="smtp-source -l (payload bytes)")
    parser.add_argument("--timeout", type=float, default=600.0, help="guard per run, seconds")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "aiosmtpd":
        serve_aiosmtpd()
        return
    if args.serve == "ours":
        serve_ours(args.root)
        return

    smtp_source = find_smtp_source()
    if smtp_source is None:
        print(
            "smtp_ingest: smtp-source is not installed (not on PATH, no /usr/sbin/smtp-source). "
            "It is part of Debian's postfix package: apt-get install postfix. "
            "This benchmark installs nothing.",
            file=sys.stderr,
        )
        sys.exit(2)

    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in SERVERS}
    with tempfile.TemporaryDirectory(prefix="smtp-ingest-") as work:
        for number in range(args.repeat):
            order = SERVERS if number % 2 == 0 else SERVERS[::-1]
            for kind in order:
                runs[kind].append(one_run(kind, smtp_source, args, Path(work), number))

    n = args.messages
    rate = {kind: statistics.median(n / run["seconds"] for run in runs[kind]) for kind in SERVERS}
    cpu = {
        kind: statistics.median(1000 * run["cpu_s"] / n for run in runs[kind]) for kind in SERVERS
    }
    counts = {kind: [int(run["count"]) for run in runs[kind]] for kind in SERVERS}
    figures = {
        "messages": n,
        "repeat": args.repeat,
        "sessions": args.sessions,
        "size": args.size,
        "aiosmtpd_messages_per_s": rate["aiosmtpd"],
        "ours_messages_per_s": rate["ours"],
        "ratio_ours_vs_aiosmtpd": rate["ours"] / rate["aiosmtpd"],
        "aiosmtpd_cpu_ms_per_message": cpu["aiosmtpd"],
        "ours_cpu_ms_per_message": cpu["ours"],
        "aiosmtpd_runs_messages_per_s": [n / run["seconds"] for run in runs["aiosmtpd"]],
        "ours_runs_messages_per_s": [n / run["seconds"] for run in runs["ours"]],
        "aiosmtpd_received": counts["aiosmtpd"],
        "ours_stored": counts["ours"],
        "ours_stored_all": all(count == n for count in counts["ours"]),
    }

    print(
        f"SMTP ingest: smtp-source -s {args.sessions} -l {args.size} -m {n}, one connection "
        f"per message, 127.0.0.1 -> {RECIPIENT}; median of {args.repeat}"
    )
    rows = [
        ("server", "messages/s", "CPU ms/msg", "runs (messages/s)", "count per run"),
        *(
            (
                kind,
                f"{rate[kind]:,.0f}",
                f"{cpu[kind]:.2f}",
                " ".join(f"{n / run['seconds']:,.0f}" for run in runs[kind]),
                " ".join(map(str, counts[kind])),
            )
            for kind in SERVERS
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        f"ours / aiosmtpd: {figures['ratio_ours_vs_aiosmtpd']:.2f}x (target >= 0.7); "
        f"ours stored {'exactly' if figures['ours_stored_all'] else 'NOT'} {n} messages "
        "in jura's Maildir new/ each run (aiosmtpd: DATA seen, discarded)"
    )
    print(json.dumps(figures))
    if not figures["ours_stored_all"] or any(c != n for c in counts["aiosmtpd"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
