"""POP3 RETR throughput: our live POP3 server against Dovecot's pop3d, over the same Maildirs.

``--clients`` users (default 4) each get a Maildir of ``--messages / --clients`` messages
(default 1,000 in all; a mix of 1 to 8 KiB, about 4 KiB on average), delivered by our store.
Both servers serve these very Maildirs, each in its own process(es) on 127.0.0.1, in the same
run and alternately (the order swaps every repetition):

* **Dovecot**: ``dovecot -F`` with a minimal configuration written in a temporary directory
  (``protocols = pop3``, ``mail_location = maildir:~/Maildir``, a passwd-file passdb and userdb,
  no TLS, plaintext logins allowed, run and state directories of its own; /etc/dovecot is never
  read). Dovecot serves no mail as root, so when the benchmark runs as root, both servers serve
  the Maildirs as ``nobody``;
* **ours**: :class:`mailsim.live.pop3.POP3Server` on the :func:`mailsim.live.store.open_store`
  Maildir store, its passdb read from the same passwd-file (the same PBKDF2 hashes).

The client is the same for both: ``--clients`` processes at once, each a Python ``poplib``
session that logs in (USER/PASS), STATs, UIDLs, RETRs every message of its mailbox and QUITs
(deleting nothing). A first pass per server is a warm-up (caches, Dovecot's indexes, \\Seen
flags) and is not counted. Reported: messages/s and MB/s per server (the median of the
repetitions; a pass is timed from the first connect to the last QUIT), the server processes' CPU
time per message (/proc; Dovecot: its master and all its children), and the ratio ours/Dovecot.
Every pass is checked to have retrieved every message, and both servers to have sent the same
bytes; whether they gave the same UIDLs is reported too (Dovecot prints its default
``%08Xu%08Xv`` in lower-case hex).

Target (issue 4): ours >= 0.5x Dovecot's messages/s.

Usage: ``python bench/pop3_retr.py [--messages N] [--clients C] [--repeat K]``.
Exits 2, installing nothing, if Dovecot's pop3d is missing.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import json
import multiprocessing
import multiprocessing.pool
import os
import poplib
import pwd
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.smtp_ingest import START_GUARD_S, ChildServer, serve_until_sigterm, tree_cpu_s  # noqa: E402

SERVERS = ("dovecot", "ours")
POP3_BINARY = Path("/usr/lib/dovecot/pop3")
#: message sizes in KiB, cycled through (mean 4.1 KiB)
SIZES_KIB = (1, 2, 3, 4, 4, 4, 5, 6, 8)
PROSE = (
    "Dobry den, posilam slibene podklady k objednavce a prosim o potvrzeni terminu dodani."
    " Kdyby neco chybelo, ozvete se. S pozdravem Anna Novakova, obchodni oddeleni firma2.intr"
)
TEXT = PROSE.split()


# -- the mail ------------------------------------------------------------------------------------
def message(user: str, number: int) -> bytes:
    """A plain-text message for ``user`` of one of :data:`SIZES_KIB` (LF line ends)."""
    target = SIZES_KIB[number % len(SIZES_KIB)] * 1024
    lines = [
        "Return-Path: <anna@firma2.intr>",
        f"Received: from mx.firma2.intr (mx.firma2.intr [127.0.1.2]) by neo.firma1.intr "
        f"(mailsim) with ESMTP id B{number:08X} for <{user}@firma1.intr>;",
        "\tFri, 27 Nov 2026 10:30:00 +0100 (CET)",
        "From: Anna Novakova <anna@firma2.intr>",
        f"To: {user}@firma1.intr",
        f"Subject: objednavka {number}",
        "Date: Fri, 27 Nov 2026 10:29:58 +0100",
        f"Message-ID: <{number}.{user}@mx.firma2.intr>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
    ]
    size, word = sum(len(line) + 1 for line in lines), number
    while size < target:
        line = ""
        while len(line) < 66:
            line += TEXT[word % len(TEXT)] + " "
            word += 1
        lines.append(line.rstrip())
        size += len(lines[-1]) + 1
    return ("\n".join(lines) + "\n").encode()


def populate(mail: Path, counts: dict[str, int]) -> int:
    """Deliver ``counts[user]`` messages into each user's Maildir under ``mail`` (our store,
    as our smtpd would); return the bytes delivered."""
    from mailsim.live.store import open_store

    store = open_store(mail, "maildir")

    def fill(user: str) -> int:
        mailbox, total = store.mailbox(user), 0
        for number in range(counts[user]):
            data = message(user, number)
            mailbox.deliver(data)  # durable: fsynced, so a mailbox at a time would be slow
            total += len(data)
        return total

    with ThreadPoolExecutor(len(counts)) as workers:
        return sum(workers.map(fill, counts))


# -- the servers -------------------------------------------------------------------------------
def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now (for Dovecot's configuration)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dovecot_conf(work: Path, port: int, passwd: Path, uid: int, gid: int) -> str:
    """A minimal dovecot.conf: POP3 only on 127.0.0.1:``port``, everything under ``work``."""
    me, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    if os.geteuid() == 0:  # login processes must not run as root
        names = {entry.pw_name for entry in pwd.getpwall()}
        login = "dovenull" if "dovenull" in names else "nobody"
        chroot = ""
    else:  # an unprivileged Dovecot cannot chroot its login processes
        login = me
        chroot = "  chroot =\n"
    return f"""# written by bench/pop3_retr.py
base_dir = {work}/run
state_dir = {work}/state
instance_name = mailsim-bench-{port}
listen = 127.0.0.1
protocols = pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
log_path = /dev/stderr
default_internal_user = {me}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = {uid}
first_valid_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PBKDF2 {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
service pop3-login {{
{chroot}  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
{chroot}}}
"""


class Dovecot:
    """``dovecot -F -c <conf>`` as a child process; ready once its log says "starting up",
    which Dovecot's master writes after it has bound its listeners."""

    def __init__(self, dovecot: str, conf: Path, port: int) -> None:
        self.argv = [dovecot, "-F", "-c", str(conf)]
        self.port = port
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None

    def _drain(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def __enter__(self) -> Dovecot:
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        threading.Thread(target=self._drain, daemon=True).start()
        while True:
            try:
                line = self._lines.get(timeout=START_GUARD_S)
            except queue.Empty:
                line = None
            if line is None:
                self.__exit__(None, None, None)
                raise RuntimeError("Dovecot did not start:\n" + "".join(self.log))
            self.log.append(line)
            if "starting up" in line:
                return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def errors(self) -> list[str]:
        """The log lines so far that report an error."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.log.append(line)
        return [line for line in self.log if "Error:" in line or "Fatal:" in line]

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the master stops its children and exits
            try:
                self.process.wait(START_GUARD_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve_ours(root: Path, passwd: Path, uid: int | None, gid: int | None) -> None:
    """Our POP3 server on 127.0.0.1:0 for the Maildirs under ``root``; as root, it serves
    them as ``uid``/``gid`` (what Dovecot runs its pop3 processes as)."""
    from mailsim.live.passdb import PassDB
    from mailsim.live.pop3 import POP3Server
    from mailsim.live.store import open_store

    passdb = PassDB.parse(passwd.read_text())
    store = open_store(root, "maildir")
    server = POP3Server(store, passdb, host="127.0.0.1", port=0)

    async def start() -> int:
        await server.start()
        if uid is not None and gid is not None and os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        store.recover()  # as the lab does before anyone connects (as the mail's owner)
        return server.port

    serve_until_sigterm(start, server.close)


# -- the client (one process per mailbox) ---------------------------------------------------
def fetch_all(port: int, user: str, password: str) -> tuple[int, int, int, str, str]:
    """Log in, STAT, UIDL, RETR every message, QUIT; return (messages listed, retrieved,
    octets, sha256 of what was retrieved, the UIDL listing)."""
    digest = hashlib.sha256()
    client = poplib.POP3("127.0.0.1", port, timeout=60)
    try:
        client.user(user)
        client.pass_(password)
        count, _ = client.stat()
        uidls = "\n".join(line.decode() for line in client.uidl()[1])
        octets = retrieved = 0
        for number in range(1, count + 1):
            _, lines, size = client.retr(number)
            octets += size
            retrieved += 1
            digest.update(b"\r\n".join(lines))
    finally:
        client.quit()
    return count, retrieved, octets, digest.hexdigest(), uidls


def one_pass(
    pool: multiprocessing.pool.Pool, port: int, pid: int, logins: list[tuple[str, str]]
) -> dict[str, float | int | str]:
    """All clients at once against the server on ``port`` (process ``pid``)."""
    cpu_before = tree_cpu_s(pid)
    started = time.perf_counter()
    results = pool.starmap(fetch_all, [(port, user, password) for user, password in logins])
    wall = time.perf_counter() - started
    cpu = tree_cpu_s(pid) - cpu_before
    return {
        "seconds": wall,
        "cpu_s": cpu,
        "listed": sum(r[0] for r in results),
        "retrieved": sum(r[1] for r in results),
        "octets": sum(r[2] for r in results),
        "digest": hashlib.sha256("".join(r[3] for r in results).encode()).hexdigest(),
        "uidls": "\n".join(r[4] for r in results),
    }


# -- the run ------------------------------------------------------------------------------------
def find_dovecot() -> str | None:
    """The dovecot master binary, if Dovecot's pop3d is installed too."""
    found = shutil.which("dovecot")
    if found is None and os.access("/usr/sbin/dovecot", os.X_OK):
        found = "/usr/sbin/dovecot"
    return found if found is not None and POP3_BINARY.exists() else None


def mail_owner() -> tuple[int, int]:
    """Who owns and serves the mail: ourselves, or nobody when we are root."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def chown_tree(top: Path, uid: int, gid: int) -> None:
    for directory, _, files in os.walk(top):
        os.chown(directory, uid, gid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, gid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages in all mailboxes")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (mailboxes)")
    parser.add_argument("--repeat", type=int, default=9, help="measured passes per server")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--passwd", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--uid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--gid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_ours(args.root, args.passwd, args.uid, args.gid)
        return

    dovecot = find_dovecot()
    if dovecot is None:
        print(
            "pop3_retr: Dovecot's POP3 server is not installed (needs the dovecot binary and "
            f"{POP3_BINARY}). On Debian/Ubuntu: apt-get install dovecot-pop3d. "
            "This benchmark installs nothing.",
            file=sys.stderr,
        )
        sys.exit(2)
    if args.clients < 1 or args.messages < args.clients:
        parser.error("need at least one client and one message per client")

    from mailsim.live.passdb import hash_password

    users = [f"user{number + 1}" for number in range(args.clients)]
    counts = {
        user: args.messages // args.clients + (index < args.messages % args.clients)
        for index, user in enumerate(users)
    }
    logins = [(user, f"heslo-{user}") for user in users]
    uid, gid = mail_owner()
    runs: dict[str, list[dict[str, float | int | str]]] = {kind: [] for kind in SERVERS}
    with tempfile.TemporaryDirectory(prefix="pop3-retr-") as name:
        work = Path(name)
        work.chmod(0o755)  # the mail's owner (nobody, as root) must reach the Maildirs
        mail = work / "mail"
        delivered = populate(mail, counts)
        passwd = work / "passwd"
        passwd.write_text(
            "".join(
                f"{user}:{hash_password(password)}:{uid}:{gid}::{mail}/home/{user}::\n"
                for user, password in logins
            )
        )
        passwd.chmod(0o600)
        if os.geteuid() == 0:
            chown_tree(mail, uid, gid)
        port = free_port()
        conf = work / "dovecot" / "dovecot.conf"
        conf.parent.mkdir()
        conf.write_text(dovecot_conf(conf.parent, port, passwd, uid, gid))
        ours_argv = [
            sys.executable, str(Path(__file__).resolve()), "--serve", "--root", str(mail),
            "--passwd", str(passwd), "--uid", str(uid), "--gid", str(gid),
        ]  # fmt: skip
        # the client processes are forked first, before any thread of this process exists
        with (
            multiprocessing.get_context("fork").Pool(args.clients) as pool,
            Dovecot(dovecot, conf, port) as theirs,
            ChildServer(ours_argv, work, "ours") as ours,
        ):
            where = {"dovecot": (theirs.port, theirs.pid), "ours": (ours.port, ours.pid)}
            for kind in SERVERS:  # warm-up
                one_pass(pool, *where[kind], logins)
            for number in range(args.repeat):
                for kind in SERVERS if number % 2 == 0 else SERVERS[::-1]:
                    runs[kind].append(one_pass(pool, *where[kind], logins))
            ours.stop()
            problems = theirs.errors()
        if problems:
            raise RuntimeError("Dovecot logged errors:\n" + "".join(problems))

    n = args.messages
    rate = {k: statistics.median(n / float(r["seconds"]) for r in runs[k]) for k in SERVERS}
    mbps = {
        k: statistics.median(int(r["octets"]) / float(r["seconds"]) / 1e6 for r in runs[k])
        for k in SERVERS
    }
    cpu = {k: statistics.median(1000 * float(r["cpu_s"]) / n for r in runs[k]) for k in SERVERS}
    retrieved = {k: [int(r["retrieved"]) for r in runs[k]] for k in SERVERS}
    digests = {str(r["digest"]) for k in SERVERS for r in runs[k]}
    uidls = {str(r["uidls"]) for k in SERVERS for r in runs[k]}
    uidls_folded = {uidl.lower() for uidl in uidls}
    figures = {
        "messages": n,
        "clients": args.clients,
        "repeat": args.repeat,
        "mean_message_bytes": delivered / n,
        "dovecot_messages_per_s": rate["dovecot"],
        "ours_messages_per_s": rate["ours"],
        "ratio_ours_vs_dovecot": rate["ours"] / rate["dovecot"],
        "dovecot_mb_per_s": mbps["dovecot"],
        "ours_mb_per_s": mbps["ours"],
        "dovecot_cpu_ms_per_message": cpu["dovecot"],
        "ours_cpu_ms_per_message": cpu["ours"],
        "dovecot_runs_messages_per_s": [n / float(r["seconds"]) for r in runs["dovecot"]],
        "ours_runs_messages_per_s": [n / float(r["seconds"]) for r in runs["ours"]],
        "dovecot_retrieved": retrieved["dovecot"],
        "ours_retrieved": retrieved["ours"],
        "all_retrieved": all(count == n for k in SERVERS for count in retrieved[k]),
        "same_bytes": len(digests) == 1,
        "same_uidls": len(uidls) == 1,
        "same_uidls_ignoring_case": len(uidls_folded) == 1,
    }

    print(
        f"POP3 RETR: {args.clients} poplib clients at once, each RETRs all {n // args.clients:,}"
        f"+ messages of its own Maildir ({n:,} in all, mean {delivered / n:,.0f} bytes); "
        f"median of {args.repeat} after a warm-up"
    )
    rows = [
        ("server", "messages/s", "MB/s", "CPU ms/msg", "runs (messages/s)"),
        *(
            (
                kind,
                f"{rate[kind]:,.0f}",
                f"{mbps[kind]:.1f}",
                f"{cpu[kind]:.2f}",
                " ".join(f"{n / float(r['seconds']):,.0f}" for r in runs[kind]),
            )
            for kind in SERVERS
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        f"ours / Dovecot: {figures['ratio_ours_vs_dovecot']:.2f}x (target >= 0.5); every pass "
        f"retrieved {'all' if figures['all_retrieved'] else 'NOT all'} {n} messages; "
        f"both servers sent {'the same' if figures['same_bytes'] else 'DIFFERENT'} bytes "
        f"and {'the same' if figures['same_uidls'] else 'DIFFERENT'} UIDLs"
        + ("" if figures["same_uidls"] or not uidls_folded else " (same but for upper/lower case)")
    )
    print(json.dumps(figures))
    if not (figures["all_retrieved"] and figures["same_bytes"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
