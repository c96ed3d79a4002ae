"""The live POP3 server with real clients: Python's poplib (plain, STLS, POP3S with a throwaway CA)
and raw telnet-like lines for what poplib will not send (injection, overlong lines, bad base64).

Every test runs its own event loop (``asyncio.run``); poplib, being blocking, runs in a thread.
Nothing sleeps: the tests wait for replies, for end of stream or for the server's sessions to
close, each under a guard timeout.
"""

from __future__ import annotations

import asyncio
import base64
import poplib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme

from mailsim.live.pop3 import POP3Server, plaintext_permitted

from interop import require_tool
from pop3_fakes import GUARD_S, FakePassDB, FakeStore, LineClient, crlf

R = TypeVar("R")
MESSAGE = b"Subject: hello\n\nline one\n.starts with a dot\nline three\n"
OTHER = b"Subject: second\n\nbody\n"
IN_USE = b"-ERR [IN-USE] Mailbox is locked by another POP3 session."


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def store() -> Iterator[FakeStore]:
    store = FakeStore()
    store.mailbox("jura").add(MESSAGE)
    store.mailbox("jura").add(OTHER)
    yield store
    assert not any(box.held for box in store.boxes.values()), "a maildrop lock leaked"


def run(scenario: Callable[[], Awaitable[R]]) -> R:
    async def guarded() -> R:
        return await asyncio.wait_for(scenario(), 3 * GUARD_S)

    return asyncio.run(guarded())


def pop3_server(store: FakeStore, **options: Any) -> POP3Server:
    return POP3Server(store, FakePassDB({"jura": "heslo", "eva": "tajne"}), **options)


async def settled(server: POP3Server) -> None:
    """Wait until every session the server has now is closed and its lock released."""
    await asyncio.wait_for(asyncio.gather(*(s.closed for s in list(server.sessions))), GUARD_S)


def poplib_session(port: int) -> list[object]:
    """A whole poplib session: login, STAT, LIST, UIDL, TOP, RETR, DELE, QUIT."""
    client = poplib.POP3("127.0.0.1", port, timeout=GUARD_S)
    try:
        client.user("jura")
        client.pass_("heslo")
        top = client.top(1, 0)[1]
        seen = [client.getwelcome(), client.stat(), client.list()[1], client.uidl()[1], top]
        seen += [client.retr(1)[1], client.dele(1)]
        seen.append(client.quit())
        return seen
    finally:
        client.close()


def test_poplib_session_deletes_at_quit(store: FakeStore) -> None:
    async def scenario() -> list[object]:
        async with pop3_server(store) as server:
            seen = await asyncio.to_thread(poplib_session, server.port)
            await settled(server)
            return seen

    welcome, stat, listing, uidl, top, retr, dele, quit_ = run(scenario)
    sizes = [len(crlf(MESSAGE)), len(crlf(OTHER))]
    assert (welcome, stat) == (b"+OK mailsim ready.", (2, sum(sizes)))
    assert listing == [b"1 %d" % sizes[0], b"2 %d" % sizes[1]]
    assert uidl == [b"1 0000000143D88FF9", b"2 0000000243D88FF9"]
    assert top == [b"Subject: hello", b""]
    assert retr == [b"Subject: hello", b"", b"line one", b".starts with a dot", b"line three"]
    assert (dele, quit_) == (b"+OK Marked to be deleted.", b"+OK Logging out, messages deleted.")
    assert store.mailbox("jura").deleted == ["m1"]


def test_poplib_stls_and_capa_before_and_after(
    store: FakeStore, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    def session(port: int) -> tuple[object, ...]:
        client = poplib.POP3("127.0.0.1", port, timeout=GUARD_S)
        try:
            before = sorted(client.capa())
            client.stls(client_context)
            after = sorted(client.capa())
            client.user("jura")
            client.pass_("heslo")
            return before, after, client.stat(), client.quit()
        finally:
            client.close()

    async def scenario() -> tuple[object, ...]:
        async with pop3_server(store, ssl_context=server_context, allow_plaintext=False) as server:
            return await asyncio.to_thread(session, server.port)

    before, after, stat, quit_ = run(scenario)
    common = ["AUTH-RESP-CODE", "CAPA", "PIPELINING", "RESP-CODES", "TOP", "UIDL"]
    assert before == sorted([*common, "STLS"])  # no USER, no SASL: not without TLS
    assert after == sorted([*common, "SASL", "USER"])
    assert stat[0] == 2 and quit_ == b"+OK Logging out."


def test_pop3s_is_tls_from_the_first_byte(
    store: FakeStore, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    def session(port: int) -> tuple[object, ...]:
        client = poplib.POP3_SSL("127.0.0.1", port, context=client_context, timeout=GUARD_S)
        try:
            caps = sorted(client.capa())
            client.user("jura")
            client.pass_("heslo")
            return caps, client.retr(2)[1], client.quit()
        finally:
            client.close()

    async def scenario() -> tuple[object, ...]:
        options = {"ssl_context": server_context, "implicit_tls": True, "allow_plaintext": False}
        async with pop3_server(store, **options) as server:
            return await asyncio.to_thread(session, server.port)

    caps, retr, _ = run(scenario)
    assert "STLS" not in caps and "USER" in caps
    assert retr == [b"Subject: second", b"", b"body"]


def test_second_session_on_a_maildrop_gets_in_use_until_the_first_ends(store: FakeStore) -> None:
    def login(port: int) -> object:
        client = poplib.POP3("127.0.0.1", port, timeout=GUARD_S)
        try:
            client.user("jura")
            try:
                return client.pass_("heslo")
            except poplib.error_proto as refused:
                return refused.args[0]
        finally:
            client.close()

    async def scenario() -> list[object]:
        async with pop3_server(store) as server:
            holder = await LineClient.connect(server.port)
            await holder.line()
            await holder.command(b"USER jura")
            seen: list[object] = [await holder.command(b"PASS heslo")]
            seen.append(await asyncio.to_thread(login, server.port))
            seen.append(await holder.command(b"QUIT"))
            await holder.close()
            await settled(server)
            seen.append(await asyncio.to_thread(login, server.port))
            await settled(server)
            return seen

    assert run(scenario) == [
        b"+OK Logged in.\r\n",
        IN_USE,
        b"+OK Logging out.\r\n",
        b"+OK Logged in.",
    ]


def test_stls_injection_is_discarded(
    store: FakeStore, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """Commands pipelined after STLS in the same packet never run, before or after TLS."""

    async def scenario() -> list[bytes]:
        async with pop3_server(store, ssl_context=server_context) as server:
            client = await LineClient.connect(server.port)
            await client.line()
            await client.send(b"STLS\r\nUSER jura\r\nPASS heslo\r\nDELE 1\r\nQUIT\r\n")
            replies = [await client.line()]
            await client.starttls(client_context)
            replies += [await client.command(b"PASS heslo"), await client.command(b"STAT")]
            replies.append(await client.command(b"QUIT"))
            await client.close()
            await settled(server)
            return replies

    assert run(scenario) == [
        b"+OK Begin TLS negotiation now.\r\n",
        b"-ERR No username given.\r\n",
        b"-ERR Unknown command.\r\n",  # still AUTHORIZATION: nobody logged in
        b"+OK Logging out\r\n",
    ]
    assert store.mailbox("jura").deleted == []


def finished_and_command_in_one_segment(port: int, context: ssl.SSLContext) -> list[bytes]:
    """STLS, then a TLS 1.3 handshake by hand (memory BIOs) whose last flight -- the client's
    Finished -- goes out in the same segment as the first command over TLS, as a client on a
    busy machine sends them (and as curl did, now and then)."""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S) as sock:

        def line() -> bytes:
            data = b""
            while not data.endswith(b"\r\n"):
                data += sock.recv(1) or b"EOF\r\n"
            return data

        seen = [line()]
        sock.sendall(b"STLS\r\n")
        seen.append(line())
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536) or b"")
        assert tls.version() == "TLSv1.3"  # the server completes its handshake last
        tls.write(b"CAPA\r\n")
        sock.sendall(outgoing.read())  # Finished + CAPA: one write, one segment, one read
        reply = b""
        while not reply.endswith(b"\r\n.\r\n"):
            try:
                reply += tls.read(65536)
            except ssl.SSLWantReadError:
                incoming.write(sock.recv(65536) or b"")
        seen.append(reply)
        return seen


def test_command_sent_with_the_tls_finished_is_answered(
    store: FakeStore, server_context: ssl.SSLContext, ca: trustme.CA
) -> None:
    """The STLS hang: the SSL protocol completes the handshake and passes on the data read with
    the Finished before ``start_tls`` returns; the session used to drop it, and the client
    waited forever for the answer to its CAPA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.minimum_version = ssl.TLSVersion.TLSv1_3

    async def scenario() -> list[bytes]:
        async with pop3_server(store, ssl_context=server_context) as server:
            return await asyncio.to_thread(
                finished_and_command_in_one_segment, server.port, context
            )

    greeting, ok, capa = run(scenario)
    assert (greeting, ok) == (b"+OK mailsim ready.\r\n", b"+OK Begin TLS negotiation now.\r\n")
    assert capa.startswith(b"+OK\r\nCAPA\r\n") and b"\r\nUSER\r\n" in capa


def test_plaintext_after_stls_fails_the_handshake_and_others_are_served(
    store: FakeStore, server_context: ssl.SSLContext
) -> None:
    async def scenario() -> tuple[bytes, bytes, list[object]]:
        async with pop3_server(store, ssl_context=server_context) as server:
            client = await LineClient.connect(server.port)
            await client.line()
            ok = await client.command(b"STLS")
            await client.send(b"USER jura\r\nPASS heslo\r\n")  # not a TLS ClientHello
            rest = await client.rest()
            await client.close()
            await settled(server)
            return ok, rest, await asyncio.to_thread(poplib_session, server.port)

    ok, rest, session = run(scenario)
    assert ok == b"+OK Begin TLS negotiation now.\r\n" and not rest.startswith(b"+OK")
    assert session[-1] == b"+OK Logging out, messages deleted."


async def misbehave_then_check(server: POP3Server, client: LineClient) -> list[bytes]:
    """Stall ``client`` half-way through an overlong line, run a whole poplib session meanwhile,
    then finish the line: one refusal, and the stalled session still works."""
    await client.line()
    await client.send(b"USER " + b"x" * 1000)
    session = await asyncio.to_thread(poplib_session, server.port)
    assert session[-1] == b"+OK Logging out, messages deleted."
    await client.send(b"x" * 100_000 + b"\r\nUSER eva\r\n")
    return [await client.line(), await client.line(), await client.command(b"PASS tajne")]


def test_overlong_line_is_refused_and_another_client_is_served(store: FakeStore) -> None:
    async def scenario() -> list[bytes]:
        async with pop3_server(store) as server:
            client = await LineClient.connect(server.port)
            replies = await misbehave_then_check(server, client)
            await client.close()
            await settled(server)
            return replies

    assert run(scenario) == [b"-ERR Input line too long.\r\n", b"+OK\r\n", b"+OK Logged in.\r\n"]


#: Sessions of refusals, each sent in one write (pipelined) after the greeting.
REFUSALS = {
    "commands before login": """
C: STAT
S: -ERR Unknown command.
C: RETR 1
S: -ERR Unknown command.
""",
    "login commands after login": """
C: USER jura
S: +OK
C: PASS heslo
S: +OK Logged in.
C: USER eva
S: -ERR Unknown command: USER
C: STLS
S: -ERR Unknown command: STLS
C: AUTH PLAIN
S: -ERR Unknown command: AUTH
""",
    "bad base64, then a good AUTH": """
C: AUTH PLAIN !!!!
S: -ERR Invalid base64 data in initial response.
C: AUTH PLAIN AGp1cmEAaGVzbG8=
S: +OK Logged in.
""",
    "bad continuation, cancelled exchange": """
C: AUTH PLAIN
S: +\x20
C: %%%
S: -ERR Invalid base64 data in continued response.
C: AUTH PLAIN
S: +\x20
C: *
S: -ERR Authentication aborted by client.
""",
    "wrong password, USER forgotten": """
C: USER jura
S: +OK
C: PASS wrong
S: -ERR [AUTH] Authentication failed.
C: PASS heslo
S: -ERR No username given.
""",
}


@pytest.mark.parametrize("session", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_get_their_err_and_the_session_goes_on(store: FakeStore, session: str) -> None:
    lines = session.strip().splitlines()
    sent = b"".join(line[3:].encode() + b"\r\n" for line in lines if line.startswith("C: "))
    said = [line[3:].encode() + b"\r\n" for line in lines if line.startswith("S: ")]

    async def scenario() -> list[bytes]:
        async with pop3_server(store) as server:
            client = await LineClient.connect(server.port)
            await client.line()
            await client.send(sent)
            seen = [await client.line() for _ in said]
            seen.append(await client.command(b"QUIT"))
            await client.close()
            await settled(server)
            return seen

    seen = run(scenario)
    assert seen[:-1] == said and seen[-1].startswith(b"+OK Logging out")
    assert store.mailbox("jura").deleted == []


def test_plaintext_only_from_loopback_and_only_when_allowed() -> None:
    assert plaintext_permitted("127.0.0.1", True) and plaintext_permitted("127.0.1.5", True)
    assert plaintext_permitted("::1", True) and plaintext_permitted("::ffff:127.0.0.1", True)
    assert not plaintext_permitted("192.0.2.7", True) and not plaintext_permitted("10.0.0.1", True)
    assert not plaintext_permitted("127.0.0.1", False) and not plaintext_permitted("", True)


def test_refused_plaintext_login_without_tls(store: FakeStore) -> None:
    async def scenario() -> list[bytes]:
        async with pop3_server(store, allow_plaintext=False) as server:
            client = await LineClient.connect(server.port)
            await client.line()
            seen = [await client.command(b"USER jura"), await client.command(b"STLS")]
            await client.close()
            await settled(server)
            return seen

    assert run(scenario) == [
        b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n",
        b"-ERR TLS support isn't enabled.\r\n",
    ]


def test_idle_session_is_logged_out_without_update(store: FakeStore) -> None:
    """RFC 1939 section 3: the autologout timer ends the session; no UPDATE, lock released."""

    async def scenario() -> bytes:
        async with pop3_server(store, idle_timeout_s=0.2) as server:
            client = await LineClient.connect(server.port)
            await client.line()
            await client.send(b"USER jura\r\nPASS heslo\r\nDELE 1\r\n")
            rest = await client.rest()
            await client.close()
            await settled(server)
            return rest

    assert run(scenario) == (
        b"+OK\r\n+OK Logged in.\r\n+OK Marked to be deleted.\r\n"
        b"-ERR Disconnected for inactivity.\r\n"
    )
    assert store.mailbox("jura").deleted == []


def test_idle_client_that_stopped_reading_is_dropped_and_the_lock_released(
    store: FakeStore,
) -> None:
    """A client that pipelines RETRs and never reads: ``close()`` would wait for ever for the
    output to drain, holding the maildrop lock; the autologout aborts the connection."""
    store.mailbox("jura").add(b"Subject: big\n\n" + (b"y" * 999 + b"\n") * 1000)

    async def scenario() -> bool:
        async with pop3_server(store, idle_timeout_s=0.2) as server:
            client = await LineClient.connect(server.port)
            client.writer.write(b"USER jura\r\nPASS heslo\r\n" + b"RETR 3\r\n" * 40)
            await settled(server)  # about 40 MB asked for, a few MB taken: the timer ends it
            held = store.mailbox("jura").held
            client.writer.transport.abort()
            return held

    assert run(scenario) is False
    assert store.mailbox("jura").deleted == []


async def login_and_delete_all(port: int) -> LineClient:
    client = await LineClient.connect(port)
    await client.line()
    for line in (b"USER jura", b"PASS heslo", b"DELE 1", b"DELE 2"):
        await client.command(line)
    return client


def test_dropped_connection_deletes_nothing(store: FakeStore) -> None:
    async def scenario() -> bytes:
        async with pop3_server(store) as server:
            await (await login_and_delete_all(server.port)).close()
            await settled(server)
            client = await login_and_delete_all(server.port)  # the lock was released
            reply = await client.command(b"RSET")
            await client.close()
            await settled(server)
            return reply

    assert run(scenario) == b"+OK\r\n"
    assert store.mailbox("jura").deleted == []


def test_server_close_ends_sessions_without_update(store: FakeStore) -> None:
    async def scenario() -> bytes:
        async with pop3_server(store) as server:
            client = await login_and_delete_all(server.port)
            await server.close()
            rest = await client.rest()
            await client.close()
            return rest

    assert run(scenario) == b""
    assert store.mailbox("jura").deleted == []


def test_storage_failures_answer_sys_temp_and_keep_serving(store: FakeStore) -> None:
    mailbox = store.mailbox("jura")
    mailbox.fail = {"read", "delete"}

    async def scenario() -> list[bytes]:
        async with pop3_server(store) as server:
            client = await LineClient.connect(server.port)
            await client.line()
            lines = (b"USER jura", b"PASS heslo", b"RETR 1", b"NOOP", b"DELE 1", b"QUIT")
            seen = [await client.command(line) for line in lines]
            await client.close()
            await settled(server)
            return seen

    seen = run(scenario)
    assert seen[2] == (
        b"-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information.\r\n"
    )
    assert seen[3:] == [
        b"+OK\r\n",
        b"+OK Marked to be deleted.\r\n",
        b"-ERR [SYS/TEMP] Some deleted messages not removed.\r\n",
    ]
    assert len(mailbox.messages()) == 2


def test_server_arguments_are_checked(store: FakeStore) -> None:
    with pytest.raises(ValueError, match=r"loopback only, not '0\.0\.0\.0'"):
        pop3_server(store, host="0.0.0.0")
    with pytest.raises(ValueError, match="needs an ssl_context"):
        pop3_server(store, implicit_tls=True)
    with pytest.raises(ValueError, match="Non-positive timeout -1"):
        pop3_server(store, idle_timeout_s=-1)
    with pytest.raises(RuntimeError, match="not started"):
        _ = pop3_server(store).port


def test_with_the_maildir_store_and_the_passdb(tmp_path: Path) -> None:
    """The real store and passdb: flock session lock, deletion on disk, \\Seen, ``Jura@domain``
    logging in to the maildrop ``jura``, and the passdb's own cleartext switch."""
    maildir = pytest.importorskip("mailsim.live.maildir")
    passdb = pytest.importorskip("mailsim.live.passdb")

    class MaildirStore:
        def mailbox(self, user: str) -> Any:
            return maildir.MaildirMailbox(tmp_path / user, hostname="lab")

        def users(self) -> Iterator[str]:
            return iter(sorted(p.name for p in tmp_path.iterdir()))

    def users(**settings: Any) -> Any:
        auth = passdb.AuthSettings(rounds=1, **settings)
        line = f"jura:{passdb.hash_password('heslo', 1)}"
        return passdb.PassDB.parse(line, domain="firma1.intr", settings=auth)

    store = MaildirStore()
    for data in (MESSAGE, OTHER):
        store.mailbox("jura").deliver(data)
    login = b"AUTH PLAIN " + base64.b64encode(b"\0Jura@firma1.intr\0heslo")

    async def scenario() -> list[bytes]:
        async with (
            POP3Server(store, users()) as server,
            POP3Server(store, users(allow_cleartext=False)) as strict,
        ):
            holder = await LineClient.connect(server.port)
            other = await LineClient.connect(server.port)
            refused = await LineClient.connect(strict.port)
            replies = [await holder.line(), await other.line(), await refused.line()]
            replies += [await holder.command(login), await other.command(login)]
            replies.append(await refused.command(login))
            replies += [await holder.command(b"DELE 1"), await holder.command(b"RETR 2")]
            await holder.until_dot()
            replies.append(await holder.command(b"QUIT"))
            for client in (holder, other, refused):
                await client.close()
            await settled(server)
            await settled(strict)
            return replies[3:]

    assert run(scenario) == [
        b"+OK Logged in.\r\n",
        IN_USE + b"\r\n",
        b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n",
        b"+OK Marked to be deleted.\r\n",
        b"+OK %d octets\r\n" % len(crlf(OTHER)),
        b"+OK Logging out, messages deleted.\r\n",
    ]
    left = store.mailbox("jura").messages()
    assert [(m.uid, m.flags) for m in left] == [(2, frozenset({"S"}))]


@pytest.mark.interop
def test_curl_fetches_over_plain_stls_and_pop3s(
    store: FakeStore, server_context: ssl.SSLContext, ca: trustme.CA, tmp_path: Path
) -> None:
    """curl as the client: SASL PLAIN with a "+ " continuation, STLS, POP3S."""
    curl = require_tool("curl")
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))

    async def fetch(*args: str) -> bytes:
        options = ["-sS", "--max-time", str(GUARD_S), "-u", "jura:heslo", "--cacert", str(cafile)]
        process = await asyncio.create_subprocess_exec(
            curl, *options, *args, stdout=asyncio.subprocess.PIPE
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), GUARD_S)
        except TimeoutError:
            process.kill()  # never leave the child (and its transport) behind
            await process.wait()
            raise
        assert process.returncode == 0
        return out

    async def scenario() -> list[bytes]:
        async with (
            pop3_server(store, ssl_context=server_context) as plain,
            pop3_server(store, ssl_context=server_context, implicit_tls=True) as pop3s,
        ):
            return [
                await fetch(f"pop3://127.0.0.1:{plain.port}/1"),
                await fetch("--ssl-reqd", f"pop3://127.0.0.1:{plain.port}/"),
                await fetch(f"pop3s://127.0.0.1:{pop3s.port}/2"),
            ]

    retr1, listing, retr2 = run(scenario)
    assert (retr1, retr2) == (crlf(MESSAGE), crlf(OTHER))
    assert listing == b"1 %d\r\n2 %d\r\n" % (len(crlf(MESSAGE)), len(crlf(OTHER)))
