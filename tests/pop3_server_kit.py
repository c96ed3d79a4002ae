"""What the live POP3 server tests share: jura's maildrop, a server on it, a guarded event loop,
waiting for sessions to end, and a whole poplib session.

Every test runs its own event loop (``asyncio.run``); poplib, being blocking, runs in a thread.
Nothing sleeps: the tests wait for replies, for end of stream or for the server's sessions to
close, each under a guard timeout.
"""

from __future__ import annotations

import asyncio
import poplib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from mailsim.live.pop3 import POP3Server

from pop3_fakes import GUARD_S, FakePassDB, FakeStore

R = TypeVar("R")
MESSAGE = b"Subject: hello\n\nline one\n.starts with a dot\nline three\n"
OTHER = b"Subject: second\n\nbody\n"
IN_USE = b"-ERR [IN-USE] Mailbox is locked by another POP3 session."


def jura_store() -> Iterator[FakeStore]:
    """jura's maildrop with MESSAGE and OTHER (a fixture's body: checks no lock leaked)."""
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
