"""Interop: fetchmail (OpenSSL) fetches from our POP3 server: plain USER/PASS on loopback, STLS
and POP3S with the lab CA's certificate checked, --keep with UIDL bookkeeping, a wrong password.

fetchmail runs as a subprocess with everything in the test's directory: a generated rc file
(mode 0600, the only place the password is), ``HOME`` there, ``--pidfile``, ``--idfile``, no
syslog. Its MDA is a small Python script that writes each message it is given to its own file
(``001.eml``, ``002.eml``, ...), so no MTA is involved. fetchmail hands the MDA the message with
LF line ends and the dot-stuffing undone, and prepends one header field of its own
(``Received: from 127.0.0.1 [127.0.0.1] by <host> with POP3 (fetchmail-6.4.x) ...``); no
``From_`` line. Everything after that field must be the message as delivered, byte for byte.

fetchmail checks the certificate's host name but not its IP-address SANs, so it is told the
name to expect (``sslcommonname``, the host name the lab CA issued the certificate for) while
it connects to 127.0.0.1; the chain is still verified against the lab CA (``sslcertck``).
fetchmail 6.4 requires TLS by default, so the plain poll says ``sslproto ''`` and
``no sslcertck``. With ``keep`` fetchmail reads each message with ``TOP <n> 99999999`` rather
than RETR, so that the server does not mark it read; kept messages stay unflagged.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from mailsim.live.mailstore import MailStore
from mailsim.live.passdb import AuthSettings, PassDB, hash_password
from mailsim.live.pop3 import POP3Server
from mailsim.live.store import open_store
from mailsim.live.tls import LabCA

from interop import require_tool
from pop3_fakes import GUARD_S

pytestmark = pytest.mark.interop

R = TypeVar("R")
Mode = Literal["plain", "stls", "pop3s"]
HOST = "neo.firma1.intr"
MESSAGES = (
    b"From: nekdo@firma1.intr\nTo: jura@firma1.intr\nSubject: hello\nX-Mailsim-Id: m7\n\n"
    b"line one\n.starts with a dot\n.\n..two dots\nFrom here, an mbox From_ line\n",
    b"Subject: =?utf-8?q?P=C5=99=C3=ADli=C5=A1?=\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n\n" + "Příliš žluťoučký kůň úpěl ďábelské ódy.\n".encode(),
    b"Subject: big\n\n" + b"".join(b"%06d " % i + b"x" * 73 + b"\n" for i in range(3000)),
)
#: fetchmail's own header field, the first of every message it delivers.
RECEIVED = re.compile(
    rb"\AReceived: from 127\.0\.0\.1 \[127\.0\.0\.1\]\n(?:[ \t][^\n]*\n)*?"
    rb"[ \t][^\n]*\(fetchmail-[0-9.]+\)[^\n]*\n(?:[ \t][^\n]*\n)*"
)
#: The MDA: each message fetchmail pipes to it goes to the next numbered file in argv[1].
MDA = """\
import os, sys
data = sys.stdin.buffer.read()
n = 1
while True:
    try:
        path = os.path.join(sys.argv[1], "%03d.eml" % n)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        break
    except FileExistsError:
        n += 1
with os.fdopen(fd, "wb") as out:
    out.write(data)
"""


@dataclass
class Lab:
    """A host's store and passdb, the lab CA, and fetchmail's files, all under ``root``."""

    root: Path
    store: MailStore
    passdb: PassDB
    ca: LabCA
    context: ssl.SSLContext

    @property
    def inbox(self) -> Path:
        return self.root / "delivered"

    def deliver(self, *messages: bytes) -> None:
        for data in messages:
            self.store.mailbox("jura").deliver(data)

    def delivered(self) -> list[bytes]:
        """What the MDA got, in order, with fetchmail's Received field checked and cut off."""
        found = []
        for path in sorted(self.inbox.iterdir()):
            data = path.read_bytes()
            received = RECEIVED.match(data)
            assert received is not None, f"no fetchmail Received field first in {data[:300]!r}"
            found.append(data[received.end() :])
        return found

    def left(self) -> list[tuple[int, frozenset[str]]]:
        """The messages still in jura's maildrop: (uid, flags)."""
        return [(m.uid, m.flags) for m in self.store.mailbox("jura").messages()]


@pytest.fixture(params=["maildir", "mbox"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Lab:
    store = open_store(tmp_path / "mail", request.param, users=["jura"])
    settings = AuthSettings(rounds=1)  # the classroom default: cleartext allowed on loopback
    passdb = PassDB.parse(
        f"jura:{hash_password('heslo', 1)}", domain="firma1.intr", settings=settings
    )
    ca = LabCA(tmp_path / "tls")
    ca.issue(HOST, ["127.0.0.1"])
    (tmp_path / "delivered").mkdir()
    (tmp_path / "mda.py").write_text(MDA)
    lab = Lab(tmp_path, store, passdb, ca, ca.server_context(HOST))
    lab.deliver(*MESSAGES[:2])
    return lab


def run(scenario: Callable[[], Awaitable[R]]) -> R:
    async def guarded() -> R:
        return await asyncio.wait_for(scenario(), 6 * GUARD_S)

    return asyncio.run(guarded())


def pop3_server(lab: Lab, mode: Mode) -> POP3Server:
    """POP3 without TLS, POP3 with STLS and no password before it, or POP3S."""
    if mode == "plain":
        return POP3Server(lab.store, lab.passdb)
    return POP3Server(
        lab.store,
        lab.passdb,
        ssl_context=lab.context,
        implicit_tls=mode == "pop3s",
        allow_plaintext=False,
    )


def rc_file(lab: Lab, port: int, mode: Mode, *, password: str, keep: bool) -> Path:
    """A .fetchmailrc for one poll of jura's maildrop at ``port``."""
    tls = {
        "plain": ["sslproto ''", "no sslcertck"],  # no STLS, no TLS at all
        "stls": ["sslproto tls1.2+"],  # STLS is required
        "pop3s": ["ssl", "sslproto tls1.2+"],
    }[mode]
    if mode != "plain":
        tls += ["sslcertck", f'sslcertfile "{lab.ca.ca_file}"', f'sslcommonname "{HOST}"']
    mda = shlex.join([sys.executable, str(lab.root / "mda.py"), str(lab.inbox)])
    lines = [
        "set no syslog",
        f"poll 127.0.0.1 with protocol pop3 port {port} timeout {int(GUARD_S)}"
        + (" uidl" if keep else ""),  # UIDL bookkeeping in the idfile (a server option)
        f'  user "jura" there with password "{password}"',
        *(f"  {option}" for option in tls),
        "  keep" if keep else "  nokeep fetchall",
        f'  mda "{mda}"',
    ]
    path = lab.root / "fetchmailrc"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


async def fetchmail(
    lab: Lab, server: POP3Server, mode: Mode, *, password: str = "heslo", keep: bool = False
) -> tuple[int, str]:
    """Run fetchmail once against ``server``; its exit status and its verbose log."""
    rc = rc_file(lab, server.port, mode, password=password, keep=keep)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(lab.root), "LC_ALL": "C"}
    process = await asyncio.create_subprocess_exec(
        require_tool("fetchmail"),
        "-v",
        "--nosyslog",
        "--norewrite",
        "-f",
        str(rc),
        "--pidfile",
        str(lab.root / "fetchmail.pid"),
        "--idfile",
        str(lab.root / "fetchids"),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 2 * GUARD_S)
    except TimeoutError:
        process.kill()  # never leave the child (and its transport) behind
        await process.wait()
        raise
    assert process.returncode is not None
    # whatever fetchmail did, our sessions end with its connection
    await asyncio.wait_for(asyncio.gather(*(s.closed for s in list(server.sessions))), GUARD_S)
    return process.returncode, out.decode("utf-8", "replace")


#: What fetchmail's verbose log says about TLS in each mode.
TLS_LOG = {
    "plain": None,
    "stls": "POP3> STLS\nfetchmail: POP3< +OK Begin TLS negotiation now.",
    "pop3s": "SSL/TLS: using protocol TLSv1.",
}


@pytest.mark.parametrize("mode", ["plain", "stls", "pop3s"])
def test_fetchmail_fetches_every_message_and_empties_the_maildrop(lab: Lab, mode: Mode) -> None:
    lab.deliver(MESSAGES[2])

    async def scenario() -> tuple[int, str]:
        async with pop3_server(lab, mode) as server:
            return await fetchmail(lab, server, mode)

    status, log = run(scenario)
    assert status == 0, log  # 0: mail was retrieved
    assert lab.delivered() == list(MESSAGES)
    assert re.findall(r"POP3> (RETR|DELE) ([0-9]+)", log) == [
        (command, str(n)) for n in (1, 2, 3) for command in ("RETR", "DELE")
    ]
    assert lab.left() == []  # DELE, then QUIT: the UPDATE state removed them
    assert "POP3< +OK Logging out, messages deleted." in log
    expected = TLS_LOG[mode]
    if expected is None:
        assert "STLS" not in log and "SSL/TLS" not in log
    else:
        assert expected in log, log
        assert "certificate verification error" not in log.lower()


def test_fetchmail_refuses_a_certificate_from_another_ca_before_the_password(
    lab: Lab, tmp_path: Path
) -> None:
    other = LabCA(tmp_path / "other-ca")
    other.issue(HOST, ["127.0.0.1"])
    lab.context = other.server_context(HOST)  # the right name, signed by a CA fetchmail lacks

    async def scenario() -> tuple[int, str]:
        async with pop3_server(lab, "stls") as server:
            return await fetchmail(lab, server, "stls")

    status, log = run(scenario)
    assert status == 2, log  # PS_SOCKET: the TLS upgrade failed
    assert "certificate verif" in log and "PASS" not in log and "USER" not in log
    assert lab.delivered() == [] and len(lab.left()) == 2


def test_fetchmail_keep_with_uidl_never_fetches_a_message_twice(lab: Lab) -> None:
    async def scenario() -> list[tuple[int, str]]:
        async with pop3_server(lab, "stls") as server:
            runs = [await fetchmail(lab, server, "stls", keep=True)]
            lab.deliver(MESSAGES[2])
            runs.append(await fetchmail(lab, server, "stls", keep=True))
            runs.append(await fetchmail(lab, server, "stls", keep=True))
            return runs

    (first, log1), (second, log2), (third, log3) = run(scenario)
    assert (first, second, third) == (0, 0, 1), (log1, log2, log3)  # 1: no mail
    assert lab.delivered() == list(MESSAGES)  # each once: two, then the new one, then none
    assert [fetched(log) for log in (log1, log2, log3)] == [[1, 2], [3], []]
    assert "POP3> UIDL" in log2 and "3 messages (2 seen)" in log2
    # kept; and not flagged \Seen: with "keep" fetchmail reads with TOP n 99999999, not RETR
    assert lab.left() == [(uid, frozenset()) for uid in (1, 2, 3)]


def fetched(log: str) -> list[int]:
    """The message numbers fetchmail asked for (RETR, or TOP with a huge line count)."""
    return [int(n) for n in re.findall(r"POP3> (?:RETR|TOP) ([0-9]+)", log)]


def test_fetchmail_wrong_password_is_an_auth_failure_and_the_server_goes_on(lab: Lab) -> None:
    async def scenario() -> list[tuple[int, str]]:
        async with pop3_server(lab, "plain") as server:
            refused = await fetchmail(lab, server, "plain", password="wrong")
            return [refused, await fetchmail(lab, server, "plain")]

    (refused, log1), (fetched, log2) = run(scenario)
    assert refused == 3, log1  # PS_AUTHFAIL
    assert "POP3< -ERR [AUTH] Authentication failed." in log1
    assert fetched == 0, log2
    assert lab.delivered() == list(MESSAGES[:2]) and lab.left() == []
