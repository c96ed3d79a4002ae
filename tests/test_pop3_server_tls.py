"""The live POP3 server and TLS, with a throwaway CA: STLS with poplib and CAPA before and after,
POP3S, the STLS injection discarded, the command sent with the TLS Finished answered (the STLS
hang), plaintext where TLS is expected, no password without TLS unless allowed, and curl."""

from __future__ import annotations

import asyncio
import poplib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from mailsim.live.pop3 import plaintext_permitted

from interop import require_tool
from pop3_fakes import GUARD_S, FakeStore, LineClient, crlf
from pop3_server_kit import (
    MESSAGE,
    OTHER,
    jura_store,
    pop3_server,
    poplib_session,
    run,
    settled,
)


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
    yield from jura_store()


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
