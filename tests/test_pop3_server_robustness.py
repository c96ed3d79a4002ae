"""The live POP3 server with clients that misbehave: refused lines pipelined (the session goes
on), an overlong line stalled half-way while others are served, an idle session logged out,
and a client that stopped reading dropped with its maildrop lock released."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mailsim.live.pop3 import POP3Server

from pop3_fakes import FakeStore, LineClient
from pop3_server_kit import (
    jura_store,
    pop3_server,
    poplib_session,
    run,
    settled,
)


@pytest.fixture
def store() -> Iterator[FakeStore]:
    yield from jura_store()


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
