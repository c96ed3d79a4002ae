"""The live POP3 server's sessions with real clients (poplib, telnet-like lines): a whole session
and its UPDATE at QUIT, one session per maildrop (IN-USE), nothing deleted by a dropped
connection or a server shutdown, storage failures, the Maildir store and passdb."""

from __future__ import annotations

import asyncio
import base64
import poplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailsim.live.pop3 import POP3Server

from pop3_fakes import GUARD_S, FakeStore, LineClient, crlf
from pop3_server_kit import (
    IN_USE,
    MESSAGE,
    OTHER,
    jura_store,
    pop3_server,
    poplib_session,
    run,
    settled,
)


@pytest.fixture
def store() -> Iterator[FakeStore]:
    yield from jura_store()


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
    assert uidl == [b"1 0000000143d88ff9", b"2 0000000243d88ff9"]
    assert top == [b"Subject: hello", b""]
    assert retr == [b"Subject: hello", b"", b"line one", b".starts with a dot", b"line three"]
    assert (dele, quit_) == (b"+OK Marked to be deleted.", b"+OK Logging out, messages deleted.")
    assert store.mailbox("jura").deleted == ["m1"]


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
