"""Helpers for the live SMTP tests: stores, the lecture's host, certificates, a server thread,
a raw-socket client, and the crash test's server process.

* :class:`MemoryStore`: the :mod:`mailsim.live.mailstore` contract in memory (folders,
  sizes with CRLF), thread-safe, with an injectable write failure.
* :func:`lecture_scenario`: the lecture's ``neo.firma1.intr`` on 127.0.0.1 (mynetworks
  127.0.0.0/8 unless overridden), users jura and nekdo (password ``heslo``) and petra; its
  passdb offers the classroom's cleartext logins on loopback and CRAM-MD5
  (:data:`LECTURE_AUTH`).
* :class:`ServerThread`: an :class:`~mailsim.live.smtp_server.SMTPServer` on its own event
  loop, so blocking clients (raw sockets, smtplib, swaks, msmtp) can talk to it.
* :class:`Client`: a telnet-like raw socket client; it never sleeps, it reads until a reply
  is complete or the server closes, with :data:`GUARD_S` as a guard only.

Run as a program (``python smtp_fakes.py <maildir-root>``) it serves the lecture host on a
free port of 127.0.0.1 with Maildir mailboxes under that root
(:func:`~mailsim.live.store.open_store`) and prints ``PORT <n>`` once listening.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

from mailsim.live.mailstore import MailboxBusy, StoredMessage, crlf_size, to_crlf, to_lf
from mailsim.live.passdb import AuthSettings
from mailsim.live.smtp_server import SMTPServer
from mailsim.live.store import open_store
from mailsim.scenario.mda import MDARule
from mailsim.scenario.model import DNSConfig, Host, Scenario, User
from mailsim.scenario.postfix import PostfixSettings

#: The longest a test waits for the server; a guard, never a way to wait for something.
GUARD_S = 10.0
NEO = "neo.firma1.intr"
#: a client address outside ``mynetworks = 127.0.0.1/32`` (the reference log's relay attempts
#: came from unknown[127.0.5.x])
OUTSIDE = "127.0.0.2"
#: Dovecot auth settings of the lecture's host: cleartext on loopback, and CRAM-MD5 as well
LECTURE_AUTH = AuthSettings(mechanisms=("PLAIN", "LOGIN", "CRAM-MD5"))


# -- stores ------------------------------------------------------------------------------------
class MemoryMailbox:
    """One user's mailbox in memory: folder -> [(record, data stored with LF)]."""

    def __init__(self) -> None:
        self._folders: dict[str, list[tuple[StoredMessage, bytes]]] = {"": []}
        self._next_uid = 1
        self._lock = threading.Lock()
        self.fail = False  # deliver() raises OSError (a full disk)
        self.held = False

    @property
    def uidvalidity(self) -> int:
        return 1

    def uidnext(self, folder: str = "") -> int:
        return self._next_uid

    def deliver(
        self, data: bytes, *, folder: str = "", flags: Iterable[str] = (), when: float | None = None
    ) -> StoredMessage:
        if self.fail:
            raise OSError("injected write failure")
        stored = to_lf(data)
        with self._lock:
            record = StoredMessage(
                self._next_uid, f"m{self._next_uid}", crlf_size(stored), frozenset(flags)
            )
            self._next_uid += 1
            self._folders.setdefault(folder, []).append((record, stored))
        return record

    def messages(self, folder: str = "") -> list[StoredMessage]:
        with self._lock:
            return [record for record, _ in self._folders.get(folder, [])]

    def read(self, key: str, folder: str = "") -> bytes:
        with self._lock:
            return next(to_crlf(d) for r, d in self._folders.get(folder, []) if r.key == key)

    def delete(self, keys: Iterable[str], folder: str = "") -> None:
        gone = set(keys)
        with self._lock:
            self._folders[folder] = [
                e for e in self._folders.get(folder, []) if e[0].key not in gone
            ]

    def set_flags(self, key: str, flags: Iterable[str], folder: str = "") -> StoredMessage:
        with self._lock:
            entries = self._folders[folder]
            index = next(i for i, (r, _) in enumerate(entries) if r.key == key)
            record = replace(entries[index][0], flags=frozenset(flags))
            entries[index] = (record, entries[index][1])
            return record

    def size(self) -> int:
        return sum(self.folder_size(folder) for folder in self.folders())

    def folders(self) -> list[str]:
        with self._lock:
            return ["", *sorted(name for name in self._folders if name)]

    def folder_size(self, folder: str = "") -> int:
        return sum(record.size for record in self.messages(folder))

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if self.held:
            raise MailboxBusy("busy")
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def bodies(self, folder: str = "") -> list[bytes]:
        """The stored messages of ``folder`` with CRLF line ends."""
        with self._lock:
            return [to_crlf(data) for _, data in self._folders.get(folder, [])]


class MemoryStore:
    """All mailboxes of a host in memory."""

    def __init__(self) -> None:
        self.boxes: dict[str, MemoryMailbox] = {}
        self._lock = threading.Lock()

    def mailbox(self, user: str) -> MemoryMailbox:
        with self._lock:
            return self.boxes.setdefault(user, MemoryMailbox())

    def users(self) -> Iterator[str]:
        return iter(sorted(self.boxes))

    def total(self) -> int:
        """How many messages the whole store holds."""
        return sum(len(box.messages(f)) for box in self.boxes.values() for f in box.folders())


# -- the lecture's host ----------------------------------------------------------------------------
def lecture_scenario(**postfix: str) -> Scenario:
    """neo.firma1.intr on 127.0.0.1 with the lecture's main.cf essentials; ``postfix``
    overrides parameters (``mynetworks="127.0.0.1/32"``, ``smtpd_timeout="1s"``, ...).
    jura files ``[SPAM]`` subjects into ``.Spam``."""
    settings = {
        "myhostname": NEO,
        "mydomain": "firma1.intr",
        "myorigin": "$mydomain",
        "mydestination": "$myhostname, $mydomain, localhost",
        "mynetworks": "127.0.0.0/8",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_recipient_restrictions": (
            "permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination"
        ),
        "smtpd_relay_restrictions": "",
        "message_size_limit": "20971520",
        **postfix,
    }
    host = Host(
        name=NEO,
        address="127.0.0.1",
        postfix=PostfixSettings(NEO, settings),
        services=("smtp", "submission", "smtps"),
        aliases={"postmaster": ("root",), "root": ("jura",), "info": ("jura", "nekdo")},
    )
    # ~jura/.procmailrc as in data/scenarios/firma1.yaml:  :0  * ^Subject:.*\[SPAM\]  .Spam/
    spam = MDARule("folder", "spam", header="Subject", pattern=r"^\[SPAM\]", folder=".Spam")
    users = (
        User("jura@firma1.intr", NEO, password="heslo", mda_rules=(spam,)),
        User("nekdo@firma1.intr", NEO, password="heslo"),
        User("petra@firma1.intr", NEO, password="Petra-2006"),
    )
    return Scenario(name="lecture", hosts={NEO: host}, dns=DNSConfig({}), users=users)


# -- certificates ------------------------------------------------------------------------------
class Certificates:
    """A trustme CA and the server certificate of neo.firma1.intr (also 127.0.0.1)."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert(NEO, "localhost", "127.0.0.1")
        self.ca_file = self.ca.cert_pem

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


# -- the server on its own loop --------------------------------------------------------------
class ServerThread:
    """Run ``SMTPServer.for_host(lecture_scenario(**postfix), NEO, store, **options)`` (with
    :data:`LECTURE_AUTH` unless ``auth`` is given) on an event loop in a daemon thread, for
    blocking clients."""

    def __init__(self, store: Any, *, postfix: dict[str, str] | None = None, **options: Any):
        self.store = store
        options.setdefault("auth", LECTURE_AUTH)
        self.server = SMTPServer.for_host(
            lecture_scenario(**(postfix or {})), NEO, store, **options
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def port(self, service: str = "smtp") -> int:
        return self.server.port(service)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(GUARD_S)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(GUARD_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(GUARD_S)
        self.loop.close()


# -- a telnet-like client -------------------------------------------------------------------
class Client:
    """Bytes out, reply lines in, over a plain (or implicitly TLS) socket.

    ``source`` is the client's own address (127.0.0.2 is outside ``mynetworks =
    127.0.0.1/32``); ``tls`` wraps the socket at once (smtps).
    """

    def __init__(
        self, port: int, *, source: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        sock = socket.create_connection(("127.0.0.1", port), GUARD_S, (source, 0))
        self.sock: socket.socket = tls.wrap_socket(sock, server_hostname=NEO) if tls else sock
        self.sock.settimeout(GUARD_S)
        self._buffer = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        """The next line without CRLF ("" once the server has closed)."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.removesuffix(b"\r").decode("utf-8", "replace")

    def reply(self) -> str:
        """One whole reply; the lines of a multi-line reply are joined with newlines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def command(self, line: str) -> str:
        self.send(line.encode("utf-8", "surrogateescape") + b"\r\n")
        return self.reply()

    def until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        data, self._buffer = self._buffer, b""
        while chunk := self.sock.recv(65536):
            data += chunk
        return data

    def starttls(self, context: ssl.SSLContext) -> None:
        """Switch to TLS after a 220 reply to STARTTLS."""
        assert not self._buffer, "plaintext after the STARTTLS reply"
        self.sock = context.wrap_socket(self.sock, server_hostname=NEO)


def auth_plain(user: str, password: str) -> str:
    """The base64 initial response of ``AUTH PLAIN`` (RFC 4616) for ``user``."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def message(subject: str, body: str = "jak se vam dari ?", size: int = 0) -> bytes:
    """A small RFC 5322 message with CRLF line ends, padded with body lines to ``size``."""
    text = (
        f"From: nekdo@firma1.intr\r\nTo: jura@firma1.intr\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    )
    data = text.encode()
    while len(data) < size:
        data += b"x" * 70 + b"\r\n"
    return data


def serve(root: Path) -> None:
    """Serve the lecture host from ``root`` until killed (the crash test's server)."""

    async def main() -> None:
        store = open_store(root, "maildir")
        store.recover()  # what the lab does at start-up, before anyone connects
        server = SMTPServer.for_host(lecture_scenario(), NEO, store, auth=LECTURE_AUTH)
        await server.start()
        print(f"PORT {server.port()}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
