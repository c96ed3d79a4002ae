"""In-memory stand-ins for the live mail store and passdb, and a telnet-like line client.

Enough of the :mod:`mailsim.live.mailstore` contract for the POP3 tests until the Maildir/mbox
stores and passdb land: a :class:`FakeMailbox` keeps messages in a dict, counts sizes with CRLF
line endings, refuses a second ``exclusive()`` holder with :class:`MailboxBusy`, records what was
deleted and can be told to fail. :class:`LineClient` talks to a server the way telnet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from mailsim.live.mailstore import MailboxBusy, StoredMessage


def crlf(data: bytes) -> bytes:
    """``data`` with every line ending CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class FakeMailbox:
    """One user's INBOX in memory (folders other than INBOX are not needed by POP3)."""

    def __init__(self, uidvalidity: int = 1138266105) -> None:
        self._uidvalidity = uidvalidity
        self._next_uid = 1
        self._messages: dict[str, StoredMessage] = {}
        self._data: dict[str, bytes] = {}
        self.held = False
        self.deleted: list[str] = []
        self.fail: set[str] = set()  # method names that raise OSError (storage failures)

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    def uidnext(self, folder: str = "") -> int:
        return self._next_uid

    def add(self, data: bytes, *, size: int | None = None) -> StoredMessage:
        """Deliver ``data``; ``size`` replaces the counted size (what the store's index says)."""
        stored = self.deliver(data)
        if size is not None:
            stored = self._messages[stored.key] = replace(stored, size=size)
        return stored

    def deliver(
        self, data: bytes, *, folder: str = "", flags: Iterable[str] = (), when: float | None = None
    ) -> StoredMessage:
        self._check("deliver")
        key = f"m{self._next_uid}"
        stored = StoredMessage(self._next_uid, key, len(crlf(data)), frozenset(flags), when or 0.0)
        self._next_uid += 1
        self._messages[key] = stored
        self._data[key] = data.replace(b"\r\n", b"\n")
        return stored

    def messages(self, folder: str = "") -> list[StoredMessage]:
        self._check("messages")
        return sorted(self._messages.values(), key=lambda m: m.uid)

    def read(self, key: str, folder: str = "") -> bytes:
        self._check("read")
        return crlf(self._data[key])

    def delete(self, keys: Iterable[str], folder: str = "") -> None:
        self._check("delete")
        for key in keys:
            del self._messages[key], self._data[key]
            self.deleted.append(key)

    def set_flags(self, key: str, flags: Iterable[str], folder: str = "") -> StoredMessage:
        self._check("set_flags")
        stored = replace(self._messages[key], flags=frozenset(flags))
        self._messages[key] = stored
        return stored

    def size(self) -> int:
        return sum(m.size for m in self._messages.values())

    def folders(self) -> list[str]:
        return [""]

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if self.held:
            raise MailboxBusy("INBOX")
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def _check(self, method: str) -> None:
        if method in self.fail:
            raise OSError(f"injected {method} failure")


class FakeStore:
    """All mailboxes of one host; ``mailbox(user)`` returns the same object every time."""

    def __init__(self) -> None:
        self.boxes: dict[str, FakeMailbox] = {}

    def mailbox(self, user: str) -> FakeMailbox:
        return self.boxes.setdefault(user, FakeMailbox())

    def users(self) -> Iterator[str]:
        return iter(sorted(self.boxes))


class FakePassDB:
    """``verify(user, password)`` against a dict, as the live passdb will answer it."""

    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords

    def verify(self, user: str, password: str) -> bool:
        return self.passwords.get(user) == password


#: The longest any test waits for the server; a guard, never a way to wait for something.
GUARD_S = 10.0


class LineClient:
    """A telnet-like client over asyncio streams: raw bytes out, CRLF lines in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext | None = None) -> LineClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), GUARD_S
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        """The next line with its CRLF (``b""`` at end of stream)."""
        return await asyncio.wait_for(self.reader.readline(), GUARD_S)

    async def command(self, line: bytes) -> bytes:
        await self.send(line + b"\r\n")
        return await self.line()

    async def until_dot(self) -> list[bytes]:
        """The lines of a multi-line response after its status line, up to the final dot."""
        lines = [await self.line()]
        while lines[-1] not in (b".\r\n", b""):
            lines.append(await self.line())
        return lines

    async def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), GUARD_S)

    async def starttls(self, context: ssl.SSLContext) -> None:
        await asyncio.wait_for(self.writer.start_tls(context, server_hostname="127.0.0.1"), GUARD_S)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await asyncio.wait_for(self.writer.wait_closed(), GUARD_S)
